import json
import os
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.constants import default_pg_timeout

from torchtnt.utils.distributed import _get_free_port
from torchtnt.utils.env import init_from_env, seed

_DIST_ENV = ("MASTER_PORT", "MASTER_ADDR", "WORLD_SIZE", "RANK", "LOCAL_RANK")


@pytest.fixture
def no_dist_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _DIST_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def restore_determinism(monkeypatch: pytest.MonkeyPatch) -> Any:
    # seed() writes these; monkeypatch restores whatever was there before.
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    saved = (
        torch.get_deterministic_debug_mode(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    yield
    torch.set_deterministic_debug_mode(saved[0])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[1:]


def test_default_pg_timeout_is_torchs() -> None:
    assert default_pg_timeout == timedelta(minutes=30)


def test_init_from_env_single_process(no_dist_env: pytest.MonkeyPatch) -> None:
    assert init_from_env(device_type="cpu") == torch.device("cpu")
    assert not dist.is_initialized()
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert init_from_env() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only mismatch")
def test_init_from_env_rejects_unavailable_device_type(no_dist_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="device_type='cuda' was requested"):
        init_from_env(device_type="cuda")


def test_init_from_env_rejects_unknown_init_method(no_dist_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="dist_init_method_type='udp' is invalid"):
        init_from_env(dist_init_method_type="udp")  # type: ignore[arg-type]


def test_init_from_env_needs_all_four_variables(no_dist_env: pytest.MonkeyPatch) -> None:
    no_dist_env.setenv("MASTER_ADDR", "localhost")
    no_dist_env.setenv("WORLD_SIZE", "1")
    no_dist_env.setenv("RANK", "0")
    init_from_env(device_type="cpu")
    assert not dist.is_initialized()


def _init_from_env_worker(rank: int, ports: dict[str, int], out_dir: str) -> None:
    """Runs in a fresh process: set up the launcher's env vars, then let init_from_env join."""
    os.environ.update({"MASTER_ADDR": "localhost", "WORLD_SIZE": "2", "RANK": str(rank)})
    seen = {}
    for method, port in ports.items():
        os.environ["MASTER_PORT"] = str(port)
        device = init_from_env(
            device_type="cpu", dist_init_method_type=method, pg_timeout=timedelta(seconds=20)
        )
        # A second call must leave the existing group alone.
        init_from_env(device_type="cpu", dist_init_method_type=method)
        t = torch.tensor([rank + 1])
        dist.all_reduce(t)
        seen[method] = {
            "device": str(device),
            "backend": dist.get_backend(),
            "rank": dist.get_rank(),
            "world_size": dist.get_world_size(),
            "sum": int(t),
        }
        dist.destroy_process_group()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(seen, f)


@pytest.mark.distributed
def test_init_from_env_joins_process_group_in_spawned_processes(tmp_path: Path) -> None:
    ports = {method: _get_free_port() for method in ("env", "tcp", "file")}
    mp.spawn(_init_from_env_worker, args=(ports, str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        seen = json.loads((tmp_path / f"rank{rank}.json").read_text())
        expected = {"device": "cpu", "backend": "gloo", "rank": rank, "world_size": 2, "sum": 3}
        assert seen == {method: expected for method in ports}


def _draw() -> tuple[list[float], list[float], float]:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()


def test_seed_makes_torch_numpy_and_random_reproducible(restore_determinism: Any) -> None:
    seed(1234)
    first = _draw()
    seed(1234)
    assert _draw() == first
    seed(4321)
    assert _draw() != first
    assert os.environ["PYTHONHASHSEED"] == "4321"


@pytest.mark.parametrize("value", [-1, 2**32])
def test_seed_rejects_values_outside_uint32(value: int, restore_determinism: Any) -> None:
    with pytest.raises(
        ValueError, match=rf"seed={value} is invalid: expected an int in \[0, 4294967295\]"
    ):
        seed(value)


@pytest.mark.parametrize("value", ["3", 1.5, True, None])
def test_seed_rejects_non_ints_before_seeding_anything(
    value: Any, restore_determinism: Any
) -> None:
    before = torch.get_rng_state()
    with pytest.raises(TypeError, match=rf"seed={value!r} is invalid: expected an int"):
        seed(value)
    assert torch.equal(torch.get_rng_state(), before)


def test_seed_accepts_uint32_bounds(restore_determinism: Any) -> None:
    seed(0)
    seed(np.uint32(7))  # numpy integers too
    first = random.random()
    random.seed(7)
    assert first == random.random()
    seed(2**32 - 1)
    assert os.environ["PYTHONHASHSEED"] == str(2**32 - 1)


def test_seed_without_deterministic_leaves_settings(restore_determinism: Any) -> None:
    before = torch.get_deterministic_debug_mode()
    seed(5)
    assert torch.get_deterministic_debug_mode() == before
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ


@pytest.mark.parametrize(
    ("deterministic", "mode"), [("default", 0), (0, 0), ("warn", 1), (1, 1), ("error", 2)]
)
def test_seed_deterministic_modes(deterministic: Any, mode: int, restore_determinism: Any) -> None:
    seed(7, deterministic=deterministic)
    assert torch.get_deterministic_debug_mode() == mode
    assert torch.are_deterministic_algorithms_enabled() == (mode > 0)
    assert torch.backends.cudnn.deterministic == (mode > 0)
    assert torch.backends.cudnn.benchmark == (mode == 0)
    assert os.environ.get("CUBLAS_WORKSPACE_CONFIG") == (":4096:8" if mode > 0 else None)


def _elastic_worker() -> dict[str, Any]:
    init_from_env(device_type="cpu", dist_init_method_type="file")
    t = torch.tensor([dist.get_rank() + 1])
    dist.all_reduce(t)
    seen = {"sum": int(t), "world_size": dist.get_world_size(), "rank": dist.get_rank()}
    dist.destroy_process_group()
    return seen


@pytest.mark.distributed
def test_init_from_env_under_torchelastic() -> None:
    from torch.distributed.launcher import elastic_launch

    from torchtnt.utils.test_utils import get_pet_launch_config

    results = elastic_launch(get_pet_launch_config(2), entrypoint=_elastic_worker)()
    assert results == {rank: {"sum": 3, "world_size": 2, "rank": rank} for rank in range(2)}
