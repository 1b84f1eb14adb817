"""Record CUDA memory history for a window of steps and dump a snapshot at its end."""

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Optional, Type

import torch

from torchtnt.utils.oom import attach_oom_observer, log_memory_snapshot

__all__ = ["MemorySnapshotParams", "MemorySnapshotProfiler", "MemorySnapshotProfilerBase"]

logger: logging.Logger = logging.getLogger(__name__)


@dataclass
class MemorySnapshotParams:
    """When to record CUDA memory history.

    Args:
        start_step: step at which recording starts (0 starts at construction); None leaves
            starting to the OOM observer.
        stop_step: step at which a snapshot is written and recording stops; None never stops.
        max_entries: how many allocation events the history keeps.
        enable_oom_observer: also record from the start and dump a snapshot on CUDA OOM.
    """

    start_step: Optional[int] = None
    stop_step: Optional[int] = 2
    max_entries: int = 100000
    enable_oom_observer: bool = True


class MemorySnapshotProfilerBase(ABC):
    """A memory profiler driven by steps; usable as a context manager (start ... stop)."""

    def __enter__(self) -> "MemorySnapshotProfilerBase":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> Optional[bool]:
        self.stop()
        return None

    @abstractmethod
    def start(self) -> None:
        """Start recording."""

    @abstractmethod
    def stop(self) -> None:
        """Stop recording."""

    @abstractmethod
    def step(self) -> None:
        """Advance one step; start or stop recording when the schedule says so."""


def _validate(params: MemorySnapshotParams) -> None:
    start, stop = params.start_step, params.stop_step
    if start is not None:
        if start < 0:
            raise ValueError(
                f"start_step must be nonnegative. Got start_step={start}: expected an int >= 0 "
                "or None"
            )
        if stop is None:
            raise ValueError(
                f"stop_step must be specified when start_step is set. Got start_step={start}, "
                "stop_step=None: expected an int stop_step > start_step"
            )
        if start >= stop:
            raise ValueError(
                f"start_step must be < stop_step. Got start_step={start}, stop_step={stop}"
            )
    if stop is not None:
        if stop <= 0:
            raise ValueError(
                f"stop_step must be positive. Got stop_step={stop}: expected an int >= 1"
            )
        if start is None and not params.enable_oom_observer:
            raise ValueError(
                "stop_step is enabled, but start_step is not set and oom observer is not "
                f"enabled. Got stop_step={stop}: set start_step, or enable_oom_observer=True "
                "so recording starts right away"
            )
    if start is None and stop is None and not params.enable_oom_observer:
        raise ValueError(
            "At least one of start_step/stop_step or enable_oom_observer must be set, "
            "otherwise nothing is recorded"
        )


class MemorySnapshotProfiler(MemorySnapshotProfilerBase):
    """Record CUDA memory history between two steps and write a snapshot at ``stop_step``.

    Call :meth:`step` once per training step (the MemorySnapshot callback does). Snapshots go
    to ``{output_dir}/step_{step}_rank{rank}/`` (see :func:`torchtnt.utils.oom.log_memory_snapshot`);
    with the OOM observer enabled an OOM dumps to ``{output_dir}/oom_rank{rank}/``. Without
    CUDA, starting logs a warning and nothing is recorded.

    Args:
        output_dir: directory receiving the snapshots.
        memory_snapshot_params: the schedule; ``MemorySnapshotParams()`` when None.

    Raises:
        ValueError: if ``start_step < 0``; ``start_step`` is set without ``stop_step`` or
            is not below it; ``stop_step <= 0``; ``stop_step`` is set with neither
            ``start_step`` nor the OOM observer; or nothing would be recorded at all.
    """

    def __init__(
        self,
        output_dir: str,
        memory_snapshot_params: Optional[MemorySnapshotParams] = None,
    ) -> None:
        self.output_dir: str = output_dir
        self.params: MemorySnapshotParams = memory_snapshot_params or MemorySnapshotParams()
        _validate(self.params)
        self.step_num: int = 0
        self.is_started: bool = False
        if self.params.enable_oom_observer:
            attach_oom_observer(output_dir=output_dir, trace_max_entries=self.params.max_entries)
        if self.params.start_step == 0:
            self.start()

    def start(self) -> None:
        """Start recording CUDA memory history (warning and no-op without CUDA)."""
        if not torch.cuda.is_available():
            logger.warning("CUDA is not available: memory snapshot recording is not started")
            return
        if self.is_started:
            return
        logger.info("Starting CUDA memory history recording at step %d", self.step_num)
        torch.cuda.memory._record_memory_history(max_entries=self.params.max_entries)
        self.is_started = True

    def stop(self) -> None:
        """Stop recording CUDA memory history (warning and no-op without CUDA)."""
        if not torch.cuda.is_available():
            logger.warning("CUDA is not available: no memory snapshot recording to stop")
            return
        logger.info("Stopping CUDA memory history recording at step %d", self.step_num)
        torch.cuda.memory._record_memory_history(enabled=None)
        self.is_started = False

    def step(self) -> None:
        """Count a step; start at ``start_step``; dump a snapshot and stop at ``stop_step``."""
        self.step_num += 1
        if self.params.start_step is not None and self.step_num == self.params.start_step:
            self.start()
        if self.params.stop_step is not None and self.step_num == self.params.stop_step:
            self.log_memory_snapshot()
            self.stop()

    def log_memory_snapshot(self) -> None:
        """Write a snapshot of the current allocator state, labelled with the step number."""
        log_memory_snapshot(output_dir=self.output_dir, file_prefix=f"step_{self.step_num}")
