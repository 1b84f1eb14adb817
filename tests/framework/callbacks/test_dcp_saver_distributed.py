"""DistributedCheckpointSaver on 2 real gloo ranks: DDP and FSDP2 save/restore (FSDP2
resharded to one rank), async saves with preemption, and the dirpath agreed by all ranks."""

import os
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import torch
import torch.distributed as dist
from torch import nn

from tests.framework.callbacks import _resume_kit as kit
from torchtnt.framework._test_utils import DummyTrainUnit, generate_random_dataloader
from torchtnt.framework.callbacks.checkpointer_types import RestoreOptions
from torchtnt.framework.callbacks.dcp_saver import DistributedCheckpointSaver
from torchtnt.framework.state import State
from torchtnt.framework.train import train
from torchtnt.framework.unit import TrainUnit


def _ddp_save_restore(root: str, async_checkpoint: bool) -> List[Any]:
    from torch.nn.parallel import DistributedDataParallel as DDP

    rank = torch.distributed.get_rank()
    torch.manual_seed(rank)  # different initial weights: DDP must sync them
    unit = DummyTrainUnit(2)
    unit.module = DDP(unit.module)
    unit.optimizer = torch.optim.Adam(unit.module.parameters(), lr=0.01)
    cb = DistributedCheckpointSaver(
        root,
        save_every_n_train_steps=2,
        keep_last_n_checkpoints=1,
        async_checkpoint=async_checkpoint,
    )
    train(unit, generate_random_dataloader(8, 2, 2), max_steps=4, callbacks=[cb])
    fresh = DummyTrainUnit(2)
    fresh.module = DDP(fresh.module)
    fresh.optimizer = torch.optim.Adam(fresh.module.parameters(), lr=0.01)
    assert DistributedCheckpointSaver.restore_from_latest(root, fresh)
    same = all(
        torch.equal(a, b)
        for a, b in zip(fresh.module.state_dict().values(), unit.module.state_dict().values())
    )
    exp_avg = fresh.optimizer.state_dict()["state"][0]["exp_avg"]
    return [
        same,
        fresh.train_progress.num_steps_completed,
        sorted(os.listdir(root)),
        exp_avg.sum().item(),
    ]


@pytest.mark.distributed
@pytest.mark.parametrize("async_checkpoint", [False, True])
def test_ddp_two_ranks_save_and_restore(tmp_path: Path, async_checkpoint: bool) -> None:
    results = kit.run_ranks(2, _ddp_save_restore, str(tmp_path), async_checkpoint)
    assert results[0][:3] == [True, 4, ["epoch_1_train_step_4"]]
    assert results[0] == results[1]


def _async_save_with_preemption(root: str) -> List[Any]:
    import faulthandler
    import signal

    from torchtnt.framework.callbacks.lambda_callback import Lambda

    faulthandler.dump_traceback_later(60, exit=True)  # a deadlock fails the test, not CI
    rank = torch.distributed.get_rank()

    def sigterm_rank_1_at_step_3(state: State, unit: Any) -> None:
        if rank == 1 and unit.train_progress.num_steps_completed == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives while step 2's save is written

    unit = DummyTrainUnit(2)
    cb = DistributedCheckpointSaver(
        root, save_every_n_train_steps=2, async_checkpoint=True, save_on_preemption=True
    )
    signal_cb = Lambda(on_train_step_start=sigterm_rank_1_at_step_3)
    train(unit, generate_random_dataloader(12, 2, 2), max_steps=6, callbacks=[signal_cb, cb])
    faulthandler.cancel_dump_traceback_later()
    return [unit.train_progress.num_steps_completed, sorted(os.listdir(root))]


@pytest.mark.distributed
def test_async_saves_and_preemption_together_on_two_ranks(tmp_path: Path) -> None:
    # The per-step preemption vote must not share a group with a save still being written
    # in the background (both ran collectives on it: a deadlock).
    results = kit.run_ranks(2, _async_save_with_preemption, str(tmp_path))
    assert results[0] == results[1] == [3, ["epoch_0_train_step_2", "epoch_0_train_step_3"]]
    assert (tmp_path / "epoch_0_train_step_3" / ".metadata").exists()


def _construct_with_rank_paths(good: str, bad_rank: int) -> List[Any]:
    rank = torch.distributed.get_rank()
    not_a_dir = os.path.join(good, "a_file")
    Path(not_a_dir).touch()
    path = os.path.join(not_a_dir, "run") if rank == bad_rank else good
    try:
        cb = DistributedCheckpointSaver(path, save_every_n_train_steps=1)
    except ValueError as e:
        return ["error", str(e)]
    return ["ok", cb.dirpath]


@pytest.mark.distributed
def test_every_rank_judges_rank_zeros_dirpath(tmp_path: Path) -> None:
    # Rank 0's dirpath is the one used, so a bad path elsewhere does not matter...
    assert kit.run_ranks(2, _construct_with_rank_paths, str(tmp_path), 1) == [
        ["ok", str(tmp_path)],
        ["ok", str(tmp_path)],
    ]
    # ...and a bad one on rank 0 fails on every rank alike, instead of leaving one waiting.
    results = kit.run_ranks(2, _construct_with_rank_paths, str(tmp_path), 0)
    assert [r[0] for r in results] == ["error", "error"]
    assert results[0][1] == results[1][1]
    assert f"dirpath='{tmp_path / 'a_file' / 'run'}' cannot be written" in results[0][1]


class _ShardableUnit(TrainUnit[Tuple[torch.Tensor, torch.Tensor]]):
    """A two-layer MLP with Adam, sharded with FSDP2 over all ranks when ``shard``."""

    def __init__(self, seed: int, shard: bool) -> None:
        super().__init__()
        torch.manual_seed(seed)
        module = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        if shard:
            from torch.distributed.device_mesh import init_device_mesh
            from torch.distributed.fsdp import fully_shard

            mesh = init_device_mesh("cpu", (dist.get_world_size(),))
            fully_shard(module[0], mesh=mesh)
            fully_shard(module, mesh=mesh)
        self.module = module
        self.optimizer = torch.optim.Adam(module.parameters(), lr=0.01)

    def train_step(self, state: State, data: Tuple[torch.Tensor, torch.Tensor]) -> Any:
        inputs, targets = data
        loss = nn.functional.cross_entropy(self.module(inputs), targets)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss


def _full_states(unit: _ShardableUnit) -> Dict[str, Any]:
    """Unsharded model and optimizer states keyed by parameter name. Note: collective."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    return {
        "model": get_model_state_dict(unit.module, options=options),
        "optim": get_optimizer_state_dict(unit.module, unit.optimizer, options=options)["state"],
    }


def _fsdp2_save_restore(root: str, async_checkpoint: bool) -> List[Any]:
    torch.manual_seed(dist.get_rank())  # each rank trains on its own data
    dataloader = generate_random_dataloader(8, 4, 2)
    unit = _ShardableUnit(seed=0, shard=True)
    cb = DistributedCheckpointSaver(
        root,
        save_every_n_train_steps=2,
        keep_last_n_checkpoints=1,
        async_checkpoint=async_checkpoint,
    )
    train(unit, dataloader, max_steps=4, callbacks=[cb])
    local_rows = unit.module.state_dict()["0.weight"].to_local().shape[0]

    fresh = _ShardableUnit(seed=1, shard=True)
    before = _full_states(fresh)["model"]["0.weight"]
    assert DistributedCheckpointSaver.restore_from_latest(root, fresh)
    expected, restored = _full_states(unit), _full_states(fresh)
    return [
        local_rows,
        sorted(os.listdir(root)),
        fresh.train_progress.num_steps_completed,
        not torch.equal(before, expected["model"]["0.weight"]),
        _nested_equal(restored, expected),
        expected,
    ]


def _nested_equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_nested_equal(a[k], b[k]) for k in a)
    return a == b


def _fsdp2_restore_one_rank(path: str) -> Dict[str, Any]:
    unit = _ShardableUnit(seed=2, shard=True)  # FSDP2 over a mesh of one rank
    DistributedCheckpointSaver.restore(path, unit)
    assert unit.train_progress.num_steps_completed == 4
    return _full_states(unit)


@pytest.mark.distributed
@pytest.mark.parametrize("async_checkpoint", [False, True])
def test_fsdp2_two_ranks_save_restore_and_reshard_to_one(
    tmp_path: Path, async_checkpoint: bool
) -> None:
    root = tmp_path / "ckpts"
    results = kit.run_ranks(2, _fsdp2_save_restore, str(root), async_checkpoint)
    for rows, names, steps, changed, equal, _ in results:
        # each rank held half of the first layer; the restored fresh model equals the
        # trained one (weights and Adam state) and differed from it before
        assert (rows, names, steps, changed, equal) == (
            4,
            ["epoch_1_train_step_4"],
            4,
            True,
            True,
        )
    expected = results[0][5]
    assert _nested_equal(results[1][5], expected)
    assert set(expected["optim"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert float(expected["optim"]["0.weight"]["step"]) == 4.0

    path = str(root / "epoch_1_train_step_4")
    (one_rank,) = kit.run_ranks(1, _fsdp2_restore_one_rank, path)
    assert _nested_equal(one_rank, expected)

    # and into a plain, unsharded module in this process (no process group at all)
    plain = _ShardableUnit(seed=3, shard=False)
    DistributedCheckpointSaver.restore(
        path, plain, restore_options=RestoreOptions(restore_optimizers=False)
    )
    assert _nested_equal(dict(plain.module.state_dict()), expected["model"])
