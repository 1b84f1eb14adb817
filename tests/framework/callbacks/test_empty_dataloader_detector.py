import logging
from typing import Iterator, List

import pytest
import torch

from torchtnt.framework._test_utils import Batch, DummyTrainUnit
from torchtnt.framework.callbacks.empty_dataloader_detector import (
    EmptyDataloaderDetectorCallback,
)
from torchtnt.framework.train import train

LOGGER_NAME = "torchtnt.framework.callbacks.empty_dataloader_detector"


class ScriptedEpochs:
    """Yields ``batches_per_epoch[i]`` batches on its i-th iteration."""

    def __init__(self, batches_per_epoch: List[int]) -> None:
        self.batches_per_epoch = batches_per_epoch
        self.epoch = 0

    def __iter__(self) -> Iterator[Batch]:
        count = self.batches_per_epoch[self.epoch]
        self.epoch += 1
        for _ in range(count):
            yield torch.randn(2, 2), torch.tensor([0, 1])


def _warnings(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]


def test_raises_after_threshold_consecutive_empty_epochs(caplog: pytest.LogCaptureFixture) -> None:
    unit = DummyTrainUnit(2)
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    with pytest.raises(RuntimeError, match="^Detected 3 consecutive empty train epochs"):
        train(unit, [], max_epochs=10, callbacks=[EmptyDataloaderDetectorCallback(threshold=3)])
    assert unit.train_progress.num_epochs_completed == 3
    messages = _warnings(caplog)
    assert len(messages) == 3
    assert messages[0].startswith("Train epoch 1 completed without a single step (1 empty")
    assert messages[2].startswith("Train epoch 3 completed without a single step (3 empty")


def test_non_empty_epoch_resets_the_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    data = ScriptedEpochs([0, 2, 0, 1, 0, 0, 3])
    unit = DummyTrainUnit(2)
    with pytest.raises(RuntimeError, match="^Detected 2 consecutive empty train epochs"):
        train(unit, data, max_epochs=7, callbacks=[EmptyDataloaderDetectorCallback()])
    # Epochs 1, 3, 5 and 6 were empty; only 5 and 6 were in a row.
    assert unit.train_progress.num_epochs_completed == 6
    assert [m.split(" completed")[0] for m in _warnings(caplog)] == [
        "Train epoch 1",
        "Train epoch 3",
        "Train epoch 5",
        "Train epoch 6",
    ]


def test_scattered_empty_epochs_below_threshold_only_warn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    unit = DummyTrainUnit(2)
    data = ScriptedEpochs([0, 2, 0, 1])
    train(unit, data, max_epochs=4, callbacks=[EmptyDataloaderDetectorCallback(threshold=2)])
    assert unit.train_progress.num_epochs_completed == 4
    assert unit.train_progress.num_steps_completed == 3
    assert len(_warnings(caplog)) == 2


@pytest.mark.parametrize("threshold", [0, -2])
def test_threshold_must_be_positive(threshold: int) -> None:
    with pytest.raises(ValueError, match="^threshold must be a positive integer$"):
        EmptyDataloaderDetectorCallback(threshold=threshold)
