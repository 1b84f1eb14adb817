"""AutoUnit with DDP and FSDP2 on 2 real gloo ranks (one spawn for all checks)."""

from typing import Any, Dict, List

import pytest
import torch

from tests.framework.test_auto_unit import (
    CPU,
    Batch,
    NaNAtStep,
    RegressionUnit,
    flat_params,
    make_batches,
    reference_sgd,
)
from torchtnt.framework.auto_unit import SWAParams
from torchtnt.framework.train import train
from torchtnt.utils.distributed import spawn_multi_process
from torchtnt.utils.prepare_module import FSDP2Strategy, _is_fsdp2_module


def make_mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def rank_batches(rank: int) -> List[Batch]:
    return make_batches(4, batch_size=2, seed=100 + rank)


def _distributed_checks() -> Dict[str, Any]:
    import torch.distributed as dist

    rank = dist.get_rank()
    out: Dict[str, Any] = {}

    # DDP with 2 micro-steps per update: grads stay local on the first, synced on the second.
    ddp = RegressionUnit(
        module=make_mlp(),
        device=CPU,
        strategy="ddp",
        gradient_accumulation_steps=2,
        zero_grad_at_train_step_start=True,
        clip_grad_norm=1e6,
    )
    train(ddp, rank_batches(rank), max_epochs=1)
    out["ddp_type"] = type(ddp.module).__name__
    out["ddp_grads"] = ddp.grads_at_step_end
    out["ddp_params"] = flat_params(ddp.module)
    out["ddp_updates"] = [s for s, r in ddp.results if r.total_grad_norm is not None]

    clipped = RegressionUnit(
        module=make_mlp(),
        device=CPU,
        strategy="ddp",
        clip_grad_norm=0.05,
        zero_grad_at_train_step_start=True,
    )
    big = [(torch.full((2, 3), 5.0 * (rank + 1)), torch.full((2, 1), -9.0))]
    train(clipped, big, max_epochs=1)
    out["clip_norm_before"] = clipped.results[0][1].total_grad_norm
    out["clip_grads"] = clipped.grads_at_step_end[0]

    # FSDP2 with the default strategy shards just the root and trains out of the box.
    fsdp2 = RegressionUnit(
        module=make_mlp(), device=CPU, strategy="fsdp2", gradient_accumulation_steps=2
    )
    train(fsdp2, rank_batches(rank), max_epochs=1)
    out["fsdp2_is_fsdp2"] = _is_fsdp2_module(fsdp2.module)
    out["fsdp2_params"] = flat_params(fsdp2.module)

    # The user sharded a child, the root is plain: accumulation toggles the child's sync.
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    partly = make_mlp()
    fully_shard(partly[0], mesh=init_device_mesh("cpu", (2,)))
    partly_unit = RegressionUnit(module=partly, device=CPU, gradient_accumulation_steps=2)
    train(partly_unit, rank_batches(rank), max_epochs=1)
    out["partly_sharded_steps"] = partly_unit.train_progress.num_steps_completed

    # fp16 under FSDP2: the sharded scaler, whose overflow check all ranks agree on.
    fp16 = RegressionUnit(module=make_mlp(), device=CPU, strategy="fsdp2", precision="fp16")
    out["fsdp2_fp16_scaler"] = type(fp16.grad_scaler).__name__

    # Explicit modules_to_shard: every Linear becomes its own FSDP unit.
    per_layer = RegressionUnit(
        module=make_mlp(),
        device=CPU,
        strategy=FSDP2Strategy(modules_to_shard=[torch.nn.Linear]),
        clip_grad_norm=1e6,
    )
    train(per_layer, rank_batches(rank)[:2], max_epochs=1)
    from torch.distributed.fsdp import FSDPModule

    out["per_layer_sharded"] = [isinstance(m, FSDPModule) for m in per_layer.module]
    out["per_layer_norm_type"] = type(per_layer.results[0][1].total_grad_norm).__name__
    out["per_layer_params"] = flat_params(per_layer.module)

    # Weight averaging: under FSDP2 (named by a string) the average is kept in a copy
    # sharded like the model, and equals the DDP run's average.
    ema = SWAParams(
        warmup_steps_or_epochs=0,
        step_or_epoch_update_freq=1,
        averaging_method="ema",
        ema_decay=0.5,
    )
    for name in ("ddp", "fsdp2"):
        averaged = RegressionUnit(
            module=make_mlp(), device=CPU, strategy=name, step_lr_interval="step", swa_params=ema
        )
        train(averaged, rank_batches(rank), max_epochs=1)
        out[f"{name}_swa"] = flat_params(averaged.swa_model.module)
        out[f"{name}_swa_params"] = flat_params(averaged.module)

    # detect_anomaly under DDP names the step too.
    nan_unit = NaNAtStep(
        nan_step=1, module=make_mlp(), device=CPU, strategy="ddp", detect_anomaly=True
    )
    try:
        train(nan_unit, rank_batches(rank), max_epochs=1)
        out["nan_error"] = None
    except RuntimeError as err:
        out["nan_error"] = str(err)
    return out


def _global_batch(batches_per_rank: List[List[Batch]], indices: List[int]) -> Batch:
    xs = [b[i][0] for b in batches_per_rank for i in indices]
    ys = [b[i][1] for b in batches_per_rank for i in indices]
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.distributed
def test_ddp_and_fsdp2_on_two_gloo_ranks() -> None:
    r0, r1 = spawn_multi_process(2, "gloo", _distributed_checks)
    per_rank = [rank_batches(0), rank_batches(1)]
    # Single-process reference: each update sees the 2 micro-batches of both ranks at once.
    large = [_global_batch(per_rank, [0, 1]), _global_batch(per_rank, [2, 3])]
    expected = reference_sgd(make_mlp(), large, lr=0.1)

    assert r0["ddp_type"] == "DistributedDataParallel"
    assert r0["ddp_updates"] == [1, 3]
    assert not torch.allclose(r0["ddp_grads"][0], r1["ddp_grads"][0])  # no_sync: local grads
    torch.testing.assert_close(r0["ddp_grads"][1], r1["ddp_grads"][1], rtol=0, atol=0)
    torch.testing.assert_close(r0["ddp_params"], r1["ddp_params"], rtol=0, atol=0)
    torch.testing.assert_close(r0["ddp_params"], expected, rtol=1e-5, atol=1e-6)

    for r in (r0, r1):
        assert r["clip_norm_before"] > 0.05
        assert torch.linalg.vector_norm(r["clip_grads"]) == pytest.approx(0.05, rel=1e-4)
    torch.testing.assert_close(r0["clip_grads"], r1["clip_grads"], rtol=0, atol=0)

    # FSDP2 training matches single-process training within float32 reduction noise.
    assert r0["fsdp2_is_fsdp2"] and r1["fsdp2_is_fsdp2"]
    torch.testing.assert_close(r0["fsdp2_params"], expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(r1["fsdp2_params"], r0["fsdp2_params"], rtol=0, atol=0)

    assert r0["fsdp2_fp16_scaler"] == r1["fsdp2_fp16_scaler"] == "ShardedGradScaler"
    assert r0["partly_sharded_steps"] == r1["partly_sharded_steps"] == len(rank_batches(0))

    assert r0["per_layer_sharded"] == [True, False, True]
    assert r0["per_layer_norm_type"] == "Tensor"  # DTensor norm converted with full_tensor()
    one_step = reference_sgd(
        make_mlp(), [_global_batch(per_rank, [0]), _global_batch(per_rank, [1])], lr=0.1
    )
    torch.testing.assert_close(r0["per_layer_params"], one_step, rtol=1e-5, atol=1e-6)

    for r in (r0, r1):
        assert r["nan_error"] is not None and "train step 1 (0-based" in r["nan_error"]

    torch.testing.assert_close(r0["fsdp2_swa"], r0["ddp_swa"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(r1["fsdp2_swa"], r0["fsdp2_swa"], rtol=0, atol=0)
    assert not torch.allclose(r0["fsdp2_swa"], r0["fsdp2_swa_params"])  # an average
