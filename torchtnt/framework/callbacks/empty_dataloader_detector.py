"""Fail fast when training keeps running epochs that see no data."""

import logging

from torchtnt.framework.callback import Callback
from torchtnt.framework.state import State
from torchtnt.framework.unit import TTrainUnit

__all__ = ["EmptyDataloaderDetectorCallback"]

logger: logging.Logger = logging.getLogger(__name__)


class EmptyDataloaderDetectorCallback(Callback):
    """Warn on every train epoch without a step; raise after ``threshold`` in a row.

    An empty epoch usually means an exhausted iterator reused across epochs, a sampler
    with nothing left for this rank, or a filter that dropped everything; training would
    otherwise silently spin through its epochs doing nothing. An epoch with at least one
    step resets the count.

    Args:
        threshold: number of consecutive empty train epochs that raise.

    Raises:
        ValueError: if ``threshold`` is not a positive integer.
    """

    def __init__(self, threshold: int = 2) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0:
            raise ValueError("threshold must be a positive integer")
        self._threshold = threshold
        self._consecutive_empty_epochs = 0

    def on_train_epoch_end(self, state: State, unit: TTrainUnit) -> None:
        """Count the epoch if it had no step; warn, and raise at the threshold.

        Raises:
            RuntimeError: once ``threshold`` consecutive train epochs had no step.
        """
        progress = unit.train_progress
        if progress.num_steps_completed_in_prev_epoch > 0:
            self._consecutive_empty_epochs = 0
            return
        self._consecutive_empty_epochs += 1
        count = self._consecutive_empty_epochs
        logger.warning(
            "Train epoch %d completed without a single step (%d empty epoch(s) in a row, "
            "the limit is %d): is the train dataloader empty or exhausted?",
            progress.num_epochs_completed,
            count,
            self._threshold,
        )
        if count >= self._threshold:
            raise RuntimeError(
                f"Detected {count} consecutive empty train epochs, which reaches the "
                f"threshold of {self._threshold}. Check that the train dataloader yields "
                "batches on every epoch (and on every rank), e.g. that it is not a one-shot "
                "iterator reused across epochs."
            )
