"""Helpers that create and advance tqdm progress bars for the training loops."""

from typing import Any, Iterable, Optional, TextIO

from torchtnt.utils.progress import estimated_steps_in_epoch

__all__ = ["create_progress_bar", "update_progress_bar", "close_progress_bar"]


def create_progress_bar(
    dataloader: Iterable[object],
    *,
    desc: str,
    num_epochs_completed: int,
    num_steps_completed: int,
    max_steps: Optional[int],
    max_steps_per_epoch: Optional[int],
    mininterval: Optional[float] = None,
    file: Optional[TextIO] = None,
) -> Any:
    """Create a tqdm bar for one epoch, sized by the estimated number of steps.

    Args:
        dataloader: the epoch's data (its length sizes the bar when known).
        desc: label; the epoch number is appended.
        num_epochs_completed: epochs completed so far.
        num_steps_completed: steps already done (the bar starts there).
        max_steps: overall step limit, if any.
        max_steps_per_epoch: per-epoch step limit, if any.
        mininterval: minimum seconds between redraws (tqdm's default when None).
        file: stream to draw on (stderr when None).
    """
    from tqdm.auto import tqdm

    kwargs: dict = {}
    if mininterval is not None:
        kwargs["mininterval"] = mininterval
    return tqdm(
        desc=f"{desc} {num_epochs_completed}",
        total=estimated_steps_in_epoch(
            dataloader,
            num_steps_completed=num_steps_completed,
            max_steps=max_steps,
            max_steps_per_epoch=max_steps_per_epoch,
        ),
        initial=num_steps_completed,
        bar_format="{l_bar}{bar}{r_bar}\n",
        file=file,
        **kwargs,
    )


def update_progress_bar(progress_bar: Any, num_steps_completed: int, refresh_rate: int) -> None:
    """Advance the bar by ``refresh_rate`` every ``refresh_rate`` steps."""
    if num_steps_completed % refresh_rate == 0:
        progress_bar.update(refresh_rate)


def close_progress_bar(progress_bar: Any, num_steps_completed: int, refresh_rate: int) -> None:
    """Add the steps not yet shown and close the bar."""
    progress_bar.update(num_steps_completed % refresh_rate)
    progress_bar.close()
