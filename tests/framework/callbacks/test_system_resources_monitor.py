import csv

import pytest
import torch

from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.system_resources_monitor import SystemResourcesMonitor
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.predict import predict
from torchtnt.framework.train import train
from torchtnt.utils.loggers.csv import CSVLogger
from torchtnt.utils.loggers.in_memory import InMemoryLogger
from torchtnt.utils.test_utils import skip_if_not_gpu

CPU_KEYS = {
    "cpu_vm_percent",
    "cpu_percent",
    "cpu_swap_percent",
    "worker_cpu_time_user",
    "worker_cpu_time_system",
    "worker_rss",
}


def _dataloader(num_batches: int):
    torch.manual_seed(0)
    return generate_random_dataloader(num_batches * 2, 2, 2)


def _check_row(row: dict) -> None:
    assert CPU_KEYS <= set(row)
    assert row["worker_rss"] > 0
    assert 0 <= row["cpu_vm_percent"] <= 100


def test_epoch_interval_logs_at_each_epoch_start() -> None:
    logger = InMemoryLogger()
    train(
        DummyTrainUnit(2),
        _dataloader(3),
        max_epochs=2,
        callbacks=[SystemResourcesMonitor(logger)],
    )
    assert list(logger.log_buffer) == [0, 3]
    for row in logger.log_buffer.values():
        _check_row(row)


def test_step_interval_logs_before_every_step() -> None:
    logger = InMemoryLogger()
    train(
        DummyTrainUnit(2),
        _dataloader(3),
        max_epochs=2,
        callbacks=[SystemResourcesMonitor(logger, logging_interval="step")],
    )
    assert list(logger.log_buffer) == [0, 1, 2, 3, 4, 5]


def test_evaluate_and_predict() -> None:
    eval_logger, predict_logger = InMemoryLogger(), InMemoryLogger()
    evaluate(
        DummyEvalUnit(2),
        _dataloader(2),
        callbacks=[SystemResourcesMonitor(eval_logger, logging_interval="step")],
    )
    predict(
        DummyPredictUnit(2),
        _dataloader(2),
        callbacks=[SystemResourcesMonitor([predict_logger])],
    )
    assert list(eval_logger.log_buffer) == [0, 1]
    assert list(predict_logger.log_buffer) == [0]
    _check_row(predict_logger.log_buffer[0])


def test_csv_file_parsed(tmp_path) -> None:
    path = str(tmp_path / "system.csv")
    csv_logger = CSVLogger(path)
    train(
        DummyTrainUnit(2),
        _dataloader(2),
        max_epochs=2,
        callbacks=[SystemResourcesMonitor(csv_logger)],
    )
    csv_logger.close()
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["step"]) for row in rows] == [0, 2]
    for row in rows:
        assert CPU_KEYS <= set(row)
        assert float(row["worker_rss"]) > 0


def test_write_system_stats_ignores_other_interval() -> None:
    logger = InMemoryLogger()
    monitor = SystemResourcesMonitor(logger, logging_interval="epoch")
    monitor.write_system_stats("step", 7)
    assert not logger.log_buffer
    monitor.write_system_stats("epoch", 7)
    assert list(logger.log_buffer) == [7]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="logging_interval='hourly' is invalid"):
        SystemResourcesMonitor(InMemoryLogger(), logging_interval="hourly")
    with pytest.raises(TypeError, match="loggers=42 is invalid"):
        SystemResourcesMonitor(42)


@pytest.mark.gpu
@skip_if_not_gpu
def test_cuda_memory_stats_are_logged() -> None:
    logger = InMemoryLogger()
    monitor = SystemResourcesMonitor(logger)
    torch.ones(1024, device="cuda")
    monitor.write_system_stats("epoch", 0)
    row = logger.log_buffer[0]
    _check_row(row)
    assert row["allocated_bytes.all.current"] > 0
