"""Small helpers: time conversion and copying weights or BatchNorm statistics between models."""

import numbers
from typing import List, Optional

import torch
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["days_to_secs", "transfer_batch_norm_stats", "transfer_weights"]

_SECONDS_PER_DAY = 24 * 60 * 60


def days_to_secs(days: Optional[int]) -> Optional[int]:
    """Convert a number of days to seconds.

    Args:
        days: number of days, or None.

    Returns:
        ``days * 86400``, or None when ``days`` is None.

    Raises:
        TypeError: if ``days`` is not a number.
        ValueError: if ``days`` is negative.
    """
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, numbers.Real):
        raise TypeError(f"days={days!r} is invalid: expected a number of days >= 0 or None")
    if days < 0:
        raise ValueError(f"days={days} is invalid: expected a number of days >= 0 or None")
    return days * _SECONDS_PER_DAY


def transfer_weights(src_module: torch.nn.Module, dst_module: torch.nn.Module) -> None:
    """Copy every parameter of ``src_module`` into the matching one of ``dst_module``.

    Parameters are matched in ``parameters()`` order and copied onto each destination
    parameter's own device and dtype.

    Args:
        src_module: module to copy from.
        dst_module: module to copy into, with the same parameter layout.

    Raises:
        ValueError: if the modules differ in number of parameters or in a parameter's shape.
    """
    src_params = list(src_module.parameters())
    dst_params = list(dst_module.parameters())
    if len(src_params) != len(dst_params):
        raise ValueError(
            f"src_module has {len(src_params)} parameters but dst_module has "
            f"{len(dst_params)}: expected modules with the same parameter layout"
        )
    for i, (src, dst) in enumerate(zip(src_params, dst_params)):
        if src.shape != dst.shape:
            raise ValueError(
                f"parameter {i} has shape {tuple(src.shape)} in src_module but "
                f"{tuple(dst.shape)} in dst_module: expected identical shapes"
            )
    with torch.no_grad():
        for src, dst in zip(src_params, dst_params):
            dst.copy_(src.to(dst.device))


def _batch_norms(module: torch.nn.Module) -> List[_BatchNorm]:
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def _copy_buffer(src: Optional[torch.Tensor], dst: Optional[torch.Tensor]) -> None:
    if src is not None and dst is not None:
        dst.copy_(src.to(dst.device))


def transfer_batch_norm_stats(src_module: torch.nn.Module, dst_module: torch.nn.Module) -> None:
    """Copy BatchNorm running statistics and momentum from one model to another.

    BatchNorm layers (any ``_BatchNorm`` subclass, SyncBatchNorm included) are matched in
    ``modules()`` order; ``running_mean``, ``running_var``, ``num_batches_tracked`` and
    ``momentum`` are copied. Typical use: give an averaged (SWA/EMA) model the statistics of
    the model it averages.

    Args:
        src_module: module to copy from.
        dst_module: module to copy into.

    Raises:
        ValueError: if the modules hold a different number of BatchNorm layers.
    """
    src_bns = _batch_norms(src_module)
    dst_bns = _batch_norms(dst_module)
    if len(src_bns) != len(dst_bns):
        raise ValueError(
            f"src_module has {len(src_bns)} batch norm layers but dst_module has "
            f"{len(dst_bns)}: expected the same number of batch norm layers"
        )
    with torch.no_grad():
        for src, dst in zip(src_bns, dst_bns):
            _copy_buffer(src.running_mean, dst.running_mean)
            _copy_buffer(src.running_var, dst.running_var)
            _copy_buffer(src.num_batches_tracked, dst.num_batches_tracked)
            dst.momentum = src.momentum
