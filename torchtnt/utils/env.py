"""Process start-up helpers: pick the device, join the process group, seed the RNGs."""

from __future__ import annotations

import logging
import numbers
import os
import random
import tempfile
from datetime import timedelta
from typing import Literal, Optional, Union

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.constants import default_pg_timeout

from torchtnt.utils.device import get_device_from_env, set_float32_precision
from torchtnt.utils.distributed import (
    get_file_init_method,
    get_process_group_backend_from_device,
    get_tcp_init_method,
)

logger: logging.Logger = logging.getLogger(__name__)

_DIST_ENV_VARS = ("MASTER_PORT", "MASTER_ADDR", "WORLD_SIZE", "RANK")
_INIT_METHOD_TYPES = ("env", "tcp", "file")
_UINT32_MAX = int(np.iinfo(np.uint32).max)


def _dist_env_is_set() -> bool:
    return all(name in os.environ for name in _DIST_ENV_VARS)


def _init_method_from_env(dist_init_method_type: str) -> Optional[str]:
    # The rendezvous address comes from the launcher's variables so every rank agrees on it.
    world_size = int(os.environ["WORLD_SIZE"])
    rank = int(os.environ["RANK"])
    if dist_init_method_type == "tcp":
        return get_tcp_init_method(
            world_size=world_size,
            rank=rank,
            hostname=os.environ["MASTER_ADDR"],
            port=int(os.environ["MASTER_PORT"]),
        )
    if dist_init_method_type == "file":
        # Same name on every local rank; FileStore removes the file once all ranks leave.
        filename = os.path.join(
            tempfile.gettempdir(),
            f"torchtnt_filestore_{os.environ['MASTER_ADDR']}_{os.environ['MASTER_PORT']}",
        )
        return get_file_init_method(world_size=world_size, rank=rank, filename=filename)
    return None


def init_from_env(
    *,
    device_type: Optional[str] = None,
    dist_init_method_type: Literal["env", "tcp", "file"] = "env",
    pg_backend: Optional[str] = None,
    pg_timeout: timedelta = default_pg_timeout,
    float32_matmul_precision: str = "high",
) -> torch.device:
    """Set up this process from its launcher's environment and return its device.

    The device is the CPU if ``device_type == "cpu"``, else :func:`~torchtnt.utils.device.get_device_from_env`.
    When ``MASTER_PORT``, ``MASTER_ADDR``, ``WORLD_SIZE`` and ``RANK`` are all set (as
    torchrun does) and no process group exists yet, the default process group is
    initialized. Finally the float32 matmul precision is applied.

    Args:
        device_type: expected device type ("cpu", "cuda", "mps"); None accepts any.
        dist_init_method_type: rendezvous through the environment ("env"), a TCP store
            at ``MASTER_ADDR:MASTER_PORT`` ("tcp"), or a shared file on this host ("file").
        pg_backend: process-group backend; defaults to "nccl" on CUDA, else "gloo".
        pg_timeout: timeout of the process group's collectives.
        float32_matmul_precision: see :func:`torchtnt.utils.device.set_float32_precision`.

    Raises:
        ValueError: if ``dist_init_method_type`` is not one of "env", "tcp", "file".
        RuntimeError: if the selected device does not match ``device_type``.
    """
    if dist_init_method_type not in _INIT_METHOD_TYPES:
        raise ValueError(
            f"dist_init_method_type={dist_init_method_type!r} is invalid: expected one of "
            f"{_INIT_METHOD_TYPES}"
        )
    device = torch.device("cpu") if device_type == "cpu" else get_device_from_env()
    if device_type is not None and device.type != device_type:
        raise RuntimeError(
            f"device_type={device_type!r} was requested but this process got {device}: "
            "check that the device is available or pass device_type=None"
        )
    if _dist_env_is_set() and dist.is_available() and not dist.is_initialized():
        backend = pg_backend or get_process_group_backend_from_device(device)
        dist.init_process_group(
            init_method=_init_method_from_env(dist_init_method_type),
            backend=backend,
            timeout=pg_timeout,
        )
    set_float32_precision(float32_matmul_precision)
    return device


def seed(seed: int, deterministic: Optional[Union[str, int]] = None) -> None:
    """Seed torch, numpy and ``random``, and optionally ask for deterministic kernels.

    Also sets ``PYTHONHASHSEED`` (effective for processes started afterwards).

    Args:
        seed: the seed, in ``[0, 2**32 - 1]``.
        deterministic: passed to ``torch.set_deterministic_debug_mode``: "default"/0
            (cuDNN benchmark on, no determinism), "warn"/1 or "error"/2 (deterministic cuDNN,
            ``CUBLAS_WORKSPACE_CONFIG=":4096:8"``; 2 also disables TF32). None leaves these
            settings untouched.

    Raises:
        TypeError: if ``seed`` is not an int.
        ValueError: if ``seed`` is outside the uint32 range.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed={seed!r} is invalid: expected an int in [0, {_UINT32_MAX}]")
    if not 0 <= seed <= _UINT32_MAX:
        raise ValueError(f"seed={seed} is invalid: expected an int in [0, {_UINT32_MAX}]")
    seed = int(seed)  # numpy integers too: random.seed takes only Python ints
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic is None:
        return
    torch.set_deterministic_debug_mode(deterministic)
    mode = torch.get_deterministic_debug_mode()
    if mode == 0:
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.benchmark = True
    else:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        # cuBLAS needs a fixed workspace to be deterministic.
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    if mode == 2:
        set_float32_precision("highest")
