"""Running a function on several local processes joined by a process group.

This is the machinery behind :func:`torchtnt.utils.distributed.spawn_multi_process`, kept apart
so the collective helpers stay readable.
"""

from __future__ import annotations

import os
import pickle
import socket
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch.distributed as dist

TReturn = TypeVar("TReturn")


def _get_free_port() -> int:
    # Port 0 makes the kernel pick an unused port; we release it right away, so a tiny
    # window remains where another process could take it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _destroy_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@dataclass
class ProcessGroupSetupParams:
    """How :func:`spawn_multi_process` sets up the process group of each child."""

    backend: str
    port: str
    world_size: int
    timeout_s: int


def spawn_multi_process(
    world_size: int,
    backend: str,
    method: Callable[..., TReturn],
    *method_args: Any,
    **method_kwargs: Any,
) -> list[TReturn]:
    """Run ``method`` in ``world_size`` fresh processes joined by a process group.

    Each child gets ``MASTER_ADDR``, ``MASTER_PORT`` (a free port), ``WORLD_SIZE``,
    ``RANK`` and ``LOCAL_RANK`` set, initializes the default group with ``backend``, calls
    ``method(*method_args, **method_kwargs)`` and destroys the group. ``method`` and its
    arguments must be picklable (e.g. a module-level function), since the children are
    started with the "spawn" method.

    Args:
        world_size: number of processes.
        backend: process-group backend ("gloo" on CPU, "nccl" on GPUs).
        method: the function each rank runs.
        method_args: positional arguments for ``method``.
        method_kwargs: keyword arguments for ``method``; ``timeout_s`` (default 60) is
            taken out and used as the process-group timeout in seconds.

    Returns:
        The return value of ``method`` for each rank, indexed by rank.

    Raises:
        ValueError: if ``world_size < 1``.
        torch.multiprocessing.ProcessRaisedException: if a child raised; its message names
            the failing rank and carries the child's traceback.
        torch.multiprocessing.ProcessExitedException: if a child died (e.g. on a signal).
    """
    if world_size < 1:
        raise ValueError(f"world_size={world_size} is invalid: expected an int >= 1")
    timeout_s = method_kwargs.pop("timeout_s", 60)
    params = ProcessGroupSetupParams(
        backend=backend, port=str(_get_free_port()), world_size=world_size, timeout_s=timeout_s
    )
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="torchtnt_spawn_") as result_dir:
        try:
            mp.spawn(
                _run_spawned_rank,
                args=(params, result_dir, method, method_args, method_kwargs),
                nprocs=world_size,
                join=True,
                start_method="spawn",
            )
        except mp.ProcessRaisedException as e:
            _raise_first_child_error(result_dir, world_size, e)
        return [_read_rank_file(result_dir, rank, "result")[1] for rank in range(world_size)]


def _rank_file(result_dir: str, rank: int, kind: str) -> str:
    return os.path.join(result_dir, f"rank_{rank}.{kind}")


def _write_rank_file(result_dir: str, rank: int, kind: str, payload: Any) -> None:
    path = _rank_file(result_dir, rank, kind)
    # Write then rename, so the parent never reads a half-written file.
    with open(path + ".tmp", "wb") as f:
        pickle.dump((os.getpid(), payload), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(path + ".tmp", path)


def _read_rank_file(result_dir: str, rank: int, kind: str) -> tuple[int, Any]:
    path = _rank_file(result_dir, rank, kind)
    if not os.path.exists(path):
        raise RuntimeError(f"spawn_multi_process: rank {rank} exited without a {kind}")
    with open(path, "rb") as f:
        return pickle.load(f)


def _raise_first_child_error(result_dir: str, world_size: int, error: Exception) -> None:
    """Re-raise the failure of the rank that failed first.

    Once one rank fails, its peers usually fail too (e.g. "connection reset" inside a
    collective), and torch reports whichever exit it notices first; the earliest error is
    the one worth reading.
    """
    import torch.multiprocessing as mp

    failures = []
    for rank in range(world_size):
        if os.path.exists(_rank_file(result_dir, rank, "error")):
            pid, (when, text) = _read_rank_file(result_dir, rank, "error")
            failures.append((when, rank, pid, text))
    if not failures:
        raise error
    _, rank, pid, text = min(failures)
    others = sorted(r for _, r, _, _ in failures if r != rank)
    note = f" (rank(s) {others} failed afterwards)" if others else ""
    raise mp.ProcessRaisedException(
        f"\n\n-- spawn_multi_process: rank {rank} failed first{note}; its traceback:\n{text}",
        rank,
        pid,
    ) from None


def _run_spawned_rank(
    rank: int,
    params: ProcessGroupSetupParams,
    result_dir: str,
    method: Callable[..., Any],
    method_args: tuple[Any, ...],
    method_kwargs: dict[str, Any],
) -> None:
    os.environ.update(
        {
            "MASTER_ADDR": "localhost",
            "MASTER_PORT": params.port,
            "WORLD_SIZE": str(params.world_size),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "LOCAL_WORLD_SIZE": str(params.world_size),
        }
    )
    try:
        dist.init_process_group(
            backend=params.backend,
            rank=rank,
            world_size=params.world_size,
            timeout=timedelta(seconds=params.timeout_s),
        )
        output = method(*method_args, **method_kwargs)
    except BaseException:
        # Timestamp before tearing down the group: the teardown makes peers fail too.
        _record_failure(result_dir, rank)
        _destroy_group()
        raise
    _destroy_group()
    try:
        _write_rank_file(result_dir, rank, "result", output)
    except BaseException:
        _record_failure(result_dir, rank)
        raise


def _record_failure(result_dir: str, rank: int) -> None:
    _write_rank_file(result_dir, rank, "error", (time.time(), traceback.format_exc()))
