"""Helpers shared by the framework's loops and units."""

import contextlib
from typing import Generator, Tuple

from torch.profiler import record_function

from torchtnt.framework.state import State

__all__ = ["get_timing_context"]


@contextlib.contextmanager
def get_timing_context(
    state: State, event_name: str
) -> Generator[Tuple[object, object], None, None]:
    """Time a block with the run's timer (if any) and label it for the PyTorch profiler.

    Args:
        state: the run state; its ``timer`` records the block when set.
        event_name: the name of the timed region.

    Yields:
        ``(timer_context, profiler_context)``.
    """
    timer = state.timer
    timer_context = timer.time(event_name) if timer is not None else contextlib.nullcontext()
    profiler_context = record_function(event_name)
    with timer_context, profiler_context:
        yield (timer_context, profiler_context)
