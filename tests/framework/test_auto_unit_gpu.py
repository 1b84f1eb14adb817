"""AutoUnit paths that need CUDA: GradScaler, prefetch side stream, NCCL DDP."""

from typing import Any, Optional, Tuple

import pytest
import torch

from tests.framework.test_auto_unit import (
    RegressionUnit,
    flat_params,
    make_batches,
    make_linear,
    reference_sgd,
)
from tests.framework.test_auto_unit_base import marked_batches
from tests.framework.test_auto_unit_distributed import make_mlp, rank_batches
from torchtnt.framework.train import train
from torchtnt.utils.distributed import spawn_multi_process

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@requires_cuda
def test_fp16_uses_an_enabled_grad_scaler_on_cuda() -> None:
    cuda = torch.device("cuda")
    unit = RegressionUnit(module=make_linear(), device=cuda, precision="fp16")
    scaler = unit.grad_scaler
    assert isinstance(scaler, torch.amp.GradScaler) and scaler.is_enabled()
    batches = make_batches(3)
    train(unit, batches, max_epochs=1)
    assert unit.results[0][1].outputs.dtype == torch.float16
    assert scaler.get_scale() > 0
    assert next(unit.module.parameters()).dtype == torch.float32
    expected = reference_sgd(make_linear(), batches, lr=0.1)
    torch.testing.assert_close(flat_params(unit.module).cpu(), expected, rtol=1e-2, atol=1e-3)


@pytest.mark.gpu
@requires_cuda
def test_prefetch_on_cuda_uses_a_side_stream_and_keeps_order() -> None:
    cuda = torch.device("cuda")
    unit = RegressionUnit(module=make_linear(), device=cuda)
    assert unit._prefetch_stream is not None and unit._default_stream is not None
    train(unit, marked_batches(4), max_epochs=2, max_steps_per_epoch=3)
    assert all(x.device.type == "cuda" for x in unit.seen)
    assert [int(x[0, 0]) for x in unit.seen] == [0, 1, 2, 3, 0, 1]
    off = RegressionUnit(module=make_linear(), device=cuda, enable_prefetch=False)
    assert off._prefetch_stream is None


def _nccl_ddp_grads() -> torch.Tensor:
    import torch.distributed as dist

    rank = dist.get_rank()
    device = torch.device("cuda", rank)
    torch.cuda.set_device(device)
    unit = RegressionUnit(
        module=make_mlp(), device=device, strategy="ddp", zero_grad_at_train_step_start=True
    )
    train(unit, [(x.to(device), y.to(device)) for x, y in rank_batches(rank)[:1]], max_epochs=1)
    return unit.grads_at_step_end[0].cpu()


@pytest.mark.gpu
@pytest.mark.distributed
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_nccl_ddp_gradients_equal_across_ranks() -> None:
    g0, g1 = spawn_multi_process(2, "nccl", _nccl_ddp_grads)
    torch.testing.assert_close(g0, g1, rtol=0, atol=0)


def _train_on_one_gpu(strategy: str, precision: Optional[str] = None) -> Tuple[str, str, Any]:
    """One NCCL rank on GPU 0: train 3 steps; return the module's and the grad scaler's type
    names and the trained parameters (on the CPU)."""
    device = torch.device("cuda", 0)
    torch.cuda.set_device(device)
    unit = RegressionUnit(
        module=make_linear(), device=device, strategy=strategy, precision=precision
    )
    scaler = unit.grad_scaler
    if scaler is not None:
        assert scaler.is_enabled()
    train(unit, make_batches(3), max_epochs=1)
    return type(unit.module).__name__, type(scaler).__name__, flat_params(unit.module).cpu()


@pytest.mark.gpu
@pytest.mark.distributed
@requires_cuda
def test_nccl_ddp_on_one_gpu_trains_like_plain_sgd() -> None:
    # One rank is enough to run the NCCL process group, DDP on CUDA and its gradient hooks.
    ((module_type, _, params),) = spawn_multi_process(1, "nccl", _train_on_one_gpu, "ddp")
    assert module_type == "DistributedDataParallel"
    expected = reference_sgd(make_linear(), make_batches(3), lr=0.1)
    torch.testing.assert_close(params, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.distributed
@requires_cuda
def test_fsdp2_fp16_uses_the_sharded_scaler_and_trains() -> None:
    ((_, scaler_type, params),) = spawn_multi_process(1, "nccl", _train_on_one_gpu, "fsdp2", "fp16")
    assert scaler_type == "ShardedGradScaler"
    expected = reference_sgd(make_linear(), make_batches(3), lr=0.1)
    torch.testing.assert_close(params, expected, rtol=1e-2, atol=1e-3)
