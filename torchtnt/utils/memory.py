"""Measure memory: bytes held by the tensors inside an object, and process RSS over time."""

import threading
import types
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from enum import Enum
from typing import Any, Deque, Dict, Generator, List, Set

import torch

__all__ = ["RSSProfiler", "get_tensor_size_bytes_map", "measure_rss_deltas"]

_DEFAULT_MEASURE_INTERVAL = timedelta(milliseconds=100)


# Objects with a __dict__ that are never containers of user data; entering a module object
# or a function would wander through whole libraries.
_OPAQUE_TYPES = (Enum, type, types.ModuleType, types.FunctionType, types.MethodType)


def _children(obj: Any) -> List[Any]:
    """The objects to look inside next; namedtuples are covered as sequences."""
    if isinstance(obj, Mapping):
        return list(obj.values())
    if isinstance(obj, (Sequence, set, frozenset)) and not isinstance(obj, (str, bytes, bytearray)):
        return list(obj)
    if hasattr(obj, "__dict__") and not isinstance(obj, _OPAQUE_TYPES):
        return list(vars(obj).values())
    return []


def get_tensor_size_bytes_map(obj: Any) -> Dict[torch.Tensor, int]:
    """Find every tensor reachable from ``obj`` and report its size in bytes.

    The search is breadth-first through mapping values, sequences (except strings and
    bytes), sets, namedtuples and the ``__dict__`` of other objects (Enum members, classes,
    Python modules and functions are not entered); each object is visited once, so cycles
    are fine. Tensors are leaves.

    Args:
        obj: a tensor, container, module, state dict or any object holding tensors.

    Returns:
        ``{tensor: tensor.numel() * tensor.element_size()}`` for every distinct tensor found.
    """
    sizes: Dict[torch.Tensor, int] = {}
    seen: Set[int] = set()
    queue: Deque[Any] = deque([obj])
    while queue:
        item = queue.popleft()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, torch.Tensor):
            sizes[item] = item.numel() * item.element_size()
        else:
            queue.extend(_children(item))
    return sizes


def _check_interval(interval: Any) -> timedelta:
    if not isinstance(interval, timedelta) or interval <= timedelta(0):
        raise ValueError(
            f"interval={interval!r} is invalid: expected a positive datetime.timedelta"
        )
    return interval


def _current_rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


@contextmanager
def measure_rss_deltas(
    rss_deltas: List[int], interval: timedelta = _DEFAULT_MEASURE_INTERVAL
) -> Generator[None, None, None]:
    """Sample this process's resident set size while the block runs.

    A background thread appends ``rss - rss_at_entry`` (in bytes) to ``rss_deltas`` every
    ``interval``; one final sample is appended when the block exits, so the list always
    gains at least one value.

    Args:
        rss_deltas: list receiving the samples.
        interval: time between samples.

    Raises:
        ValueError: if ``interval`` is not a positive ``timedelta``.
    """
    period_s = _check_interval(interval).total_seconds()
    baseline = _current_rss()
    stop = threading.Event()

    def sample_until_stopped() -> None:
        while not stop.wait(period_s):
            rss_deltas.append(_current_rss() - baseline)

    sampler = threading.Thread(target=sample_until_stopped, name="rss_sampler", daemon=True)
    sampler.start()
    try:
        yield
    finally:
        stop.set()
        sampler.join()
        rss_deltas.append(_current_rss() - baseline)


class RSSProfiler:
    """Record RSS deltas of named code regions.

    Args:
        interval: time between samples while a region runs.

    Raises:
        ValueError: if ``interval`` is not a positive ``timedelta``.

    Example::

        profiler = RSSProfiler()
        with profiler.profile("load_checkpoint"):
            ...
        peak = max(profiler.rss_deltas_bytes["load_checkpoint"])
    """

    def __init__(self, interval: timedelta = _DEFAULT_MEASURE_INTERVAL) -> None:
        self.interval: timedelta = _check_interval(interval)
        self.rss_deltas_bytes: Dict[str, List[int]] = defaultdict(list)

    @contextmanager
    def profile(self, name: str) -> Generator[None, None, None]:
        """Sample RSS deltas while the block runs, appending them to ``rss_deltas_bytes[name]``.

        Args:
            name: label of the region; repeated regions share one list.
        """
        with measure_rss_deltas(self.rss_deltas_bytes[name], self.interval):
            yield

    def reset(self) -> None:
        """Forget all recorded samples."""
        self.rss_deltas_bytes = defaultdict(list)
