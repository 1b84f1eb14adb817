import warnings
from typing import Optional

import pytest
import torch
from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

from torchtnt.utils.precision import (
    convert_precision_str_to_dtype,
    get_grad_scaler_from_precision,
)


@pytest.mark.parametrize(
    ("name", "dtype"),
    [("fp16", torch.float16), ("bf16", torch.bfloat16), ("fp32", None)],
)
def test_convert_precision_str_to_dtype(name: str, dtype: Optional[torch.dtype]) -> None:
    assert convert_precision_str_to_dtype(name) is dtype


@pytest.mark.parametrize("name", ["fp64", "FP16", "", "float16"])
def test_convert_precision_str_rejects_unknown(name: str) -> None:
    with pytest.raises(ValueError) as info:
        convert_precision_str_to_dtype(name)
    assert str(info.value) == (
        f"precision={name!r} is not supported: expected one of ['fp16', 'bf16', 'fp32']"
    )


def test_fp16_gets_a_cuda_grad_scaler() -> None:
    with warnings.catch_warnings():
        # Without CUDA, torch disables the scaler and warns about it.
        warnings.simplefilter("ignore", UserWarning)
        scaler = get_grad_scaler_from_precision(torch.float16)
    assert type(scaler) is torch.amp.GradScaler
    assert scaler._device == "cuda"
    assert scaler.is_enabled() == torch.cuda.is_available()


def test_fp16_fsdp1_gets_a_sharded_grad_scaler() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        scaler = get_grad_scaler_from_precision(torch.float16, is_fsdp1_module=True)
    assert type(scaler) is ShardedGradScaler


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("fsdp1", [False, True, None])
def test_other_dtypes_need_no_scaler(dtype: torch.dtype, fsdp1: Optional[bool]) -> None:
    assert get_grad_scaler_from_precision(dtype, is_fsdp1_module=fsdp1) is None
