"""prepare_module and friends: strategies, meta devices, compile, activation checkpointing,
and real DDP / FSDP / FSDP2 / tensor parallelism on 2 gloo ranks."""

import copy
from typing import Any, Dict, List

import pytest
import torch
import torch.distributed as dist

from torchtnt.utils.distributed import spawn_multi_process
from torchtnt.utils.prepare_module import (
    ActivationCheckpointParams,
    DDPStrategy,
    FSDP2Strategy,
    FSDPStrategy,
    MixedPrecision,
    NOOPStrategy,
    TorchCompileParams,
    TPStrategy,
    _check_and_convert_mp_policy_dtypes,
    _is_fsdp_module,
    apply_ac,
    apply_torch_compile,
    convert_str_to_strategy,
    get_module_state_dict,
    materialize_meta_params,
    on_meta_device,
    prepare_ddp,
    prepare_fsdp,
    prepare_fsdp2,
    prepare_module,
)

CPU = torch.device("cpu")


def make_mlp(seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def make_meta_mlp() -> torch.nn.Sequential:
    with torch.device("meta"):
        return make_mlp()


# --------------------------------------------------------------------------------------------
# strategies and parameter dataclasses


@pytest.mark.parametrize(
    "name, cls",
    [
        ("ddp", DDPStrategy),
        ("fsdp", FSDPStrategy),
        ("fsdp2", FSDP2Strategy),
        ("noop", NOOPStrategy),
    ],
)
def test_convert_str_to_strategy(name: str, cls: type) -> None:
    strategy = convert_str_to_strategy(name)
    assert type(strategy) is cls


def test_convert_str_to_strategy_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match=r"'DDP' not supported: expected one of \['ddp', 'fsdp'"):
        convert_str_to_strategy("DDP")


def test_strategy_defaults() -> None:
    ddp = DDPStrategy()
    assert (ddp.bucket_cap_mb, ddp.broadcast_buffers, ddp.static_graph) == (25, True, False)
    fsdp2 = FSDP2Strategy()
    assert fsdp2.modules_to_shard is None and fsdp2.shard_predicates == []
    assert fsdp2.reshard_after_forward is True and fsdp2.mp_policy is None
    assert FSDP2Strategy().shard_predicates is not fsdp2.shard_predicates
    params = TorchCompileParams()
    assert (params.backend, params.mode, params.recursive_module_types) == ("inductor", None, [])


def test_fsdp_strategy_converts_strings_to_native_types() -> None:
    from torch.distributed import fsdp

    default = FSDPStrategy()
    assert default.backward_prefetch is fsdp.BackwardPrefetch.BACKWARD_PRE
    strategy = FSDPStrategy(
        sharding_strategy="shard_grad_op",
        backward_prefetch="BACKWARD_POST",
        state_dict_type="SHARDED_STATE_DICT",
        mixed_precision=MixedPrecision(param_dtype="bf16", reduce_dtype="fp32"),
    )
    assert strategy.sharding_strategy is fsdp.ShardingStrategy.SHARD_GRAD_OP
    assert strategy.backward_prefetch is fsdp.BackwardPrefetch.BACKWARD_POST
    assert strategy.state_dict_type is fsdp.StateDictType.SHARDED_STATE_DICT
    assert isinstance(strategy.mixed_precision, fsdp.MixedPrecision)
    assert strategy.mixed_precision.param_dtype == torch.bfloat16
    assert strategy.mixed_precision.reduce_dtype == torch.float32
    assert strategy.mixed_precision.buffer_dtype is None
    with pytest.raises(ValueError, match=r"sharding_strategy='everything' is invalid"):
        FSDPStrategy(sharding_strategy="everything")
    with pytest.raises(ValueError, match=r"param_dtype='fp8' is invalid"):
        MixedPrecision(param_dtype="fp8").to_native_mixed_precision()


def test_check_and_convert_mp_policy_dtypes() -> None:
    from torch.distributed.fsdp import MixedPrecisionPolicy

    policy = _check_and_convert_mp_policy_dtypes(
        MixedPrecisionPolicy(param_dtype="bf16", reduce_dtype="fp32")  # type: ignore[arg-type]
    )
    assert policy.param_dtype == torch.bfloat16 and policy.reduce_dtype == torch.float32
    assert policy.output_dtype is None
    with pytest.raises(ValueError, match=r"mp_policy.param_dtype=16 is invalid"):
        _check_and_convert_mp_policy_dtypes(MixedPrecisionPolicy(param_dtype=16))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# single-process preparation


def test_no_strategy_moves_to_device_and_materializes_meta_params() -> None:
    module = make_mlp()
    assert prepare_module(module, CPU) is module

    meta = make_meta_mlp()
    assert on_meta_device(meta[0]) and not on_meta_device(meta)  # root owns no parameter
    prepared = prepare_module(meta, CPU)
    assert all(p.device == CPU for p in prepared.parameters())
    assert [tuple(p.shape) for p in prepared.parameters()] == [(8, 3), (8,), (2, 8), (2,)]


def test_noop_strategy_leaves_the_module_alone() -> None:
    meta = make_meta_mlp()
    assert prepare_module(meta, CPU, strategy="noop") is meta
    assert all(p.is_meta for p in meta.parameters())


def test_materialize_meta_params_only_touches_meta_submodules() -> None:
    module = make_mlp()
    with torch.device("meta"):
        module[2] = torch.nn.Linear(8, 2)
    kept = module[0].weight
    materialize_meta_params(module, CPU)
    assert module[0].weight is kept
    assert module[2].weight.device == CPU and not on_meta_device(module[2])
    assert not on_meta_device(torch.nn.Tanh())


def test_prepare_module_validates_strategy_and_mesh() -> None:
    with pytest.raises(ValueError, match=r"strategy=\['ddp'\] is invalid"):
        prepare_module(make_mlp(), CPU, strategy=["ddp"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not supported"):
        prepare_module(make_mlp(), CPU, strategy="zero3")
    with pytest.raises(ValueError, match="TPStrategy needs global_mesh"):
        prepare_module(make_mlp(), CPU, strategy=TPStrategy(tp_plan={}))
    for strategy in ("ddp", "fsdp", "fsdp2"):
        with pytest.raises(RuntimeError, match="needs an initialized default process group"):
            prepare_module(make_mlp(), CPU, strategy=strategy)


def test_compile_params_are_checked_before_anything_happens() -> None:
    meta = make_meta_mlp()
    with pytest.raises(ValueError, match=r"backend='nope' is not a registered"):
        prepare_module(meta, CPU, torch_compile_params=TorchCompileParams(backend="nope"))
    assert all(p.is_meta for p in meta.parameters())


def test_apply_torch_compile_in_place_keeps_state_dict_keys() -> None:
    module = make_mlp()
    keys = list(module.state_dict())
    inputs = torch.randn(4, 3)
    expected = module(inputs)
    apply_torch_compile(module, TorchCompileParams(backend="eager"))
    assert module._compiled_call_impl is not None
    assert list(module.state_dict()) == keys
    torch.testing.assert_close(module(inputs), expected)


def test_apply_torch_compile_recursive_module_types() -> None:
    module = make_mlp()
    apply_torch_compile(
        module, TorchCompileParams(backend="eager", recursive_module_types=["Tanh"])
    )
    assert [m._compiled_call_impl is not None for m in module] == [False, True, False]
    assert module._compiled_call_impl is None

    by_class = make_mlp()
    params = TorchCompileParams(backend="eager", recursive_module_types=[torch.nn.Linear])
    apply_torch_compile(by_class, params)
    assert [m._compiled_call_impl is not None for m in by_class] == [True, False, True]


def test_prepare_module_applies_checkpointing_then_compile() -> None:
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
        CheckpointImpl,
        CheckpointWrapper,
    )

    reference = make_mlp()
    module = copy.deepcopy(reference)
    ac = ActivationCheckpointParams(
        checkpoint_impl=CheckpointImpl.NO_REENTRANT,
        check_fn=lambda m: isinstance(m, torch.nn.Linear),
    )
    prepared = prepare_module(
        module,
        CPU,
        activation_checkpoint_params=ac,
        torch_compile_params=TorchCompileParams(backend="eager"),
    )
    assert [type(m) for m in prepared] == [CheckpointWrapper, torch.nn.Tanh, CheckpointWrapper]
    assert prepared._compiled_call_impl is not None

    inputs = torch.randn(5, 3)
    prepared(inputs).sum().backward()
    reference(inputs).sum().backward()
    ref_grads = [p.grad for p in reference.parameters()]
    grads = [p.grad for p in prepared.parameters()]
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want)


def test_apply_ac_with_a_context_fn() -> None:
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointImpl

    entered: List[str] = []

    class Marker:
        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self) -> None:
            entered.append(self.name)

        def __exit__(self, *exc: Any) -> None:
            pass

    module = make_mlp()
    params = ActivationCheckpointParams(
        checkpoint_impl=CheckpointImpl.NO_REENTRANT,
        check_fn=lambda m: isinstance(m, torch.nn.Tanh),
        context_fn=lambda: (Marker("forward"), Marker("recompute")),
    )
    apply_ac(module, params)
    module(torch.randn(2, 3)).sum().backward()
    assert entered == ["forward", "recompute"]


def test_get_module_state_dict_of_a_plain_module() -> None:
    module = make_mlp()
    state = get_module_state_dict(module)
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert not _is_fsdp_module(module)


# --------------------------------------------------------------------------------------------
# 2 ranks, gloo


def counting_allreduce_hook(
    state: Dict[str, int], bucket: dist.GradBucket
) -> torch.futures.Future[torch.Tensor]:
    """A DDP comm hook that counts its calls, then all-reduces as DDP would."""
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    state["calls"] += 1
    return allreduce_hook(None, bucket)  # type: ignore[arg-type]


def _fsdp2_sharded_names(module: torch.nn.Module) -> List[str]:
    from torch.distributed.fsdp import FSDPModule

    return [name for name, m in module.named_modules() if isinstance(m, FSDPModule)]


def _ddp_checks(rank: int, out: Dict[str, Any]) -> None:
    state = {"calls": 0}
    ddp = prepare_ddp(
        make_mlp(seed=rank),  # different init per rank: DDP broadcasts rank 0's weights
        CPU,
        DDPStrategy(comm_hook=counting_allreduce_hook, comm_state=state, sync_batchnorm=True),
    )
    out["ddp_params"] = torch.cat([p.detach().flatten() for p in ddp.parameters()])
    ddp(torch.randn(2, 3) + rank).sum().backward()
    out["ddp_hook_calls"] = state["calls"]
    out["ddp_grads"] = torch.cat([p.grad.flatten() for p in ddp.parameters()])
    out["ddp_state_keys"] = list(get_module_state_dict(ddp))


def _fsdp1_checks(rank: int, out: Dict[str, Any]) -> None:
    fsdp = prepare_fsdp(make_mlp(), CPU, FSDPStrategy())
    optimizer = torch.optim.Adam(fsdp.parameters(), lr=0.1)
    fsdp(torch.randn(2, 3) + rank).sum().backward()
    optimizer.step()
    out["fsdp1_type"] = type(fsdp).__name__
    out["fsdp1_is_fsdp"] = _is_fsdp_module(fsdp)
    full = get_module_state_dict(fsdp)
    out["fsdp1_state_keys"] = list(full)
    out["fsdp1_full_weight"] = full["0.weight"].clone()

    from torchtnt.utils.prepare_module import FSDPOptimizerWrapper

    wrapper = FSDPOptimizerWrapper(fsdp, optimizer)
    saved = wrapper.state_dict()
    out["fsdp1_optim_param_keys"] = sorted(saved["state"])
    wrapper.load_state_dict(saved)


def _fsdp2_checks(rank: int, out: Dict[str, Any]) -> None:
    from torchtnt.utils.prepare_module import FSDP2OptimizerWrapper

    out["fsdp2_all"] = _fsdp2_sharded_names(
        prepare_fsdp2(make_mlp(), CPU, FSDP2Strategy(modules_to_shard="all"))
    )
    with_list = torch.nn.Sequential(
        torch.nn.ModuleList([torch.nn.Linear(3, 3)]), torch.nn.Linear(3, 1)
    )
    out["fsdp2_all_list"] = _fsdp2_sharded_names(
        prepare_fsdp2(with_list, CPU, FSDP2Strategy(modules_to_shard="all"))
    )
    out["fsdp2_by_name"] = _fsdp2_sharded_names(
        prepare_fsdp2(make_mlp(), CPU, FSDP2Strategy(modules_to_shard=["Linear"]))
    )
    out["fsdp2_predicate"] = _fsdp2_sharded_names(
        prepare_fsdp2(make_mlp(), CPU, FSDP2Strategy(shard_predicates=[lambda n, m: n == "2"]))
    )
    out["fsdp2_root_only"] = _fsdp2_sharded_names(prepare_fsdp2(make_mlp(), CPU))
    try:
        prepare_fsdp2(make_mlp(), CPU, FSDP2Strategy(modules_to_shard=["Conv2d"]))
        out["fsdp2_no_match"] = None
    except ValueError as err:
        out["fsdp2_no_match"] = str(err)

    largest = prepare_fsdp2(make_mlp(), CPU, FSDP2Strategy(shard_on_largest_dim=True))
    out["fsdp2_placements"] = [str(p.placements[0]) for p in largest.parameters()]

    meta = prepare_fsdp2(make_meta_mlp(), CPU)
    out["fsdp2_meta_devices"] = {p.to_local().device.type for p in meta.parameters()}

    module = prepare_fsdp2(make_mlp(), CPU)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1)
    module(torch.randn(2, 3) + rank).sum().backward()
    optimizer.step()
    wrapper = FSDP2OptimizerWrapper(module, optimizer)
    saved = wrapper.state_dict()
    out["fsdp2_optim_keys"] = sorted(saved["state"])
    wrapper.load_state_dict(saved)


def _tp_checks(rank: int, out: Dict[str, Any]) -> None:
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel

    from torchtnt.utils.device_mesh import GlobalMeshCoordinator

    mesh = GlobalMeshCoordinator(tp=2, device_type="cpu")
    reference = make_mlp()
    plan = {"0": ColwiseParallel(), "2": RowwiseParallel()}
    module = prepare_module(
        copy.deepcopy(reference), CPU, strategy=TPStrategy(tp_plan=plan), global_mesh=mesh
    )
    inputs = torch.randn(4, 3)
    out["tp_max_diff"] = float((module(inputs) - reference(inputs)).abs().max())
    out["tp_local_weight_shape"] = tuple(module[0].weight.to_local().shape)


def _distributed_checks() -> Dict[str, Any]:
    import torch.distributed as dist

    rank = dist.get_rank()
    out: Dict[str, Any] = {}
    _ddp_checks(rank, out)
    _fsdp1_checks(rank, out)
    _fsdp2_checks(rank, out)
    _tp_checks(rank, out)
    return out


@pytest.mark.distributed
def test_strategies_on_two_gloo_ranks() -> None:
    r0, r1 = spawn_multi_process(2, "gloo", _distributed_checks)
    rank0_init = torch.cat([p.detach().flatten() for p in make_mlp(seed=0).parameters()])
    for r in (r0, r1):
        torch.testing.assert_close(r["ddp_params"], rank0_init, rtol=0, atol=0)
        assert r["ddp_hook_calls"] == 1
        assert r["ddp_state_keys"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    torch.testing.assert_close(r0["ddp_grads"], r1["ddp_grads"], rtol=0, atol=0)

    assert r0["fsdp1_type"] == "FullyShardedDataParallel" and r0["fsdp1_is_fsdp"]
    assert r0["fsdp1_state_keys"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    torch.testing.assert_close(r0["fsdp1_full_weight"], r1["fsdp1_full_weight"], rtol=0, atol=0)
    assert r0["fsdp1_optim_param_keys"] == ["0.bias", "0.weight", "2.bias", "2.weight"]

    assert r0["fsdp2_all"] == ["", "0", "1", "2"]  # the parameter-free Tanh too, as specified
    assert r0["fsdp2_all_list"] == ["", "0.0", "1"]  # the ModuleList itself is skipped
    assert r0["fsdp2_by_name"] == ["", "0", "2"]
    assert r0["fsdp2_predicate"] == ["", "2"]
    assert r0["fsdp2_root_only"] == [""]
    assert "matched no submodule of Sequential" in r0["fsdp2_no_match"]
    assert r0["fsdp2_placements"] == ["S(0)", "S(0)", "S(1)", "S(0)"]
    assert r0["fsdp2_meta_devices"] == {"cpu"}
    assert r0["fsdp2_optim_keys"] == ["0.bias", "0.weight", "2.bias", "2.weight"]

    for r in (r0, r1):
        assert r["tp_max_diff"] < 1e-6
        assert r["tp_local_weight_shape"] == (4, 3)  # column-wise: 8 outputs split in 2


def test_prepare_fsdp2_with_a_global_mesh_needs_no_default_group() -> None:
    from unittest.mock import MagicMock, patch

    from torch.distributed.device_mesh import DeviceMesh

    from torchtnt.utils.device_mesh import GlobalMeshCoordinator

    assert not torch.distributed.is_initialized()
    mesh = MagicMock(spec=GlobalMeshCoordinator)
    mesh.dp_mesh = MagicMock(spec=DeviceMesh)
    module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    with patch("torchtnt.utils.prepare_module.fully_shard") as fully_shard:
        prepare_fsdp2(module, CPU, FSDP2Strategy(modules_to_shard="all"), global_mesh=mesh)
    sharded = [type(c.args[0]).__name__ for c in fully_shard.call_args_list]
    assert sharded == ["ReLU", "Linear", "Sequential"]  # bottom-up, then the root
    assert all(c.kwargs["mesh"] is mesh.dp_mesh for c in fully_shard.call_args_list)
    assert fully_shard.call_args_list[-1].kwargs["reshard_after_forward"] is False
