"""Progress counters of a loop, and estimates of how many steps a loop will run."""

import math
from typing import Any, Dict, Iterable, Optional

__all__ = [
    "Progress",
    "estimated_steps_in_epoch",
    "estimated_steps_in_loop",
    "estimated_steps_in_fit",
]


class Progress:
    """Counts the epochs and steps a loop has completed.

    Args:
        num_epochs_completed: epochs finished so far.
        num_steps_completed: steps finished so far, over all epochs.
        num_steps_completed_in_epoch: steps finished in the current epoch.
    """

    __slots__ = (
        "_num_epochs_completed",
        "_num_steps_completed",
        "_num_steps_completed_in_epoch",
        "_num_steps_completed_in_prev_epoch",
    )

    def __init__(
        self,
        num_epochs_completed: int = 0,
        num_steps_completed: int = 0,
        num_steps_completed_in_epoch: int = 0,
    ) -> None:
        self._num_epochs_completed = num_epochs_completed
        self._num_steps_completed = num_steps_completed
        self._num_steps_completed_in_epoch = num_steps_completed_in_epoch
        self._num_steps_completed_in_prev_epoch = 0

    @property
    def num_epochs_completed(self) -> int:
        """Number of epochs completed."""
        return self._num_epochs_completed

    @property
    def num_steps_completed(self) -> int:
        """Number of steps completed over all epochs."""
        return self._num_steps_completed

    @property
    def num_steps_completed_in_epoch(self) -> int:
        """Number of steps completed in the epoch now running (0 between epochs)."""
        return self._num_steps_completed_in_epoch

    @property
    def num_steps_completed_in_prev_epoch(self) -> int:
        """Number of steps the previous epoch completed (not saved in state_dict)."""
        return self._num_steps_completed_in_prev_epoch

    def increment_step(self) -> None:
        """Count one more completed step."""
        self._num_steps_completed += 1
        self._num_steps_completed_in_epoch += 1

    def increment_epoch(self) -> None:
        """Count one more completed epoch and reset the in-epoch step count."""
        self._num_epochs_completed += 1
        self._num_steps_completed_in_prev_epoch = self._num_steps_completed_in_epoch
        self._num_steps_completed_in_epoch = 0

    def state_dict(self) -> Dict[str, Any]:
        """Return the three persistent counters."""
        return {
            "num_epochs_completed": self._num_epochs_completed,
            "num_steps_completed": self._num_steps_completed,
            "num_steps_completed_in_epoch": self._num_steps_completed_in_epoch,
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore the counters from :meth:`state_dict` output.

        Raises:
            KeyError: if one of the three counters is missing.
        """
        self._num_epochs_completed = state_dict["num_epochs_completed"]
        self._num_steps_completed = state_dict["num_steps_completed"]
        self._num_steps_completed_in_epoch = state_dict["num_steps_completed_in_epoch"]

    def get_progress_string(self) -> str:
        """Return a one-line human-readable summary of the counters."""
        return (
            f"completed epochs: {self._num_epochs_completed}, "
            f"completed steps: {self._num_steps_completed}, "
            f"completed steps in current epoch: {self._num_steps_completed_in_epoch}."
        )

    def __repr__(self) -> str:
        return (
            f"Progress(num_epochs_completed={self._num_epochs_completed}, "
            f"num_steps_completed={self._num_steps_completed}, "
            f"num_steps_completed_in_epoch={self._num_steps_completed_in_epoch})"
        )


def estimated_steps_in_epoch(
    dataloader: Iterable[object],
    *,
    num_steps_completed: int,
    max_steps: Optional[int],
    max_steps_per_epoch: Optional[int],
) -> float:
    """Estimate how many steps the next epoch runs; ``inf`` when it cannot be known.

    Args:
        dataloader: the epoch's data; its ``len()`` is used when it has one.
        num_steps_completed: steps completed so far (counts against ``max_steps``).
        max_steps: overall step limit, if any.
        max_steps_per_epoch: per-epoch step limit, if any.
    """
    total: float = math.inf
    try:
        total = len(dataloader)  # type: ignore[arg-type]
    except Exception:  # a loader whose len() fails counts as unsized
        pass
    if max_steps_per_epoch:
        total = min(total, max_steps_per_epoch)
    if max_steps:
        total = min(total, max_steps - num_steps_completed)
    return total


def estimated_steps_in_loop(
    dataloader: Iterable[object],
    *,
    max_steps: Optional[int],
    max_steps_per_epoch: Optional[int],
    epochs: Optional[int],
) -> Optional[int]:
    """Estimate the total steps of a loop over ``epochs`` epochs; None when unknown.

    Args:
        dataloader: the data iterated each epoch.
        max_steps: overall step limit, if any.
        max_steps_per_epoch: per-epoch step limit, if any.
        epochs: number of epochs, if limited.
    """
    if max_steps is None and epochs is None:
        return None
    if epochs is None:
        return max_steps
    per_epoch = estimated_steps_in_epoch(
        dataloader,
        num_steps_completed=0,
        max_steps=max_steps,
        max_steps_per_epoch=max_steps_per_epoch,
    )
    if per_epoch == math.inf:
        return max_steps
    total = int(per_epoch) * epochs
    return min(total, max_steps) if max_steps is not None else total


def estimated_steps_in_fit(
    *,
    train_dataloader: Iterable[object],
    eval_dataloader: Iterable[object],
    epochs: Optional[int],
    max_steps: Optional[int],
    max_train_steps_per_epoch: Optional[int],
    max_eval_steps_per_epoch: Optional[int],
    eval_every_n_steps: Optional[int],
    eval_every_n_epochs: Optional[int],
) -> Optional[int]:
    """Estimate train steps plus eval steps of a ``fit()`` call; None when unknown."""
    train_steps = estimated_steps_in_loop(
        train_dataloader,
        max_steps=max_steps,
        max_steps_per_epoch=max_train_steps_per_epoch,
        epochs=epochs,
    )
    if train_steps is None:
        return None
    eval_runs = 0
    if eval_every_n_epochs and epochs is not None:
        eval_runs += epochs // eval_every_n_epochs
    if eval_every_n_steps:
        eval_runs += train_steps // eval_every_n_steps
    if eval_runs == 0:
        return train_steps
    # Through estimated_steps_in_loop (one epoch per run), the name tests patch.
    eval_steps = estimated_steps_in_loop(
        eval_dataloader, max_steps=None, max_steps_per_epoch=max_eval_steps_per_epoch, epochs=1
    )
    if eval_steps is None:
        return None
    return train_steps + eval_runs * eval_steps
