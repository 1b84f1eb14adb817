"""Helpers around ``torch.distributed``: ranks, collectives, process-group set-up.

Every helper degrades gracefully to single-process behaviour when no process group is
initialized, so code written for distributed training also runs unchanged in a notebook.

All calls into torch go through the module-level name ``dist`` so tests can patch
``torchtnt.utils.distributed.dist.<fn>``.
"""

from __future__ import annotations

import functools
import os
import pickle
import struct
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Optional, ParamSpec, TypeVar, Union

import torch
import torch.distributed as dist

from torchtnt.utils._spawn import (  # noqa: F401  (re-exported: public names of this module)
    ProcessGroupSetupParams,
    _get_free_port,
    spawn_multi_process,
)

T = TypeVar("T")
TReturn = TypeVar("TReturn")
P = ParamSpec("P")

_VALID_COHERENCE_MODES = ("any", "all", "rank_zero")
# Header of the fixed-size broadcast_str buffer: one signed 64-bit length.
_STR_HEADER = struct.Struct("<q")
_NONE_STR = -1
_OVERFLOW_STR = -2


def _is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def _decimal_env(name: str) -> Optional[int]:
    value = os.environ.get(name)
    if value is not None and value.isdecimal():
        return int(value)
    return None


# ----------------------------------------------------------------------------------------
# Ranks and world sizes
# ----------------------------------------------------------------------------------------


def get_global_rank() -> int:
    """Return this process's rank in the default process group.

    Falls back to the ``RANK`` environment variable (when it is a decimal integer), then 0,
    when no process group is initialized.
    """
    if _is_initialized():
        return dist.get_rank()
    rank = _decimal_env("RANK")
    return 0 if rank is None else rank


def get_local_rank() -> int:
    """Return the rank of this process on its node: ``LOCAL_RANK`` if set, else 0."""
    rank = _decimal_env("LOCAL_RANK")
    return 0 if rank is None else rank


def get_local_world_size() -> int:
    """Return the number of processes on this node: ``LOCAL_WORLD_SIZE`` if set, else 1."""
    size = _decimal_env("LOCAL_WORLD_SIZE")
    return 1 if size is None else size


def get_world_size() -> int:
    """Return the number of processes in the default process group.

    Falls back to the ``WORLD_SIZE`` environment variable (when it is a decimal integer), then
    1, when no process group is initialized.
    """
    if _is_initialized():
        return dist.get_world_size()
    size = _decimal_env("WORLD_SIZE")
    return 1 if size is None else size


def barrier() -> None:
    """Block until every rank of the default group reaches this call.

    Note: collective, call it on all ranks. Does nothing without a process group.
    """
    if not _is_initialized():
        return
    PGWrapper(None).barrier()


def destroy_process_group() -> None:
    """Destroy the default process group if one is initialized; otherwise do nothing."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def get_process_group_backend_from_device(device: Union[torch.device, str]) -> str:
    """Return the natural collective backend for ``device``: "nccl" for CUDA, else "gloo"."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def _validate_global_rank_world_size(world_size: int, rank: int) -> None:
    """Check that ``rank`` is a valid rank in a world of ``world_size`` processes.

    Raises:
        ValueError: if ``world_size < 1``, ``rank < 0`` or ``rank >= world_size``.
    """
    if world_size < 1:
        raise ValueError(f"world_size={world_size} is invalid: expected an int >= 1")
    if rank < 0:
        raise ValueError(f"rank={rank} is invalid: expected an int >= 0")
    if rank >= world_size:
        raise ValueError(
            f"rank={rank} is invalid for world_size={world_size}: expected rank < world_size"
        )


def _resolve_rank_world_size(world_size: Optional[int], rank: Optional[int]) -> tuple[int, int]:
    world_size = get_world_size() if world_size is None else world_size
    rank = get_global_rank() if rank is None else rank
    _validate_global_rank_world_size(world_size, rank)
    return world_size, rank


def get_file_init_method(
    *,
    world_size: Optional[int] = None,
    rank: Optional[int] = None,
    filename: Optional[str] = None,
) -> str:
    """Build a ``file://`` init method URL for ``torch.distributed.init_process_group``.

    Args:
        world_size: number of processes; defaults to :func:`get_world_size`.
        rank: this process's rank; defaults to :func:`get_global_rank`.
        filename: shared file used for the rendezvous. Every rank must pass the same one;
            defaults to a fresh temporary file (only useful for a single process).

    Raises:
        ValueError: if the rank / world size pair is invalid.
    """
    world_size, rank = _resolve_rank_world_size(world_size, rank)
    if filename is None:
        fd, filename = tempfile.mkstemp(prefix="torchtnt_filestore_")
        os.close(fd)
    return f"file://{filename}?world_size={world_size}&rank={rank}"


def get_tcp_init_method(
    *,
    world_size: Optional[int] = None,
    rank: Optional[int] = None,
    hostname: Optional[str] = None,
    port: Optional[int] = None,
) -> str:
    """Build a ``tcp://`` init method URL for ``torch.distributed.init_process_group``.

    Args:
        world_size: number of processes; defaults to :func:`get_world_size`.
        rank: this process's rank; defaults to :func:`get_global_rank`.
        hostname: host of rank 0; defaults to "localhost".
        port: port of rank 0's store; defaults to a currently free port (every rank must
            agree on it, so pass it explicitly when running several processes).

    Raises:
        ValueError: if the rank / world size pair is invalid.
    """
    world_size, rank = _resolve_rank_world_size(world_size, rank)
    hostname = hostname or "localhost"
    port = port or _get_free_port()
    return f"tcp://{hostname}:{port}?world_size={world_size}&rank={rank}"


# ----------------------------------------------------------------------------------------
# PGWrapper
# ----------------------------------------------------------------------------------------


class PGWrapper:
    """A process group that also works when there is none.

    Without a process group every method behaves as in a world of one process, so callers
    need no ``if dist.is_initialized()`` branches.

    Args:
        pg: the group to wrap. ``None`` means the default (WORLD) group when one is
            initialized, otherwise single-process behaviour.
    """

    def __init__(self, pg: Optional[dist.ProcessGroup]) -> None:
        if pg is None and _is_initialized():
            pg = dist.group.WORLD
        self.pg: Optional[dist.ProcessGroup] = pg

    def get_rank(self) -> int:
        """Return this process's rank in the group (0 without a group)."""
        return 0 if self.pg is None else dist.get_rank(self.pg)

    def get_world_size(self) -> int:
        """Return the size of the group (1 without a group)."""
        return 1 if self.pg is None else dist.get_world_size(self.pg)

    def _is_nccl(self) -> bool:
        return self.pg is not None and dist.get_backend(self.pg) == "nccl"

    def barrier(self) -> None:
        """Wait for all ranks of the group. Note: collective, call it on all ranks."""
        if self.pg is None:
            return
        if self._is_nccl():
            # Tell NCCL which device this rank uses, otherwise it guesses from the rank.
            dist.barrier(group=self.pg, device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier(group=self.pg)

    def broadcast_object_list(self, obj_list: list[Any], src: int = 0) -> None:
        """Replace ``obj_list``'s items on every rank with those of rank ``src``, in place.

        Note: collective, call it on all ranks. Does nothing without a group.
        """
        if self.pg is None:
            return
        dist.broadcast_object_list(obj_list, src=src, group=self.pg)

    def all_gather_object(self, obj_list: list[Any], obj: Any) -> None:
        """Fill ``obj_list[i]`` with ``obj`` of rank ``i``, in place.

        Note: collective, call it on all ranks. Without a group ``obj_list[0] = obj``.
        """
        if self.pg is None:
            obj_list[0] = obj
            return
        dist.all_gather_object(obj_list, obj, group=self.pg)

    def scatter_object_list(
        self, output_list: list[Any], input_list: Optional[list[Any]], src: int = 0
    ) -> None:
        """Send ``input_list[i]`` of rank ``src`` to ``output_list[0]`` of rank ``i``.

        Note: collective, call it on all ranks.

        Raises:
            RuntimeError: on rank ``src``, if ``input_list`` does not hold exactly one item
                per rank.
        """
        rank = self.get_rank()
        world_size = self.get_world_size()
        if rank == src and (input_list is None or len(input_list) != world_size):
            got = None if input_list is None else len(input_list)
            raise RuntimeError(
                f"scatter_object_list needs one input object per rank on the source rank "
                f"{src}: expected {world_size} items, got {got}"
            )
        if self.pg is None:
            output_list[0] = _none_throws(input_list)[0]
            return
        if self._is_nccl():
            # NCCL has no object scatter: broadcast everything and keep our own slot.
            everything = list(_none_throws(input_list)) if rank == src else [None] * world_size
            dist.broadcast_object_list(everything, src=src, group=self.pg)
            output_list[0] = everything[rank]
            return
        dist.scatter_object_list(
            output_list, input_list if rank == src else None, src=src, group=self.pg
        )


def _none_throws(value: Optional[T]) -> T:
    if value is None:
        raise AssertionError("unexpected None")
    return value


# ----------------------------------------------------------------------------------------
# Tensor and string collectives
# ----------------------------------------------------------------------------------------


def _device_for(group: Optional[dist.ProcessGroup]) -> torch.device:
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_gather_tensors(
    result: torch.Tensor, group: Optional[dist.ProcessGroup] = None
) -> list[torch.Tensor]:
    """Gather ``result`` from every rank; shapes may differ between ranks.

    Note: collective, call it on all ranks. Every rank must pass a tensor of the same
    number of dimensions and dtype.

    Args:
        result: this rank's tensor.
        group: the group to gather over (default: WORLD).

    Returns:
        One tensor per rank, in rank order; ``[result]`` without a process group.
    """
    if not _is_initialized():
        return [result]
    result = result.contiguous()
    world_size = dist.get_world_size(group)
    if result.ndim == 0:
        return _all_gather_same_shape(result, world_size, group)

    local_shape = torch.tensor(result.shape, dtype=torch.long, device=result.device)
    shapes = [torch.empty_like(local_shape) for _ in range(world_size)]
    dist.all_gather(shapes, local_shape, group=group)
    shape_list = [tuple(s.tolist()) for s in shapes]

    if all(s == shape_list[0] for s in shape_list):
        return _all_gather_same_shape(result, world_size, group)
    if dist.get_backend(group) == "nccl":
        # NCCL accepts differently sized outputs directly.
        gathered = [result.new_empty(s) for s in shape_list]
        dist.all_gather(gathered, result, group=group)
        return gathered

    # Gloo needs equal sizes: pad every dim up to the max, gather, then cut back.
    max_shape = tuple(max(dims) for dims in zip(*shape_list))
    padded = result.new_zeros(max_shape)
    padded[tuple(slice(0, d) for d in result.shape)] = result
    gathered = _all_gather_same_shape(padded, world_size, group)
    return [t[tuple(slice(0, d) for d in shape)].clone() for t, shape in zip(gathered, shape_list)]


def _all_gather_same_shape(
    tensor: torch.Tensor, world_size: int, group: Optional[dist.ProcessGroup]
) -> list[torch.Tensor]:
    gathered = [torch.empty_like(tensor) for _ in range(world_size)]
    dist.all_gather(gathered, tensor, group=group)
    return gathered


def _global_src(src: int, group: Optional[dist.ProcessGroup]) -> int:
    # torch's broadcast takes a global rank; callers give a rank within ``group``.
    if group is None or group is dist.group.WORLD:
        return src
    return dist.get_global_rank(group, src)


def broadcast_str(
    val: Optional[str],
    src: int = 0,
    process_group: Optional[dist.ProcessGroup] = None,
    fixed_buffer_size: Optional[int] = None,
) -> Optional[str]:
    """Send the string ``val`` of rank ``src`` to every rank.

    Note: collective, call it on all ranks; ``val`` is only read on ``src``.

    Args:
        val: the string to send (``None`` is allowed and broadcast as ``None``).
        src: rank within ``process_group`` that owns the string.
        process_group: group to broadcast over (default: WORLD).
        fixed_buffer_size: if given, send the string in one collective through a buffer of
            this many bytes (UTF-8); otherwise its length is sent first.

    Returns:
        Rank ``src``'s string on every rank; ``val`` itself without a process group.

    Raises:
        ValueError: if ``fixed_buffer_size <= 0``, or (on every rank) if the string does
            not fit in ``fixed_buffer_size`` bytes.
    """
    if fixed_buffer_size is not None and fixed_buffer_size <= 0:
        raise ValueError(
            f"fixed_buffer_size={fixed_buffer_size} is invalid: expected a positive int or None"
        )
    if not _is_initialized():
        return val
    is_src = dist.get_rank(process_group) == src
    global_src = _global_src(src, process_group)
    device = _device_for(process_group)
    payload = b"" if not is_src or val is None else val.encode("utf-8")
    length = _NONE_STR if is_src and val is None else len(payload)

    if fixed_buffer_size is None:
        length_tensor = torch.tensor([length], dtype=torch.long, device=device)
        dist.broadcast(length_tensor, src=global_src, group=process_group)
        length = int(length_tensor.item())
        if length == _NONE_STR:
            return None
        buffer = _bytes_to_tensor(payload, length, device)
        dist.broadcast(buffer, src=global_src, group=process_group)
        return _tensor_to_bytes(buffer).decode("utf-8")

    if is_src and length > fixed_buffer_size:
        # Still take part in the collective so the other ranks learn about the error.
        length, payload = _OVERFLOW_STR, b""
    header = _STR_HEADER.pack(length) if is_src else bytes(_STR_HEADER.size)
    buffer = _bytes_to_tensor(header + payload, _STR_HEADER.size + fixed_buffer_size, device)
    dist.broadcast(buffer, src=global_src, group=process_group)
    raw = _tensor_to_bytes(buffer)
    (length,) = _STR_HEADER.unpack(raw[: _STR_HEADER.size])
    if length == _OVERFLOW_STR:
        raise ValueError(
            f"broadcast_str: the string on rank {src} does not fit in "
            f"fixed_buffer_size={fixed_buffer_size} bytes; pass a larger fixed_buffer_size "
            "or None"
        )
    if length == _NONE_STR:
        return None
    return raw[_STR_HEADER.size : _STR_HEADER.size + length].decode("utf-8")


def _bytes_to_tensor(data: bytes, size: int, device: torch.device) -> torch.Tensor:
    buffer = torch.zeros(size, dtype=torch.uint8)
    if data:
        buffer[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    return buffer.to(device)


def _tensor_to_bytes(tensor: torch.Tensor) -> bytes:
    return tensor.cpu().numpy().tobytes()


def all_gather_str(val: str, process_group: Optional[dist.ProcessGroup] = None) -> list[str]:
    """Gather one string from every rank.

    Note: collective, call it on all ranks.

    Returns:
        The strings in rank order; ``[val]`` without a process group.
    """
    if not _is_initialized():
        return [val]
    device = _device_for(process_group)
    payload = val.encode("utf-8")
    tensor = _bytes_to_tensor(payload, len(payload), device)
    gathered = all_gather_tensors(tensor, group=process_group)
    return [_tensor_to_bytes(t).decode("utf-8") for t in gathered]


# ----------------------------------------------------------------------------------------
# Decorators
# ----------------------------------------------------------------------------------------


def rank_zero_fn(fn: Callable[P, T]) -> Callable[P, Optional[T]]:
    """Decorate ``fn`` so that it only runs on global rank 0; other ranks get ``None``."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Optional[T]:
        if get_global_rank() == 0:
            return fn(*args, **kwargs)
        return None

    return wrapper


def local_rank_zero_fn(fn: Callable[P, T]) -> Callable[P, Optional[T]]:
    """Decorate ``fn`` so that it only runs on local rank 0 of each node; others get ``None``."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Optional[T]:
        if get_local_rank() == 0:
            return fn(*args, **kwargs)
        return None

    return wrapper


@dataclass
class _RankZeroFailure:
    error: BaseException
    traceback_text: str


def rank_zero_read_and_broadcast(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorate ``fn`` so that global rank 0 runs it and every rank gets its result.

    Useful to read a file once (e.g. from slow storage) and share its content. The group
    to broadcast over is taken from the ``process_group`` keyword argument (default
    WORLD), which is removed before ``fn`` is called. If ``fn`` raises on rank 0, the same
    exception is raised on every rank instead of leaving the others waiting.

    Note: collective when a process group is initialized, call it on all ranks.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        pg = kwargs.pop("process_group", None)
        if not _is_initialized():
            return fn(*args, **kwargs) if get_global_rank() == 0 else None  # type: ignore[return-value]
        outcome: Any = None
        local_error: Optional[Exception] = None
        if get_global_rank() == 0:
            try:
                outcome = fn(*args, **kwargs)
            except Exception as e:
                local_error = e
                outcome = _RankZeroFailure(_picklable(e), traceback.format_exc())
        box = [outcome]
        PGWrapper(pg).broadcast_object_list(box, src=0)
        outcome = box[0]
        if local_error is not None:
            raise local_error
        if isinstance(outcome, _RankZeroFailure):
            raise outcome.error from RuntimeError(
                f"{fn.__qualname__} failed on rank 0:\n{outcome.traceback_text}"
            )
        return outcome

    return wrapper


def _picklable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(repr(error))


# ----------------------------------------------------------------------------------------
# Misc helpers
# ----------------------------------------------------------------------------------------


class _BatchNormXd(torch.nn.modules.batchnorm._BatchNorm):
    """Batch norm for any input rank, used to replace ``SyncBatchNorm`` outside DDP."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        # SyncBatchNorm accepted any rank >= 2; keep that contract.
        return


def _parameter_on(
    param: torch.nn.Parameter, device: Optional[Union[str, torch.device]]
) -> torch.nn.Parameter:
    if device is None or param.device == torch.device(device):
        return param
    return torch.nn.Parameter(param.detach().to(device), requires_grad=param.requires_grad)


def revert_sync_batchnorm(
    module: torch.nn.Module, device: Optional[Union[str, torch.device]] = None
) -> torch.nn.Module:
    """Replace every ``SyncBatchNorm`` in ``module`` with a plain batch norm.

    The new batch norms take over the weights, biases and running statistics themselves
    (the same objects, so dtype, ``requires_grad`` and optimizer references are kept) and
    compute the same thing without a process group (e.g. for single-process evaluation).

    Args:
        module: the module (or a ``SyncBatchNorm`` itself) to convert.
        device: move the taken-over parameters and buffers here (default: leave them where
            they are). A moved parameter is a new one, with the same ``requires_grad``.

    Returns:
        The converted module; ``module`` itself when it is not a ``SyncBatchNorm``
        (its children are converted in place).
    """
    converted = module
    if isinstance(module, torch.nn.SyncBatchNorm):
        converted = _BatchNormXd(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
            device=device,
        )
        if module.affine:
            converted.weight = _parameter_on(module.weight, device)
            converted.bias = _parameter_on(module.bias, device)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            buffer = getattr(module, name)
            if buffer is not None and device is not None:
                buffer = buffer.to(device)
            setattr(converted, name, buffer)
        converted.training = module.training
        if hasattr(module, "qconfig"):
            converted.qconfig = module.qconfig
    for name, child in module.named_children():
        converted.add_module(name, revert_sync_batchnorm(child, device))
    return converted


def sync_bool(
    val: bool,
    pg: Optional[dist.ProcessGroup] = None,
    coherence_mode: Union[Literal["any", "all", "rank_zero"], int, float] = "any",
) -> bool:
    """Agree on one boolean across ranks.

    Note: collective, call it on all ranks.

    Args:
        val: this rank's value.
        pg: the group to agree over (default: WORLD).
        coherence_mode: how to combine the values:
            "any" (True if any rank is True), "all" (True if all are), "rank_zero" (rank
            0's value), an int N (True if at least N ranks are True) or a float f (True if
            at least a fraction f of the ranks are True).

    Returns:
        The agreed value; ``val`` itself without a process group.

    Raises:
        TypeError: if ``coherence_mode`` is none of the above.
    """
    if not (
        coherence_mode in _VALID_COHERENCE_MODES
        or (isinstance(coherence_mode, (int, float)) and not isinstance(coherence_mode, str))
    ):
        raise TypeError(
            f"coherence_mode={coherence_mode!r} is invalid: expected an int, a float or one "
            f"of {_VALID_COHERENCE_MODES}"
        )
    if not _is_initialized():
        return val
    group = pg if pg is not None else dist.group.WORLD
    indicator = torch.tensor([1 if val else 0], dtype=torch.long, device=_device_for(group))
    if coherence_mode == "rank_zero":
        dist.broadcast(indicator, src=_global_src(0, group), group=group)
        return bool(indicator.item())
    dist.all_reduce(indicator, op=dist.ReduceOp.SUM, group=group)
    num_true = int(indicator.item())
    if coherence_mode == "any":
        return num_true > 0
    if coherence_mode == "all":
        return num_true == dist.get_world_size(group)
    if isinstance(coherence_mode, int):
        return num_true >= coherence_mode
    return num_true / dist.get_world_size(group) >= coherence_mode


@contextmanager
def get_or_create_gloo_pg(
    candidate_pg: Optional[dist.ProcessGroup] = None,
) -> Iterator[Optional[dist.ProcessGroup]]:
    """Yield a gloo process group over the ranks of ``candidate_pg`` (default: WORLD).

    The candidate itself is yielded when it already uses gloo; otherwise a temporary gloo
    group with the same ranks is created and destroyed on exit. Yields ``None`` without a
    process group. Handy for CPU-side collectives next to an NCCL group.

    Note: collective when a new group is created, call it on all ranks.
    """
    if not _is_initialized():
        yield None
        return
    pg = candidate_pg if candidate_pg is not None else dist.group.WORLD
    if dist.get_backend(pg) == "gloo":
        yield pg
        return
    # ranks=None means every rank; only a real subgroup needs its ranks spelled out.
    ranks = None if pg is dist.group.WORLD else dist.get_process_group_ranks(pg)
    gloo_pg = dist.new_group(ranks=ranks, backend="gloo")
    try:
        yield gloo_pg
    finally:
        dist.destroy_process_group(gloo_pg)


# ----------------------------------------------------------------------------------------
# spawn_multi_process
# ----------------------------------------------------------------------------------------
