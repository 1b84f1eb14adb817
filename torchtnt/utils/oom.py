"""Recognize out-of-memory errors and dump CUDA memory snapshots for post-mortem analysis."""

import logging
import os
import pickle
from typing import Any, Callable, Optional

import torch

__all__ = [
    "attach_oom_observer",
    "is_out_of_cpu_memory",
    "is_out_of_cuda_memory",
    "is_out_of_memory_error",
    "log_memory_snapshot",
]

logger: logging.Logger = logging.getLogger(__name__)

_CPU_OOM_MARKER = "DefaultCPUAllocator: can't allocate memory"
_CUDA_OOM_MARKERS = ("RuntimeError: cuda runtime error (2) : out of memory", "CUDA out of memory.")


def _single_message(exception: BaseException) -> Optional[str]:
    """The message of a RuntimeError carrying exactly one string argument, else None."""
    if not isinstance(exception, RuntimeError) or len(exception.args) != 1:
        return None
    message = exception.args[0]
    return message if isinstance(message, str) else None


def is_out_of_cpu_memory(exception: BaseException) -> bool:
    """Whether ``exception`` is the RuntimeError torch raises when host allocation fails.

    Args:
        exception: any exception.

    Returns:
        True for a single-argument RuntimeError mentioning
        ``"DefaultCPUAllocator: can't allocate memory"``.
    """
    message = _single_message(exception)
    return message is not None and _CPU_OOM_MARKER in message


def is_out_of_cuda_memory(exception: BaseException) -> bool:
    """Whether ``exception`` is a CUDA out-of-memory error.

    Args:
        exception: any exception.

    Returns:
        True for a single-argument RuntimeError (``torch.cuda.OutOfMemoryError`` included)
        mentioning ``"CUDA out of memory."`` or the legacy
        ``"RuntimeError: cuda runtime error (2) : out of memory"``.
    """
    message = _single_message(exception)
    return message is not None and any(marker in message for marker in _CUDA_OOM_MARKERS)


def is_out_of_memory_error(exception: BaseException) -> bool:
    """Whether ``exception`` is a host or CUDA out-of-memory error.

    Args:
        exception: any exception.

    Returns:
        ``is_out_of_cpu_memory(exception) or is_out_of_cuda_memory(exception)``.
    """
    return is_out_of_cpu_memory(exception) or is_out_of_cuda_memory(exception)


def _bytes_to_mb_gb(num_bytes: int) -> str:
    """Format a byte count: in MB below 1 MiB, otherwise in GB, rounded to 2 decimals."""
    if num_bytes < 2**20:
        return f"{round(num_bytes / 2**20, 2)} MB"
    return f"{round(num_bytes / 2**30, 2)} GB"


def _global_rank() -> int:
    from torchtnt.utils.distributed import get_global_rank

    return get_global_rank()


def _write_snapshot_files(snapshot_dir: str) -> None:
    from torch.cuda import _memory_viz

    os.makedirs(snapshot_dir, exist_ok=True)
    snapshot = torch.cuda.memory._snapshot()
    with open(os.path.join(snapshot_dir, "snapshot.pickle"), "wb") as f:
        pickle.dump(snapshot, f)
    with open(os.path.join(snapshot_dir, "trace_plot.html"), "w") as f:
        f.write(_memory_viz.trace_plot(snapshot))
    with open(os.path.join(snapshot_dir, "segment_plot.html"), "w") as f:
        f.write(_memory_viz.segment_plot(snapshot))


def log_memory_snapshot(output_dir: str, file_prefix: Optional[str] = None) -> None:
    """Dump the CUDA caching allocator's state for this rank.

    Writes ``snapshot.pickle`` (load it in https://pytorch.org/memory_viz),
    ``trace_plot.html`` and ``segment_plot.html`` into
    ``{output_dir}/{file_prefix or "memory_snapshot"}_rank{rank}/``. Allocation stack traces
    are only present while memory history is being recorded (see
    :func:`attach_oom_observer`). Without CUDA this only logs. Failures while writing are
    logged, never raised, so a dump can run inside an OOM handler.

    Args:
        output_dir: directory receiving the per-rank snapshot folder.
        file_prefix: folder name prefix, ``"memory_snapshot"`` by default.
    """
    if not torch.cuda.is_available():
        logger.info("CUDA is not available: no memory snapshot to write to %s", output_dir)
        return
    prefix = file_prefix or "memory_snapshot"
    snapshot_dir = os.path.join(output_dir, f"{prefix}_rank{_global_rank()}")
    try:
        _write_snapshot_files(snapshot_dir)
        logger.info("Saved CUDA memory snapshot to %s", snapshot_dir)
    except Exception:
        logger.exception("Failed to save CUDA memory snapshot to %s", snapshot_dir)


def _oom_observer(output_dir: str) -> Callable[[int, int, int, int], None]:
    def observer(device: int, alloc: int, device_alloc: int, device_free: int) -> None:
        logger.warning(
            "CUDA out of memory on device %d while allocating %s: %s allocated, %s free. "
            "Saving a memory snapshot to %s",
            device,
            _bytes_to_mb_gb(alloc),
            _bytes_to_mb_gb(device_alloc),
            _bytes_to_mb_gb(device_free),
            output_dir,
        )
        log_memory_snapshot(output_dir, "oom")

    return observer


def attach_oom_observer(output_dir: str, trace_max_entries: int = 1000000) -> None:
    """Record CUDA allocation history and dump a snapshot (prefix ``"oom"``) on CUDA OOM.

    Recording costs some host time per allocation. Without CUDA this is a no-op.

    Args:
        output_dir: where :func:`log_memory_snapshot` writes when an OOM happens.
        trace_max_entries: how many allocation events the history keeps.

    Raises:
        ValueError: if ``trace_max_entries`` is not a positive int.
    """
    if isinstance(trace_max_entries, bool) or not isinstance(trace_max_entries, int):
        raise ValueError(
            f"trace_max_entries={trace_max_entries!r} is invalid: expected an int >= 1"
        )
    if trace_max_entries < 1:
        raise ValueError(f"trace_max_entries={trace_max_entries} is invalid: expected an int >= 1")
    if not torch.cuda.is_available():
        logger.info("CUDA is not available: not attaching an out-of-memory observer")
        return
    logger.info("Attaching CUDA out-of-memory observer writing snapshots to %s", output_dir)
    torch.cuda.memory._record_memory_history(max_entries=trace_max_entries)
    attach: Any = torch._C._cuda_attach_out_of_memory_observer
    attach(_oom_observer(output_dir))
