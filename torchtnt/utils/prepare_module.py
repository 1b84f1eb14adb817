"""Preparing modules for a device and a parallelism strategy.

This module currently holds the wrapper-detection helpers the core needs; the strategies and
``prepare_*`` functions are added with AutoUnit.
"""

import sys
from typing import Any

import torch

__all__: list = []


def _fsdp_namespace() -> Any:
    # A module can only be FSDP-wrapped if torch.distributed.fsdp was imported, so peeking at
    # sys.modules keeps these checks free of a costly import for everybody else.
    return sys.modules.get("torch.distributed.fsdp")


def _is_fsdp1_module(module: torch.nn.Module) -> bool:
    """Return True if ``module`` is, or contains, a FullyShardedDataParallel (FSDP1) wrapper."""
    fsdp = _fsdp_namespace()
    if fsdp is None:
        return False
    wrapper = fsdp.FullyShardedDataParallel
    return any(isinstance(m, wrapper) for m in module.modules())


def _is_fsdp2_module(module: torch.nn.Module) -> bool:
    """Return True if ``module`` or a submodule was sharded with ``fully_shard`` (FSDP2)."""
    fsdp = _fsdp_namespace()
    fsdp_module = getattr(fsdp, "FSDPModule", None) if fsdp is not None else None
    if fsdp_module is None:
        composable = sys.modules.get("torch.distributed._composable.fsdp")
        fsdp_module = getattr(composable, "FSDPModule", None)
    if fsdp_module is None:
        return False
    return any(isinstance(m, fsdp_module) for m in module.modules())


def _is_fsdp_module(module: torch.nn.Module) -> bool:
    """Return True if ``module`` uses FSDP1 or FSDP2."""
    return _is_fsdp1_module(module) or _is_fsdp2_module(module)
