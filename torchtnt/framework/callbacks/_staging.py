"""Staging for async checkpoints: a private copy of the state, made before the save returns.

The copy is the only part of an async save the training loop waits for, so it is made as
fast as the machine allows: into CPU buffers kept between saves (no page faults on fresh
memory), pinned for CUDA tensors (fast device-to-host transfers), and, for CPU tensors,
split into chunks copied by several threads at once (one thread cannot saturate the
memory bus; the copies release the GIL).
"""

import copy
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np
import torch
from torch.distributed.checkpoint.staging import AsyncStager

_Path = Tuple[Any, ...]
_CopyJob = Tuple[np.ndarray, np.ndarray]  # (destination bytes, source bytes)

# Below this many bytes a single thread is as fast as handing work to others.
_PARALLEL_MIN_BYTES = 16 << 20
_MAX_COPY_THREADS = 8


def _copy_thread_count() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_COPY_THREADS))


@dataclass
class _StagingRun:
    """What one :meth:`_ReusableStager.stage` call collects while it walks the state."""

    used: Dict[_Path, torch.Tensor] = field(default_factory=dict)  # buffers, by place
    cpu_copies: List[_CopyJob] = field(default_factory=list)  # made together at the end
    cuda_devices: Set[torch.device] = field(default_factory=set)  # to synchronize


class _ReusableStager(AsyncStager):
    """Stages a state dict for an async save by copying it into buffers kept between saves.

    Each tensor is copied into a CPU buffer remembered under its place in the state dict and
    reused by the next save while shape and dtype stay the same; buffers of CUDA tensors are
    pinned. ``stage`` returns only once every copy is complete, so the caller may change the
    originals right away. The saver never stages while a previous save still reads the
    buffers (it waits for that save first).

    Args:
        copy_threads: threads copying CPU tensors in parallel (default: the usable cores,
            at most 8).
    """

    # stage() is complete when it returns: nothing to synchronize afterwards.
    _synchronize_after_execute: bool = False

    def __init__(self, copy_threads: Optional[int] = None) -> None:
        self._buffers: Dict[_Path, torch.Tensor] = {}
        self._copy_threads = copy_threads if copy_threads is not None else _copy_thread_count()
        self._pool: Optional[ThreadPoolExecutor] = None

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers."""
        return sum(b.numel() * b.element_size() for b in self._buffers.values())

    @torch.no_grad()
    def stage(self, state_dict: Dict[str, Any]) -> Dict[str, Any]:
        """Return a copy of ``state_dict`` whose tensors live in this stager's buffers."""
        run = _StagingRun()
        staged = self._stage(state_dict, (), run)
        self._run_copies(run.cpu_copies)
        for device in run.cuda_devices:
            torch.cuda.current_stream(device).synchronize()
        self._buffers = run.used  # buffers of entries that are gone are freed
        return staged

    def synchronize_staging(self) -> None:
        """Nothing to wait for: :meth:`stage` copies synchronously."""

    def close(self) -> None:
        """Free the buffers and the copy threads (the next :meth:`stage` makes new ones)."""
        self._buffers = {}
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _stage(self, obj: Any, path: _Path, run: "_StagingRun") -> Any:
        if isinstance(obj, torch.Tensor):
            return self._stage_any_tensor(obj, path, run)
        if isinstance(obj, dict):
            return {k: self._stage(v, path + (k,), run) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            items = [self._stage(v, path + (i,), run) for i, v in enumerate(obj)]
            if isinstance(obj, list):
                return items
            return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)
        return copy.deepcopy(obj)

    def _stage_any_tensor(
        self, tensor: torch.Tensor, path: _Path, run: "_StagingRun"
    ) -> torch.Tensor:
        from torch.distributed.tensor import DTensor

        if isinstance(tensor, DTensor):
            local = self._stage_tensor(tensor._local_tensor, path, run)
            return DTensor.from_local(
                local,
                tensor.device_mesh,
                tensor.placements,
                run_check=False,
                shape=tensor.shape,
                stride=tensor.stride(),
            )
        if type(tensor) is not torch.Tensor and not isinstance(tensor, torch.nn.Parameter):
            return copy.deepcopy(tensor)  # other subclasses: a private copy, not cached
        if tensor.layout != torch.strided or tensor.is_quantized:
            return tensor.detach().clone()
        return self._stage_tensor(tensor, path, run)

    def _stage_tensor(self, tensor: torch.Tensor, path: _Path, run: "_StagingRun") -> torch.Tensor:
        """Pick (or make) the buffer for ``tensor`` and copy into it, or queue the copy."""
        tensor = tensor.detach()
        on_cuda = tensor.device.type == "cuda"
        buffer = self._buffers.get(path)
        if (
            buffer is None
            or buffer.shape != tensor.shape
            or buffer.dtype != tensor.dtype
            or (on_cuda and not buffer.is_pinned())
        ):
            buffer = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=on_cuda)
        run.used[path] = buffer
        if tensor.numel() == 0:
            return buffer
        if tensor.device.type == "cpu" and tensor.is_contiguous() and not _has_lazy_bits(tensor):
            # A plain byte copy, made later together with the others (see _run_copies).
            run.cpu_copies.append((_bytes_of(buffer), _bytes_of(tensor)))
        else:
            buffer.copy_(tensor, non_blocking=on_cuda)
            if on_cuda:
                run.cuda_devices.add(tensor.device)
        return buffer

    def _run_copies(self, jobs: List[_CopyJob]) -> None:
        """Make the queued byte copies, on several threads when there is enough to copy."""
        total = sum(src.nbytes for _, src in jobs)
        if self._copy_threads == 1 or total < _PARALLEL_MIN_BYTES:
            _copy_all(jobs)
            return
        shares = _split_evenly(jobs, self._copy_threads, total)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self._copy_threads - 1, thread_name_prefix="tnt_ckpt_stage"
            )
        futures = [self._pool.submit(_copy_all, share) for share in shares[1:]]
        _copy_all(shares[0])  # this thread takes a share too
        for future in futures:
            future.result()


def _split_evenly(jobs: List[_CopyJob], n_shares: int, total: int) -> List[List[_CopyJob]]:
    """Cut the copies into at most ``n_shares`` lists of about equal bytes, splitting
    tensors where a share fills up."""
    target = -(-total // n_shares)
    shares: List[List[_CopyJob]] = [[]]
    room = target
    for dst, src in jobs:
        start = 0
        while start < src.nbytes:
            if room == 0:
                shares.append([])
                room = target
            stop = min(src.nbytes, start + room)
            shares[-1].append((dst[start:stop], src[start:stop]))
            room -= stop - start
            start = stop
    return shares


def _copy_all(jobs: List[_CopyJob]) -> None:
    for dst, src in jobs:
        np.copyto(dst, src)


def _has_lazy_bits(tensor: torch.Tensor) -> bool:
    # Conjugate / negative views keep their data un-transformed; copy_ resolves them.
    return tensor.is_conj() or tensor.is_neg()


def _bytes_of(tensor: torch.Tensor) -> np.ndarray:
    return tensor.reshape(-1).view(torch.uint8).numpy()
