"""Helpers for writing tests: skips, captured output, launcher configs, process spawning."""

from __future__ import annotations

import ctypes
import functools
import io
import sys
import unittest
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import torch
import torch.distributed as dist

from torchtnt.utils.distributed import spawn_multi_process

if TYPE_CHECKING:
    from torch.distributed.launcher import LaunchConfig

__all__ = [
    "captured_output",
    "get_pet_launch_config",
    "is_asan",
    "is_asan_or_tsan",
    "is_tsan",
    "skip_if_asan",
    "skip_if_not_distributed",
    "skip_if_not_gpu",
    "spawn_multi_process",
]

P = ParamSpec("P")
T = TypeVar("T")


def get_pet_launch_config(nproc: int) -> LaunchConfig:
    """Return a torchelastic launch config for ``nproc`` local workers on a single node.

    Use it with ``torch.distributed.launcher.elastic_launch(config, entrypoint=fn)()`` to
    run ``fn`` the way torchrun would. The rendezvous runs on a free local port and
    failures are not retried.
    """
    from torch.distributed.launcher import LaunchConfig

    return LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=1,
    )


def _has_symbol(name: str) -> bool:
    # Sanitizer runtimes export their init symbol into the process's global namespace.
    return hasattr(ctypes.CDLL(None), name)


def is_asan() -> bool:
    """Whether this process runs with AddressSanitizer linked in."""
    return _has_symbol("__asan_init")


def is_tsan() -> bool:
    """Whether this process runs with ThreadSanitizer linked in."""
    return _has_symbol("__tsan_init")


def is_asan_or_tsan() -> bool:
    """Whether this process runs under AddressSanitizer or ThreadSanitizer."""
    return is_asan() or is_tsan()


def skip_if_asan(func: Callable[P, T]) -> Callable[P, T]:
    """Decorate a test so it is skipped under ASAN/TSAN (e.g. tests that spawn processes)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        if is_asan_or_tsan():
            raise unittest.SkipTest("skipped under ASAN/TSAN")
        return func(*args, **kwargs)

    return wrapper


@contextmanager
def captured_output() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Redirect ``sys.stdout`` and ``sys.stderr`` to fresh StringIOs for the block.

    Yields:
        ``(stdout, stderr)``: the StringIOs holding what was written.
    """
    new_out, new_err = io.StringIO(), io.StringIO()
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = new_out, new_err
    try:
        yield new_out, new_err
    finally:
        sys.stdout, sys.stderr = old_out, old_err


skip_if_not_gpu: Callable[[T], T] = unittest.skipUnless(
    torch.cuda.is_available(), "skipped: needs a CUDA GPU"
)
"""Decorator skipping a test (or test class) when no CUDA GPU is available."""

skip_if_not_distributed: Callable[[T], T] = unittest.skipUnless(
    dist.is_available(), "skipped: torch.distributed is not available"
)
"""Decorator skipping a test (or test class) when torch.distributed is unavailable."""
