"""Timers that record how long named actions take, and reports built from them."""

import collections.abc
import logging
import numbers
import os
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import total_ordering
from time import perf_counter
from typing import Any, Dict, Generator, List, Optional, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from torchtnt.utils._errors import AssertedValueError

__all__ = [
    "AggregatedTimer",
    "BoundedTimer",
    "FullSyncPeriodicTimer",
    "TimedActionStats",
    "Timer",
    "TimerProtocol",
    "TimerReport",
    "get_durations_histogram",
    "get_recorded_durations_table",
    "get_synced_durations_histogram",
    "get_synced_timer_histogram",
    "get_timer_summary",
    "log_elapsed_time",
]

logger: logging.Logger = logging.getLogger(__name__)


def _resolve_cuda_sync(cuda_sync: Optional[bool]) -> bool:
    if cuda_sync and not torch.cuda.is_available():
        raise ValueError(
            f"cuda_sync={cuda_sync} is invalid: CUDA is not available on this machine; "
            "pass cuda_sync=False or None"
        )
    return bool(cuda_sync)


@contextmanager
def log_elapsed_time(
    action_name: str, *, cuda_sync: Optional[bool] = None
) -> Generator[None, None, None]:
    """Log (INFO) how long the enclosed block took.

    Args:
        action_name: what the block does; appears in the log line.
        cuda_sync: synchronize CUDA before reading the clock, so queued kernels count.

    Raises:
        ValueError: if ``cuda_sync`` is True and CUDA is not available.
    """
    sync = _resolve_cuda_sync(cuda_sync)
    if sync:
        torch.cuda.synchronize()
    start = perf_counter()
    yield
    if sync:
        torch.cuda.synchronize()
    logger.info(f"{action_name} took {perf_counter() - start} seconds")


@total_ordering
@dataclass
class TimedActionStats:
    """Summary of one timed action; instances order by their share of the total time."""

    action_name: str
    mean_duration: float = 0.0
    num_calls: int = 0
    total_duration: float = 0.0
    percentage_of_total_time: float = 0.0

    def __lt__(self, other: "TimedActionStats") -> bool:
        return self.percentage_of_total_time < other.percentage_of_total_time


@dataclass
class TimerReport:
    """Per-action statistics of a timer plus totals over all actions."""

    timed_action_stats: List[TimedActionStats]
    total_calls: int
    total_duration: float


@runtime_checkable
class TimerProtocol(Protocol):
    """What the loops and reports need from a timer."""

    recorded_durations: Dict[str, List[float]]

    def time(self, action_name: str) -> Any: ...

    def reset(self) -> None: ...

    def _make_report(self) -> TimerReport: ...


def _report_from_totals(totals: Dict[str, "tuple[int, float]"]) -> TimerReport:
    grand_total = sum(total for _, total in totals.values())
    total_calls = sum(calls for calls, _ in totals.values())
    stats = [
        TimedActionStats(
            action_name=name,
            mean_duration=total / calls if calls else 0.0,
            num_calls=calls,
            total_duration=total,
            percentage_of_total_time=100.0 * total / grand_total if grand_total else 0.0,
        )
        for name, (calls, total) in totals.items()
    ]
    stats.sort(reverse=True)
    return TimerReport(
        timed_action_stats=stats, total_calls=total_calls, total_duration=grand_total
    )


class Timer:
    """Records the duration of every named block timed with :meth:`time`.

    Args:
        cuda_sync: synchronize CUDA around each block so GPU work is included.
        verbose: log each duration at INFO level.

    Raises:
        ValueError: if ``cuda_sync`` is True and CUDA is not available.
    """

    def __init__(self, *, cuda_sync: Optional[bool] = None, verbose: bool = False) -> None:
        self._cuda_sync = _resolve_cuda_sync(cuda_sync)
        self.verbose = verbose
        self.recorded_durations: Dict[str, List[float]] = defaultdict(list)

    @contextmanager
    def time(self, action_name: str) -> Generator[None, None, None]:
        """Time the enclosed block under ``action_name``; a block that raises is not recorded."""
        if self._cuda_sync:
            torch.cuda.synchronize()
        start = perf_counter()
        yield
        if self._cuda_sync:
            torch.cuda.synchronize()
        self._record(action_name, perf_counter() - start)

    def _record(self, action_name: str, duration: float) -> None:
        self.recorded_durations[action_name].append(duration)
        if self.verbose:
            logger.info(f"{action_name} took {duration} seconds.")

    def reset(self) -> None:
        """Forget every recorded duration."""
        self.recorded_durations = defaultdict(list)

    def _make_report(self) -> TimerReport:
        return _report_from_totals(
            {name: (len(d), sum(d)) for name, d in self.recorded_durations.items()}
        )


class AggregatedTimer(Timer):
    """A timer that keeps only running totals per action, so memory stays constant."""

    def __init__(self, cuda_sync: Optional[bool] = None, verbose: bool = False) -> None:
        super().__init__(cuda_sync=cuda_sync, verbose=verbose)
        self._aggregate_stats: Dict[str, List[float]] = defaultdict(lambda: [0, 0.0])

    def _record(self, action_name: str, duration: float) -> None:
        super()._record(action_name, duration)
        stats = self._aggregate_stats[action_name]
        stats[0] += 1
        stats[1] += duration
        self.recorded_durations.clear()

    def reset(self) -> None:
        """Forget every recorded duration and total."""
        super().reset()
        self._aggregate_stats.clear()

    def _make_report(self) -> TimerReport:
        return _report_from_totals(
            {name: (int(c), t) for name, (c, t) in self._aggregate_stats.items()}
        )


class BoundedTimer(Timer):
    """A timer whose per-action history is trimmed to the latest ``lower_bound`` samples
    whenever it reaches ``upper_bound`` samples.

    Args:
        lower_bound: samples kept after a trim.
        upper_bound: history length that triggers a trim.
        kwargs: passed to :class:`Timer`.

    Raises:
        ValueError: unless ``0 < lower_bound < upper_bound``.
    """

    def __init__(self, lower_bound: int, upper_bound: int, **kwargs: Any) -> None:
        if not 0 < lower_bound < upper_bound:
            raise AssertedValueError(
                f"lower_bound={lower_bound}, upper_bound={upper_bound} are invalid: "
                "expected 0 < lower_bound < upper_bound"
            )
        super().__init__(**kwargs)
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound

    def _record(self, action_name: str, duration: float) -> None:
        durations = self.recorded_durations[action_name]
        durations.append(duration)
        if self.verbose:
            logger.info(f"{action_name} took {duration} seconds.")
        if len(durations) >= self.upper_bound:
            del durations[: len(durations) - self.lower_bound]


def get_timer_summary(timer: TimerProtocol) -> str:
    """Return a text table of the timer's actions, largest share of time first."""
    summary = "Timer Report" + os.linesep
    report = timer._make_report()
    if not report.timed_action_stats:
        return summary
    header = ("Action", "Mean duration (s)", "Num calls", "Total time (s)", "Percentage %")
    rows = [header, ("Total", "-", str(report.total_calls), f"{report.total_duration:.5f}", "100")]
    for stat in report.timed_action_stats:
        rows.append(
            (
                stat.action_name,
                f"{stat.mean_duration:.5f}",
                str(stat.num_calls),
                f"{stat.total_duration:.5f}",
                f"{stat.percentage_of_total_time:.5f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |"

    rule = "-" * len(fmt(header))
    lines = [rule, fmt(header), rule, fmt(rows[1]), rule, *(fmt(r) for r in rows[2:]), rule]
    return summary + os.linesep.join(lines) + os.linesep


def _check_percentiles(percentiles: Sequence[float]) -> List[float]:
    if not isinstance(percentiles, collections.abc.Iterable) or any(
        isinstance(p, bool) or not isinstance(p, numbers.Real) for p in percentiles
    ):
        raise TypeError(
            f"percentiles={percentiles!r} is invalid: expected a sequence of numbers in "
            "[0, 100], e.g. (50.0, 90.0, 99.0)"
        )
    bad = [p for p in percentiles if not 0 <= p <= 100]
    if bad:
        raise ValueError(f"percentiles={list(percentiles)} is invalid: each must be in [0, 100]")
    return sorted(percentiles)


def get_durations_histogram(
    recorded_durations: Dict[str, List[float]], percentiles: Sequence[float]
) -> Dict[str, Dict[str, float]]:
    """Return, per action, the requested percentiles (keys ``"p50"`` ...) and ``"avg"``.

    Raises:
        ValueError: if a percentile is outside [0, 100].
    """
    ordered = _check_percentiles(percentiles)
    result: Dict[str, Dict[str, float]] = {}
    for name, durations in recorded_durations.items():
        if not durations:
            continue
        values = np.asarray(durations, dtype=np.float64)
        stats = {f"p{p}": float(np.percentile(values, p, method="lower")) for p in ordered}
        stats["avg"] = float(values.mean())
        result[name] = stats
    return result


def get_synced_durations_histogram(
    recorded_durations: Dict[str, List[float]],
    percentiles: Sequence[float],
    pg: Optional["torch.distributed.ProcessGroup"] = None,
) -> Dict[str, Dict[str, float]]:
    """Like :func:`get_durations_histogram`, over the durations of every rank.

    Note: collective when a process group is initialized; call on all ranks.
    """
    import torch.distributed as dist

    merged: Dict[str, List[float]] = defaultdict(list)
    if dist.is_available() and dist.is_initialized():
        gathered: List[Any] = [None] * dist.get_world_size(group=pg)
        dist.all_gather_object(gathered, dict(recorded_durations), group=pg)
    else:
        gathered = [recorded_durations]
    for per_rank in gathered:
        for name, durations in per_rank.items():
            merged[name].extend(durations)
    return get_durations_histogram(merged, percentiles)


def get_synced_timer_histogram(
    timer: TimerProtocol,
    percentiles: Sequence[float],
    pg: Optional["torch.distributed.ProcessGroup"] = None,
) -> Dict[str, Dict[str, float]]:
    """Percentile histogram of ``timer``'s durations over all ranks (collective)."""
    return get_synced_durations_histogram(timer.recorded_durations, percentiles, pg)


def get_recorded_durations_table(result: Dict[str, Dict[str, float]]) -> str:
    """Format a histogram from :func:`get_durations_histogram` as a markdown table."""
    if not result:
        return ""
    from tabulate import tabulate

    columns = list(next(iter(result.values())))
    rows = [[name, *(f"{stats[c]:.3f}" for c in columns)] for name, stats in result.items()]
    return "\n" + tabulate(rows, headers=["Name", *columns], tablefmt="pipe")


class FullSyncPeriodicTimer:
    """Tells every rank, in agreement, whether ``interval`` has passed on rank 0.

    :meth:`check` answers with the result of the broadcast launched by the previous call and
    launches the next one, so the collective overlaps with the caller's work.

    Args:
        interval: how long to wait before :meth:`check` starts returning True.
        cpu_pg: a gloo process group used for the broadcast.
    """

    def __init__(self, interval: timedelta, cpu_pg: "torch.distributed.ProcessGroup") -> None:
        self._interval_s = interval.total_seconds()
        self._cpu_pg = cpu_pg
        self._start = perf_counter()
        self._flag = torch.zeros(1, dtype=torch.int)
        self._work: Optional[Any] = None

    def check(self) -> bool:
        """Return whether the interval had elapsed at the previous call (collective).

        Every call launches a new broadcast; once a True answer is returned, the next
        interval is measured from this call.
        """
        import torch.distributed as dist

        now = perf_counter()
        elapsed = False
        if self._work is not None:
            self._work.wait()
            self._work = None
            elapsed = bool(self._flag.item())
            if elapsed:
                self._start = now
        self._flag[0] = int(now - self._start >= self._interval_s)
        self._work = dist.broadcast(self._flag, 0, group=self._cpu_pg, async_op=True)
        return elapsed

    def wait_remaining_work(self) -> None:
        """Wait for the broadcast still in flight, if any. Its result is kept: the next
        :meth:`check` returns it."""
        if self._work is not None:
            self._work.wait()  # check() waits again, which returns at once, and reads it
