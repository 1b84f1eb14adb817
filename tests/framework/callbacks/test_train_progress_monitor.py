import csv

import pytest
import torch

from torchtnt.framework._test_utils import DummyTrainUnit, generate_random_dataloader
from torchtnt.framework.callbacks.train_progress_monitor import TrainProgressMonitor
from torchtnt.framework.train import train
from torchtnt.utils.loggers.csv import CSVLogger
from torchtnt.utils.loggers.in_memory import InMemoryLogger

NAME = "Training steps completed vs epochs"


def _dataloader(num_batches: int):
    torch.manual_seed(0)
    return generate_random_dataloader(num_batches * 2, 2, 2)


def test_steps_logged_against_epochs() -> None:
    logger = InMemoryLogger()
    train(DummyTrainUnit(2), _dataloader(2), max_epochs=3, callbacks=[TrainProgressMonitor(logger)])
    assert {epoch: row[NAME] for epoch, row in logger.log_buffer.items()} == {
        0: 0.0,
        1: 2.0,
        2: 4.0,
        3: 6.0,
    }


def test_uneven_epochs_with_max_steps_to_csv(tmp_path) -> None:
    path = str(tmp_path / "progress.csv")
    csv_logger = CSVLogger(path)
    train(
        DummyTrainUnit(2),
        _dataloader(3),
        max_epochs=3,
        max_steps=7,
        callbacks=[TrainProgressMonitor([csv_logger])],
    )
    csv_logger.close()
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["step"]), float(r[NAME])) for r in rows] == [
        (0, 0.0),
        (1, 3.0),
        (2, 6.0),
        (3, 7.0),
    ]


def test_resumed_run_starts_from_its_progress() -> None:
    logger = InMemoryLogger()
    unit = DummyTrainUnit(2)
    train(unit, _dataloader(2), max_epochs=1)
    train(unit, _dataloader(2), max_epochs=2, callbacks=[TrainProgressMonitor(logger)])
    assert {epoch: row[NAME] for epoch, row in logger.log_buffer.items()} == {1: 2.0, 2: 4.0}


def test_empty_list_logs_nothing() -> None:
    train(DummyTrainUnit(2), _dataloader(1), max_epochs=1, callbacks=[TrainProgressMonitor([])])


def test_loggers_must_be_metric_loggers() -> None:
    with pytest.raises(TypeError, match=r"loggers\[0\]=<object .*> is invalid"):
        TrainProgressMonitor([object()])
