from typing import Dict, List, Tuple

import pytest
import torch
from torch import nn

from torchtnt.framework._test_utils import (
    Batch,
    DummyMultiOptimUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.learning_rate_monitor import LearningRateMonitor
from torchtnt.framework.state import State
from torchtnt.framework.train import train
from torchtnt.framework.unit import TrainUnit
from torchtnt.utils.loggers.in_memory import InMemoryLogger


class RecordingLogger:
    """A MetricLogger that keeps every ``log_dict`` call, in order."""

    def __init__(self) -> None:
        self.calls: List[Tuple[Dict[str, float], int]] = []

    def log(self, name: str, data: float, step: int) -> None:
        self.calls.append(({name: data}, step))

    def log_dict(self, payload: Dict[str, float], step: int) -> None:
        self.calls.append((dict(payload), step))

    def close(self) -> None:
        pass


class HalvingUnit(TrainUnit[Batch]):
    """SGD(lr=1.0) on two named param groups; ExponentialLR halves both every step."""

    def __init__(self) -> None:
        super().__init__()
        self.module = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
        self.optimizer = torch.optim.SGD(
            [
                {"params": self.module[0].parameters(), "name": "backbone"},
                {"params": self.module[1].parameters(), "name": "head", "lr": 2.0},
            ],
            lr=1.0,
        )
        self.lr_scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=0.5)

    def train_step(self, state: State, data: Batch) -> None:
        inputs, targets = data
        loss = nn.functional.cross_entropy(self.module(inputs), targets)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.lr_scheduler.step()


def _dataloader(num_batches: int):
    torch.manual_seed(0)
    return generate_random_dataloader(num_batches * 2, 2, 2)


def test_epoch_interval_logs_once_per_epoch_at_step_count() -> None:
    logger = InMemoryLogger()
    train(
        DummyTrainUnit(2),
        _dataloader(3),
        max_epochs=2,
        callbacks=[LearningRateMonitor(logger)],
    )
    assert list(logger.log_buffer) == [0, 3]
    for step, row in logger.log_buffer.items():
        assert {k: v for k, v in row.items() if k != "time"} == {
            "optimizers/optimizer/pg:0": 0.01,
            "step": step,
        }


def test_step_interval_follows_the_scheduler_with_named_groups() -> None:
    logger = RecordingLogger()
    train(
        HalvingUnit(),
        _dataloader(3),
        max_epochs=1,
        callbacks=[LearningRateMonitor(logger, logging_interval="step")],
    )
    expected = []
    for step in range(3):
        lr = 0.5**step
        expected.append(
            (
                {
                    "optimizers/optimizer/backbone:0": lr,
                    "optimizers/optimizer/head:0": 2 * lr,
                    "lr_schedulers/lr_scheduler/backbone:0": lr,
                    "lr_schedulers/lr_scheduler/head:0": 2 * lr,
                },
                step,
            )
        )
    assert logger.calls == expected


def test_every_tracked_optimizer_is_logged() -> None:
    logger = RecordingLogger()
    unit = DummyMultiOptimUnit(2)
    train(unit, _dataloader(1), max_epochs=1, callbacks=[LearningRateMonitor(logger)])
    names = [cls.__name__ for cls in unit.optims]
    assert logger.calls == [({f"optimizers/optimizer_{n}/pg:0": 0.1 for n in names}, 0)]


def test_duplicate_group_names_are_numbered() -> None:
    class TwoGroups(DummyTrainUnit):
        def __init__(self) -> None:
            super().__init__(2)
            self.optimizer = torch.optim.SGD(
                [{"params": [self.module.weight]}, {"params": [self.module.bias], "lr": 0.5}],
                lr=0.25,
            )

    logger = RecordingLogger()
    train(TwoGroups(), _dataloader(1), max_epochs=1, callbacks=[LearningRateMonitor(logger)])
    assert logger.calls == [
        ({"optimizers/optimizer/pg:0": 0.25, "optimizers/optimizer/pg:1": 0.5}, 0)
    ]


def test_several_loggers_and_empty_list() -> None:
    first, second = RecordingLogger(), RecordingLogger()
    train(
        DummyTrainUnit(2),
        _dataloader(2),
        max_epochs=1,
        callbacks=[LearningRateMonitor([first, second]), LearningRateMonitor([])],
    )
    assert first.calls == second.calls == [({"optimizers/optimizer/pg:0": 0.01}, 0)]


def test_tensorboard_events_read_back(tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    from torchtnt.utils.loggers.tensorboard import TensorBoardLogger

    tb_logger = TensorBoardLogger(str(tmp_path))
    train(
        HalvingUnit(),
        _dataloader(3),
        max_epochs=1,
        callbacks=[LearningRateMonitor(tb_logger, logging_interval="step")],
    )
    tb_logger.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    events.Reload()
    assert sorted(events.Tags()["tensors"]) == [
        "lr_schedulers/lr_scheduler/backbone:0",
        "lr_schedulers/lr_scheduler/head:0",
        "optimizers/optimizer/backbone:0",
        "optimizers/optimizer/head:0",
    ]
    head = events.Tensors("optimizers/optimizer/head:0")
    assert [e.step for e in head] == [0, 1, 2]
    assert [float(make_ndarray(e.tensor_proto)) for e in head] == [2.0, 1.0, 0.5]


def test_invalid_interval() -> None:
    with pytest.raises(ValueError, match="logging_interval='batch' is invalid"):
        LearningRateMonitor(InMemoryLogger(), logging_interval="batch")


def test_loggers_must_be_metric_loggers() -> None:
    with pytest.raises(TypeError, match=r"loggers\[1\]='oops' is invalid"):
        LearningRateMonitor([InMemoryLogger(), "oops"])
    with pytest.raises(TypeError, match="loggers=None is invalid"):
        LearningRateMonitor(None)


def test_loggers_need_the_log_dict_it_calls() -> None:
    from types import SimpleNamespace

    with pytest.raises(TypeError, match=r"loggers=.* is invalid: .*log_dict\(payload, step\)"):
        LearningRateMonitor(SimpleNamespace(log=print))
