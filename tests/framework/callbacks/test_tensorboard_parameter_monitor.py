import os

import pytest
import torch

from torchtnt.framework._test_utils import DummyTrainUnit, generate_random_dataloader
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.callbacks.tensorboard_parameter_monitor import (
    TensorBoardParameterMonitor,
)
from torchtnt.framework.train import train
from torchtnt.utils.loggers.in_memory import InMemoryLogger
from torchtnt.utils.loggers.tensorboard import TensorBoardLogger


def _dataloader(num_batches: int):
    torch.manual_seed(0)
    return generate_random_dataloader(num_batches * 2, 2, 2)


def _histograms(log_dir: str):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(log_dir, size_guidance={"histograms": 0})
    events.Reload()
    return events


def test_histograms_of_every_parameter_after_each_epoch(tmp_path) -> None:
    logger = TensorBoardLogger(str(tmp_path))
    unit = DummyTrainUnit(2)
    snapshots = []

    def snapshot(state, unit) -> None:
        snapshots.append({n: p.detach().clone() for n, p in unit.module.named_parameters()})

    train(
        unit,
        _dataloader(3),
        max_epochs=2,
        callbacks=[TensorBoardParameterMonitor(logger), Lambda(on_train_epoch_end=snapshot)],
    )
    logger.close()
    events = _histograms(str(tmp_path))
    assert sorted(events.Tags()["histograms"]) == [
        "Parameters/module/bias",
        "Parameters/module/weight",
    ]
    for name in ("weight", "bias"):
        histograms = events.Histograms(f"Parameters/module/{name}")
        assert [h.step for h in histograms] == [3, 6]
        for histogram, params in zip(histograms, snapshots):
            value, param = histogram.histogram_value, params[name].double()
            assert value.num == param.numel()
            assert value.min == pytest.approx(param.min().item())
            assert value.max == pytest.approx(param.max().item())
            assert value.sum == pytest.approx(param.sum().item(), abs=1e-6)


def test_summary_writer_is_accepted(tmp_path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path))
    train(
        DummyTrainUnit(2),
        _dataloader(2),
        max_epochs=1,
        callbacks=[TensorBoardParameterMonitor(writer)],
    )
    writer.close()
    histograms = _histograms(str(tmp_path)).Histograms("Parameters/module/weight")
    assert [h.step for h in histograms] == [2]


def test_nothing_written_off_rank_zero(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "1")
    logger = TensorBoardLogger(str(tmp_path / "tb"))
    assert logger.writer is None
    train(
        DummyTrainUnit(2),
        _dataloader(2),
        max_epochs=1,
        callbacks=[TensorBoardParameterMonitor(logger)],
    )
    assert not os.path.exists(tmp_path / "tb")


def test_logger_must_be_tensorboard() -> None:
    with pytest.raises(
        TypeError, match="logger=.* is invalid: expected a torchtnt TensorBoardLogger"
    ):
        TensorBoardParameterMonitor(InMemoryLogger())


def test_a_writer_like_object_is_accepted() -> None:
    from unittest.mock import MagicMock

    writer = MagicMock()
    unit = DummyTrainUnit(2)
    train(
        unit,
        generate_random_dataloader(4, 2, 2),
        max_epochs=1,
        callbacks=[TensorBoardParameterMonitor(writer)],
    )
    tags = sorted(c.args[0] for c in writer.add_histogram.call_args_list)
    assert tags == ["Parameters/module/bias", "Parameters/module/weight"]
    assert {c.kwargs["global_step"] for c in writer.add_histogram.call_args_list} == {2}
