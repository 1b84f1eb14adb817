import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import torch
import torch.distributed as dist

from torchtnt.utils import distributed as tnt_dist
from torchtnt.utils.distributed import (
    PGWrapper,
    ProcessGroupSetupParams,
    _BatchNormXd,
    _get_free_port,
    _validate_global_rank_world_size,
    all_gather_str,
    all_gather_tensors,
    barrier,
    broadcast_str,
    destroy_process_group,
    get_file_init_method,
    get_global_rank,
    get_local_rank,
    get_local_world_size,
    get_or_create_gloo_pg,
    get_process_group_backend_from_device,
    get_tcp_init_method,
    get_world_size,
    local_rank_zero_fn,
    rank_zero_fn,
    rank_zero_read_and_broadcast,
    revert_sync_batchnorm,
    spawn_multi_process,
    sync_bool,
)

_DIST_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _DIST_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# ---------------------------------------------------------------------------------------
# Single-process behaviour (no process group)
# ---------------------------------------------------------------------------------------


def test_rank_and_world_size_fall_back_to_env(clean_env: pytest.MonkeyPatch) -> None:
    assert (get_global_rank(), get_world_size()) == (0, 1)
    assert (get_local_rank(), get_local_world_size()) == (0, 1)
    clean_env.setenv("RANK", "3")
    clean_env.setenv("WORLD_SIZE", "8")
    clean_env.setenv("LOCAL_RANK", "1")
    clean_env.setenv("LOCAL_WORLD_SIZE", "4")
    assert (get_global_rank(), get_world_size()) == (3, 8)
    assert (get_local_rank(), get_local_world_size()) == (1, 4)


def test_non_decimal_env_is_ignored(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RANK", "-1")
    clean_env.setenv("WORLD_SIZE", "two")
    clean_env.setenv("LOCAL_RANK", "")
    assert (get_global_rank(), get_world_size(), get_local_rank()) == (0, 1, 0)


def test_initialized_group_takes_precedence_over_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RANK", "3")
    with (
        mock.patch.object(tnt_dist.dist, "is_initialized", return_value=True),
        mock.patch.object(tnt_dist.dist, "get_rank", return_value=5),
        mock.patch.object(tnt_dist.dist, "get_world_size", return_value=6),
    ):
        assert (get_global_rank(), get_world_size()) == (5, 6)


def test_barrier_and_destroy_are_noops_without_group() -> None:
    assert not dist.is_initialized()
    barrier()
    destroy_process_group()
    with (
        mock.patch.object(tnt_dist.dist, "is_initialized", return_value=True),
        mock.patch.object(tnt_dist.dist, "destroy_process_group") as destroy,
    ):
        destroy_process_group()
    destroy.assert_called_once_with()


def test_backend_from_device() -> None:
    assert get_process_group_backend_from_device(torch.device("cuda:1")) == "nccl"
    assert get_process_group_backend_from_device(torch.device("cpu")) == "gloo"
    assert get_process_group_backend_from_device(torch.device("meta")) == "gloo"


@pytest.mark.parametrize(
    ("world_size", "rank", "message"),
    [
        (0, 0, "world_size=0 is invalid"),
        (2, -1, "rank=-1 is invalid"),
        (2, 2, "rank=2 is invalid for world_size=2"),
    ],
)
def test_validate_rank_world_size(world_size: int, rank: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _validate_global_rank_world_size(world_size, rank)
    _validate_global_rank_world_size(2, 1)


def test_init_method_urls(clean_env: pytest.MonkeyPatch) -> None:
    assert (
        get_file_init_method(world_size=4, rank=2, filename="/tmp/store")
        == "file:///tmp/store?world_size=4&rank=2"
    )
    assert (
        get_tcp_init_method(world_size=4, rank=3, hostname="node0", port=2345)
        == "tcp://node0:2345?world_size=4&rank=3"
    )
    # Defaults: rank/world size from the environment, a temp file, localhost, a free port.
    clean_env.setenv("RANK", "1")
    clean_env.setenv("WORLD_SIZE", "2")
    url = get_file_init_method()
    path, query = url.removeprefix("file://").split("?")
    assert query == "world_size=2&rank=1"
    assert os.path.isfile(path)
    os.remove(path)
    host_port, query = get_tcp_init_method().removeprefix("tcp://").split("?")
    host, port = host_port.split(":")
    assert (host, query) == ("localhost", "world_size=2&rank=1")
    assert 0 < int(port) < 65536
    with pytest.raises(ValueError, match="rank=5 is invalid"):
        get_tcp_init_method(world_size=2, rank=5)


def test_collectives_without_group_return_local_values() -> None:
    t = torch.tensor([1, 2])
    gathered = all_gather_tensors(t)
    assert len(gathered) == 1 and gathered[0] is t
    assert sync_bool(True) is True
    assert sync_bool(False, coherence_mode="all") is False
    assert broadcast_str("abc") == "abc"
    assert broadcast_str(None, fixed_buffer_size=4) is None
    assert all_gather_str("abc") == ["abc"]
    with get_or_create_gloo_pg() as pg:
        assert pg is None


@pytest.mark.parametrize("mode", ["most", None, [1]])
def test_sync_bool_rejects_unknown_mode(mode: Any) -> None:
    with pytest.raises(TypeError, match="coherence_mode="):
        sync_bool(True, coherence_mode=mode)


@pytest.mark.parametrize("size", [0, -3])
def test_broadcast_str_rejects_non_positive_buffer(size: int) -> None:
    with pytest.raises(ValueError, match=f"fixed_buffer_size={size} is invalid"):
        broadcast_str("abc", fixed_buffer_size=size)


def test_rank_zero_decorators_follow_env_ranks(clean_env: pytest.MonkeyPatch) -> None:
    @rank_zero_fn
    def global_fn(x: int) -> int:
        """Doubles."""
        return 2 * x

    @local_rank_zero_fn
    def local_fn(x: int) -> int:
        return 3 * x

    assert global_fn.__name__ == "global_fn" and global_fn.__doc__ == "Doubles."
    assert (global_fn(2), local_fn(2)) == (4, 6)
    clean_env.setenv("RANK", "1")
    assert (global_fn(2), local_fn(2)) == (None, 6)
    clean_env.setenv("LOCAL_RANK", "1")
    assert local_fn(2) is None


def test_rank_zero_fn_uses_patchable_get_global_rank() -> None:
    wrapped = rank_zero_fn(lambda: "ran")
    with mock.patch.object(tnt_dist, "get_global_rank", return_value=1):
        assert wrapped() is None
    assert wrapped() == "ran"


def test_rank_zero_read_and_broadcast_without_group(clean_env: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    @rank_zero_read_and_broadcast
    def read(path: str, *, mode: str = "r") -> str:
        calls.append((path, mode))
        return f"{path}:{mode}"

    # The process_group keyword is consumed by the decorator, never passed on.
    assert read("a", mode="rb", process_group=None) == "a:rb"
    assert calls == [("a", "rb")]
    clean_env.setenv("RANK", "1")
    assert read("b") is None
    assert calls == [("a", "rb")]


def test_pg_wrapper_without_group() -> None:
    pg = PGWrapper(None)
    assert pg.pg is None
    assert (pg.get_rank(), pg.get_world_size()) == (0, 1)
    pg.barrier()
    objs = ["x", "y"]
    pg.broadcast_object_list(objs)
    assert objs == ["x", "y"]
    gathered: list[Any] = [None]
    pg.all_gather_object(gathered, {"a": 1})
    assert gathered == [{"a": 1}]
    out: list[Any] = [None]
    pg.scatter_object_list(out, ["only"])
    assert out == ["only"]
    with pytest.raises(RuntimeError, match="expected 1 items, got 2"):
        pg.scatter_object_list(out, ["a", "b"])


def test_revert_sync_batchnorm_preserves_parameters_and_outputs() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 1), torch.nn.SyncBatchNorm(3), torch.nn.ReLU()
    )
    sync_bn = model[1]
    with torch.no_grad():
        sync_bn.weight.copy_(torch.tensor([0.5, 1.5, 2.0]))
        sync_bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
        sync_bn.running_mean.copy_(torch.tensor([1.0, 2.0, 3.0]))
        sync_bn.running_var.copy_(torch.tensor([4.0, 5.0, 6.0]))
    sync_bn.num_batches_tracked.fill_(7)
    model.eval()
    x = torch.randn(4, 2, 5, 5)
    reference = torch.nn.BatchNorm2d(3).eval()
    reference.load_state_dict(sync_bn.state_dict())
    expected = torch.relu(reference(model[0](x)))

    reverted = revert_sync_batchnorm(model)
    assert reverted is model
    bn = reverted[1]
    assert type(bn) is _BatchNormXd
    assert not bn.training
    for key, value in reference.state_dict().items():
        assert torch.equal(bn.state_dict()[key], value), key
    assert int(bn.num_batches_tracked) == 7
    torch.testing.assert_close(reverted(x), expected)
    # A bare SyncBatchNorm is replaced and returned; other modules come back as they are.
    assert type(revert_sync_batchnorm(torch.nn.SyncBatchNorm(2))) is _BatchNormXd
    linear = torch.nn.Linear(2, 2)
    assert revert_sync_batchnorm(linear) is linear


def test_revert_sync_batchnorm_keeps_the_parameters_themselves() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.SyncBatchNorm(4)).double()
    model[1].requires_grad_(False)  # a frozen norm layer
    weight, bias = model[1].weight, model[1].bias
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    reverted = revert_sync_batchnorm(model).eval()
    bn = reverted[1]
    assert bn.weight is weight and bn.bias is bias  # the optimizer still updates these
    assert {id(p) for p in optimizer.param_groups[0]["params"]} == {
        id(p) for p in reverted.parameters()
    }
    assert bn.weight.dtype == torch.float64 and not bn.weight.requires_grad
    assert reverted(torch.randn(3, 4, dtype=torch.float64)).dtype == torch.float64
    # Moving to a device makes new parameters, keeping requires_grad.
    moved = revert_sync_batchnorm(torch.nn.SyncBatchNorm(2).requires_grad_(False), "meta")
    assert moved.weight.device.type == "meta" and not moved.weight.requires_grad


def test_spawn_multi_process_rejects_empty_world() -> None:
    with pytest.raises(ValueError, match="world_size=0 is invalid"):
        spawn_multi_process(0, "gloo", print)


def test_process_group_setup_params_fields() -> None:
    params = ProcessGroupSetupParams(backend="gloo", port="1234", world_size=2, timeout_s=5)
    assert (params.backend, params.port, params.world_size, params.timeout_s) == (
        "gloo",
        "1234",
        2,
        5,
    )


# ---------------------------------------------------------------------------------------
# Two real gloo ranks. One spawned run performs every check and returns what it saw;
# test_two_gloo_ranks asserts each part (spawning costs seconds, checks cost nothing).
# ---------------------------------------------------------------------------------------


def _gather_checks(rank: int) -> dict[str, Any]:
    return {
        # shapes (1, 3) and (2, 3): uneven first dim
        "rows": all_gather_tensors(torch.arange(3 * (rank + 1)).reshape(rank + 1, 3) + 10 * rank),
        # shapes (1, 2) and (2, 3): uneven in every dim
        "both_dims": all_gather_tensors(torch.full((rank + 1, rank + 2), float(rank))),
        "scalar": all_gather_tensors(torch.tensor(1.5 * rank)),
        "same": all_gather_tensors(torch.tensor([rank, rank + 1])),
        "empty": all_gather_tensors(torch.ones(rank, 2)),
    }


def _sync_bool_checks(rank: int) -> dict[str, bool]:
    modes: list[Any] = ["any", "all", "rank_zero", 1, 2, 0.5, 0.75]
    results = {}
    for name, val in {"only_rank1": rank == 1, "only_rank0": rank == 0}.items():
        for mode in modes:
            results[f"{name}/{mode}"] = sync_bool(val, coherence_mode=mode)
    results["none/any"] = sync_bool(False)
    results["both/all"] = sync_bool(True, pg=dist.group.WORLD, coherence_mode="all")
    return results


def _error_text(fn: Any) -> str:
    try:
        fn()
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return "no error"


def _str_checks(rank: int) -> dict[str, Any]:
    mine = {0: "héllo wörld", 1: "from rank one"}[rank]
    return {
        "from0": broadcast_str(mine if rank == 0 else None),
        "from1": broadcast_str(mine, src=1),
        "fixed": broadcast_str(mine if rank == 0 else None, fixed_buffer_size=64),
        "fixed_exact": broadcast_str("abcd" if rank == 0 else "zz", fixed_buffer_size=4),
        "none": broadcast_str(None),
        "none_fixed": broadcast_str(None, fixed_buffer_size=8),
        "empty": broadcast_str(""),
        "overflow": _error_text(lambda: broadcast_str(mine, fixed_buffer_size=3)),
        "gather": all_gather_str("r0" if rank == 0 else "rank-one"),
        "gather_empty": all_gather_str("" if rank == 0 else "x"),
    }


_READ_CALLS: list[str] = []


@rank_zero_read_and_broadcast
def _read_config(name: str) -> dict[str, Any]:
    _READ_CALLS.append(name)
    return {"name": name, "read_by": get_global_rank()}


@rank_zero_read_and_broadcast
def _read_broken(name: str) -> None:
    raise FileNotFoundError(f"no such config: {name}")


def _pg_wrapper_checks(rank: int) -> dict[str, Any]:
    pg = PGWrapper(None)
    pg.barrier()
    objs: list[Any] = [f"from{rank}", rank]
    pg.broadcast_object_list(objs, src=1)
    gathered: list[Any] = [None, None]
    pg.all_gather_object(gathered, {"rank": rank})
    scattered: list[Any] = [None]
    pg.scatter_object_list(scattered, ["for0", "for1"] if rank == 0 else None, src=0)
    # NCCL has no object scatter; its broadcast-based emulation also runs on gloo.
    emulated: list[Any] = [None]
    with mock.patch.object(tnt_dist.dist, "get_backend", return_value="nccl"):
        pg.scatter_object_list(emulated, ["e0", "e1"] if rank == 1 else None, src=1)
    # Only the source rank validates (and raises before any communication).
    bad_scatter = (
        _error_text(lambda: pg.scatter_object_list([None], ["one"])) if rank == 0 else None
    )
    return {
        "is_world": pg.pg is dist.group.WORLD,
        "rank_world": (pg.get_rank(), pg.get_world_size()),
        "broadcast": objs,
        "all_gather": gathered,
        "scatter": scattered,
        "scatter_nccl_emulated": emulated,
        "bad_scatter": bad_scatter,
    }


def _barrier_check(rank: int, marker: str) -> bool:
    if rank == 0:
        with open(marker, "w") as f:
            f.write("before barrier")
    barrier()
    return os.path.exists(marker)


def _gloo_pg_checks() -> dict[str, Any]:
    with get_or_create_gloo_pg() as pg:
        reused_world = pg is dist.group.WORLD
    # Pretend the default group is NCCL so a separate gloo group must be created.
    with mock.patch.object(tnt_dist.dist, "get_backend", return_value="nccl"):
        with get_or_create_gloo_pg() as pg:
            new_group = pg is not dist.group.WORLD
            t = torch.tensor([dist.get_rank() + 1])
            dist.all_reduce(t, group=pg)
            backend = dist.distributed_c10d.get_backend(pg)
    return {"reused_world": reused_world, "new_group": new_group, "sum": int(t), "backend": backend}


def _reinit_checks(rank: int, file_store: str, tcp_port: int) -> dict[str, int]:
    sums = {}
    init_methods = {
        "file": get_file_init_method(world_size=2, rank=rank, filename=file_store),
        "tcp": get_tcp_init_method(world_size=2, rank=rank, port=tcp_port),
    }
    for name, url in init_methods.items():
        dist.destroy_process_group()
        dist.init_process_group("gloo", init_method=url)
        t = torch.tensor([10 * (rank + 1)])
        dist.all_reduce(t)
        sums[name] = int(t)
        sums[f"{name}_world"] = dist.get_world_size()
    return sums


def _two_rank_worker(marker: str, file_store: str, tcp_port: int, *, tag: str) -> dict[str, Any]:
    rank = dist.get_rank()

    @rank_zero_fn
    def global_zero() -> int:
        return rank

    @local_rank_zero_fn
    def local_zero() -> int:
        return rank

    results: dict[str, Any] = {
        "tag": tag,
        "ranks": (get_global_rank(), get_world_size(), get_local_rank(), get_local_world_size()),
        "env": {k: os.environ[k] for k in ("MASTER_ADDR", "WORLD_SIZE", "LOCAL_RANK")},
        "master_port_set": os.environ["MASTER_PORT"].isdecimal(),
        "gather": _gather_checks(rank),
        "sync_bool": _sync_bool_checks(rank),
        "str": _str_checks(rank),
        "read": _read_config("cfg", process_group=dist.group.WORLD),
        "read_calls": list(_READ_CALLS),
        "read_error": _error_text(lambda: _read_broken("x.yaml")),
        "pg_wrapper": _pg_wrapper_checks(rank),
        "barrier": _barrier_check(rank, marker),
        "rank_zero_fn": (global_zero(), local_zero()),
        "gloo_pg": _gloo_pg_checks(),
    }
    results["reinit"] = _reinit_checks(rank, file_store, tcp_port)
    return results


def _check_spawn_returns_per_rank_values_and_sets_env(
    results: list[dict[str, Any]],
) -> None:
    assert len(results) == 2
    for rank, res in enumerate(results):
        assert res["tag"] == "kw"
        assert res["ranks"] == (rank, 2, rank, 2)
        assert res["env"] == {
            "MASTER_ADDR": "localhost",
            "WORLD_SIZE": "2",
            "LOCAL_RANK": str(rank),
        }
        assert res["master_port_set"]


def _check_all_gather_tensors_uneven_shapes(results: list[dict[str, Any]]) -> None:
    for res in results:
        g = res["gather"]
        assert [t.tolist() for t in g["rows"]] == [[[0, 1, 2]], [[10, 11, 12], [13, 14, 15]]]
        assert [t.tolist() for t in g["both_dims"]] == [[[0.0, 0.0]], [[1.0] * 3, [1.0] * 3]]
        assert [t.tolist() for t in g["scalar"]] == [0.0, 1.5]
        assert [t.tolist() for t in g["same"]] == [[0, 1], [1, 2]]
        assert [tuple(t.shape) for t in g["empty"]] == [(0, 2), (1, 2)]
        assert g["rows"][1].dtype == torch.int64 and g["both_dims"][0].dtype == torch.float32


def _check_sync_bool_coherence_modes(results: list[dict[str, Any]]) -> None:
    expected = {
        "only_rank1/any": True,
        "only_rank1/all": False,
        "only_rank1/rank_zero": False,
        "only_rank1/1": True,
        "only_rank1/2": False,
        "only_rank1/0.5": True,
        "only_rank1/0.75": False,
        "only_rank0/any": True,
        "only_rank0/all": False,
        "only_rank0/rank_zero": True,
        "only_rank0/1": True,
        "only_rank0/2": False,
        "only_rank0/0.5": True,
        "only_rank0/0.75": False,
        "none/any": False,
        "both/all": True,
    }
    for res in results:
        assert res["sync_bool"] == expected


def _check_broadcast_and_gather_strings(results: list[dict[str, Any]]) -> None:
    for res in results:
        s = res["str"]
        assert s["from0"] == "héllo wörld"
        assert s["from1"] == "from rank one"
        assert s["fixed"] == "héllo wörld"
        assert s["fixed_exact"] == "abcd"
        assert s["none"] is None and s["none_fixed"] is None
        assert s["empty"] == ""
        # Every rank learns about the overflow instead of hanging.
        assert s["overflow"].startswith("ValueError: broadcast_str: the string on rank 0")
        assert "fixed_buffer_size=3" in s["overflow"]
        assert s["gather"] == ["r0", "rank-one"]
        assert s["gather_empty"] == ["", "x"]


def _check_rank_zero_read_and_broadcast(results: list[dict[str, Any]]) -> None:
    for rank, res in enumerate(results):
        assert res["read"] == {"name": "cfg", "read_by": 0}
        assert res["read_calls"] == (["cfg"] if rank == 0 else [])
        assert res["read_error"] == "FileNotFoundError: no such config: x.yaml"


def _check_pg_wrapper_collectives(results: list[dict[str, Any]]) -> None:
    for rank, res in enumerate(results):
        p = res["pg_wrapper"]
        assert p["is_world"]
        assert p["rank_world"] == (rank, 2)
        assert p["broadcast"] == ["from1", 1]
        assert p["all_gather"] == [{"rank": 0}, {"rank": 1}]
        assert p["scatter"] == [f"for{rank}"]
        assert p["scatter_nccl_emulated"] == [f"e{rank}"]
    assert "expected 2 items, got 1" in results[0]["pg_wrapper"]["bad_scatter"]


def _check_barrier_and_rank_zero_fn(results: list[dict[str, Any]]) -> None:
    assert [res["barrier"] for res in results] == [True, True]
    assert [res["rank_zero_fn"] for res in results] == [(0, 0), (None, None)]


def _check_get_or_create_gloo_pg(results: list[dict[str, Any]]) -> None:
    for res in results:
        assert res["gloo_pg"] == {
            "reused_world": True,
            "new_group": True,
            "sum": 3,
            "backend": "gloo",
        }


def _check_file_and_tcp_init_methods(results: list[dict[str, Any]]) -> None:
    for res in results:
        assert res["reinit"] == {"file": 30, "file_world": 2, "tcp": 30, "tcp_world": 2}


@pytest.mark.distributed
def test_two_gloo_ranks(tmp_path: Path) -> None:
    """One spawned run performs every check; each _check_* helper asserts one part."""
    results = spawn_multi_process(
        2,
        "gloo",
        _two_rank_worker,
        str(tmp_path / "marker"),
        str(tmp_path / "file_store"),
        _get_free_port(),
        tag="kw",
        timeout_s=30,
    )
    _check_spawn_returns_per_rank_values_and_sets_env(results)
    _check_all_gather_tensors_uneven_shapes(results)
    _check_sync_bool_coherence_modes(results)
    _check_broadcast_and_gather_strings(results)
    _check_rank_zero_read_and_broadcast(results)
    _check_pg_wrapper_collectives(results)
    _check_barrier_and_rank_zero_fn(results)
    _check_get_or_create_gloo_pg(results)
    _check_file_and_tcp_init_methods(results)


def _fail_on_rank_one() -> None:
    if dist.get_rank() == 1:
        raise KeyError("missing batch key on the second rank")
    # Rank 0 waits in a collective and fails once rank 1 is gone: that error must not
    # hide the root cause.
    barrier()


@pytest.mark.distributed
def test_spawn_reports_the_failing_rank_with_its_traceback() -> None:
    with pytest.raises(torch.multiprocessing.ProcessRaisedException) as info:
        spawn_multi_process(2, "gloo", _fail_on_rank_one, timeout_s=30)
    message = str(info.value)
    assert "rank 1 failed first" in message
    assert "KeyError: 'missing batch key on the second rank'" in message
    assert "in _fail_on_rank_one" in message
    assert info.value.error_index == 1


def test_revert_sync_batchnorm_moves_to_device() -> None:
    bn = revert_sync_batchnorm(torch.nn.SyncBatchNorm(2), device="meta")
    assert {t.device.type for t in [*bn.parameters(), *bn.buffers()]} == {"meta"}
    no_stats = revert_sync_batchnorm(
        torch.nn.SyncBatchNorm(2, affine=False, track_running_stats=False)
    )
    assert no_stats.running_mean is None and no_stats.weight is None
