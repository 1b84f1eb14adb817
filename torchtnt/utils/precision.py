"""Mixed-precision helpers: precision strings to dtypes, and the matching grad scaler."""

from __future__ import annotations

from typing import Optional

import torch
from torch.amp.grad_scaler import GradScaler

_PRECISION_TO_DTYPE: dict[str, Optional[torch.dtype]] = {
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
    "fp32": None,
}


def convert_precision_str_to_dtype(precision: str) -> Optional[torch.dtype]:
    """Map a precision name to the autocast dtype it stands for.

    Args:
        precision: "fp16", "bf16" or "fp32".

    Returns:
        ``torch.float16``, ``torch.bfloat16``, or ``None`` for "fp32" (no autocast).

    Raises:
        ValueError: for any other string.
    """
    if precision not in _PRECISION_TO_DTYPE:
        raise ValueError(
            f"precision={precision!r} is not supported: expected one of {list(_PRECISION_TO_DTYPE)}"
        )
    return _PRECISION_TO_DTYPE[precision]


def get_grad_scaler_from_precision(
    precision: torch.dtype, *, is_fsdp1_module: Optional[bool] = False
) -> Optional[GradScaler]:
    """Return the gradient scaler that training in ``precision`` needs, if any.

    Only float16 needs loss scaling: it gets a ``ShardedGradScaler`` for FSDP1-wrapped
    modules (which keep sharded gradients) and ``torch.amp.GradScaler("cuda")`` otherwise.
    bfloat16 and float32 return ``None``.

    Args:
        precision: the autocast dtype.
        is_fsdp1_module: whether the module is wrapped with FSDP1.
    """
    if precision != torch.float16:
        return None
    if is_fsdp1_module:
        from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

        return ShardedGradScaler()
    return GradScaler("cuda")
