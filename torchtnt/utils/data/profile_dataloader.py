"""Measure how long a dataloader takes to start and to produce each batch."""

from typing import TYPE_CHECKING, Iterable, Optional

import torch

from torchtnt.utils.device import copy_data_to_device
from torchtnt.utils.timer import Timer, TimerProtocol

if TYPE_CHECKING:
    from torch.profiler import profile

__all__ = ["profile_dataloader"]


def profile_dataloader(
    dataloader: Iterable[object],
    profiler: "profile",
    *,
    max_steps: Optional[int] = None,
    timer: Optional[TimerProtocol] = None,
    device: Optional[torch.device] = None,
) -> TimerProtocol:
    """Iterate over ``dataloader`` and time it, without running any model.

    Records ``"iter(dataloader)"`` once, then ``"next(iter)"`` for every batch and, when
    ``device`` is given, ``"copy_data_to_device"`` for moving it there. Useful to tell
    whether training is bound by data loading.

    Args:
        dataloader: the iterable to profile.
        profiler: a ``torch.profiler.profile`` that the caller has started; its
            ``step()`` is called after every batch. Pass None to skip it.
        max_steps: stop after this many batches (default: run until exhausted).
        timer: where to record durations (default: a new ``Timer(cuda_sync=False)``).
        device: also copy each batch to this device and time the copy.

    Returns:
        The timer holding the recorded durations.

    Raises:
        ValueError: if ``max_steps`` is negative.
    """
    if max_steps is not None and (
        isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0
    ):
        raise ValueError(f"max_steps={max_steps!r} is invalid: expected an int >= 0 or None")
    timer = timer if timer is not None else Timer(cuda_sync=False)
    with timer.time("iter(dataloader)"):
        data_iter = iter(dataloader)
    steps = 0
    while max_steps is None or steps < max_steps:
        try:
            # Timer drops timings that end in an exception, so exhaustion is not recorded.
            with timer.time("next(iter)"):
                batch = next(data_iter)
        except StopIteration:
            break
        if device is not None:
            with timer.time("copy_data_to_device"):
                copy_data_to_device(batch, device)
        steps += 1
        if profiler:
            profiler.step()
    return timer
