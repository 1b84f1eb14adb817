"""String-friendly FSDP (FSDP1) configuration types and their conversion to torch's types.

Config files and command lines speak in strings (``"FULL_SHARD"``, ``"bf16"``); torch's FSDP
wants enums and dtypes. The classes here hold the strings and convert them on demand, so that
this module does not import ``torch.distributed.fsdp`` until a conversion is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence, Type

import torch

if TYPE_CHECKING:
    from torch.distributed.fsdp import MixedPrecision as NativeMixedPrecision

__all__ = ["BackwardPrefetch", "MixedPrecision", "ShardingStrategy", "StateDictType"]


def _native_member(enum_name: str, value: str, arg_name: str) -> Any:
    """Look ``value`` (case-insensitive) up in ``torch.distributed.fsdp.<enum_name>``."""
    import torch.distributed.fsdp as fsdp

    enum_cls = getattr(fsdp, enum_name)
    key = value.upper() if isinstance(value, str) else value
    if not isinstance(key, str) or key not in enum_cls.__members__:
        raise ValueError(
            f"{arg_name}={value!r} is invalid: expected one of {list(enum_cls.__members__)}"
        )
    return enum_cls[key]


class ShardingStrategy:
    """Names of FSDP sharding strategies (see ``torch.distributed.fsdp.ShardingStrategy``)."""

    FULL_SHARD = "FULL_SHARD"
    SHARD_GRAD_OP = "SHARD_GRAD_OP"
    NO_SHARD = "NO_SHARD"
    HYBRID_SHARD = "HYBRID_SHARD"
    _HYBRID_SHARD_ZERO2 = "_HYBRID_SHARD_ZERO2"

    @staticmethod
    def to_native_sharding_strategy(value: str) -> Any:
        """Convert a name such as ``"FULL_SHARD"`` (any case) to torch's enum member.

        Raises:
            ValueError: if the name is not a torch sharding strategy.
        """
        return _native_member("ShardingStrategy", value, "sharding_strategy")


class BackwardPrefetch:
    """Names of FSDP backward-prefetch modes (``torch.distributed.fsdp.BackwardPrefetch``)."""

    BACKWARD_PRE = "BACKWARD_PRE"
    BACKWARD_POST = "BACKWARD_POST"

    @staticmethod
    def to_native_backward_prefetch(value: str) -> Any:
        """Convert ``"BACKWARD_PRE"`` / ``"BACKWARD_POST"`` (any case) to torch's enum member.

        Raises:
            ValueError: if the name is not a torch backward-prefetch mode.
        """
        return _native_member("BackwardPrefetch", value, "backward_prefetch")


class StateDictType:
    """Names of FSDP state-dict types (``torch.distributed.fsdp.StateDictType``)."""

    FULL_STATE_DICT = "FULL_STATE_DICT"
    LOCAL_STATE_DICT = "LOCAL_STATE_DICT"
    SHARDED_STATE_DICT = "SHARDED_STATE_DICT"

    @staticmethod
    def to_native_state_dict_type(value: str) -> Any:
        """Convert a name such as ``"SHARDED_STATE_DICT"`` (any case) to torch's enum member.

        Raises:
            ValueError: if the name is not a torch state-dict type.
        """
        return _native_member("StateDictType", value, "state_dict_type")


_DTYPE_NAMES = {
    "fp16": torch.float16,
    "float16": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp32": torch.float32,
    "float32": torch.float32,
}


def _dtype_from_str(value: Optional[str], arg_name: str) -> Optional[torch.dtype]:
    if value is None:
        return None
    if isinstance(value, torch.dtype):
        return value
    dtype = _DTYPE_NAMES.get(str(value).lower())
    if dtype is None:
        raise ValueError(f"{arg_name}={value!r} is invalid: expected one of {list(_DTYPE_NAMES)}")
    return dtype


@dataclass
class MixedPrecision:
    """FSDP1 mixed-precision settings with dtypes given as strings (``"bf16"``, ``"fp32"``...).

    Fields mirror ``torch.distributed.fsdp.MixedPrecision``; :meth:`to_native_mixed_precision`
    builds that object.
    """

    param_dtype: Optional[str] = None
    reduce_dtype: Optional[str] = None
    buffer_dtype: Optional[str] = None
    keep_low_precision_grads: bool = False
    cast_forward_inputs: bool = False
    cast_root_forward_inputs: bool = True
    _module_classes_to_ignore: Sequence[Type[torch.nn.Module]] = (
        torch.nn.modules.batchnorm._BatchNorm,
    )

    def to_native_mixed_precision(self) -> NativeMixedPrecision:
        """Return the equivalent ``torch.distributed.fsdp.MixedPrecision``.

        Raises:
            ValueError: if a dtype string is not one of fp16/float16, bf16/bfloat16,
                fp32/float32.
        """
        from torch.distributed.fsdp import MixedPrecision as NativeMixedPrecision

        return NativeMixedPrecision(
            param_dtype=_dtype_from_str(self.param_dtype, "param_dtype"),
            reduce_dtype=_dtype_from_str(self.reduce_dtype, "reduce_dtype"),
            buffer_dtype=_dtype_from_str(self.buffer_dtype, "buffer_dtype"),
            keep_low_precision_grads=self.keep_low_precision_grads,
            cast_forward_inputs=self.cast_forward_inputs,
            cast_root_forward_inputs=self.cast_root_forward_inputs,
            _module_classes_to_ignore=self._module_classes_to_ignore,
        )
