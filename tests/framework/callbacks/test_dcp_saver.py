import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import torch
import torch.distributed as dist
import torch.distributed.checkpoint

from tests.framework.callbacks import _resume_kit as kit
from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyFitUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks import dcp_saver
from torchtnt.framework.callbacks.checkpointer_types import KnobOptions, RestoreOptions
from torchtnt.framework.callbacks.dcp_saver import DistributedCheckpointSaver
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.state import State
from torchtnt.framework.train import train
from torchtnt.utils.checkpoint import BestCheckpointConfig


def _weights(unit: Any) -> Dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in unit.module.state_dict().items()}


class SchedUnit(DummyTrainUnit):
    def __init__(self, dim: int = 2) -> None:
        super().__init__(dim)
        self.lr_scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=1, gamma=0.5)

    def train_step(self, state: State, data: Any) -> Any:
        out = super().train_step(state, data)
        self.lr_scheduler.step()
        return out


def test_patch_targets_are_module_level_names() -> None:
    assert dcp_saver.dcp is torch.distributed.checkpoint
    assert dcp_saver._init_optim_state is torch.distributed.checkpoint.state_dict._init_optim_state


def test_restore_goes_through_the_patched_dcp_module_whatever_the_path() -> None:
    # TorchTNT's tests patch dcp (and _init_optim_state) and restore from a made-up path.
    from unittest.mock import patch

    from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner

    with (
        patch("torchtnt.framework.callbacks.dcp_saver.dcp") as mock_dcp,
        patch("torchtnt.framework.callbacks.dcp_saver._init_optim_state") as mock_init,
    ):
        DistributedCheckpointSaver.restore(
            "path/to/snapshot",
            DummyTrainUnit(2),
            restore_options=RestoreOptions(strict=False),
        )
    planner = mock_dcp.load.call_args.kwargs["planner"]
    assert isinstance(planner, DefaultLoadPlanner) and planner.allow_partial_load
    assert mock_dcp.load.call_args.kwargs["process_group"] is None
    mock_init.assert_called_once()


def test_async_saves_go_through_dcp_async_save_with_the_stager(tmp_path: Path) -> None:
    from unittest.mock import patch

    cb = DistributedCheckpointSaver(
        str(tmp_path), save_every_n_train_steps=1, async_checkpoint=True
    )
    with patch("torchtnt.framework.callbacks.dcp_saver.dcp") as mock_dcp:
        train(DummyTrainUnit(2), generate_random_dataloader(4, 2, 2), max_steps=2, callbacks=[cb])
    # steps 1 and 2, then the final save (max_steps ends the epoch: a new name)
    assert mock_dcp.async_save.call_count == 3 and mock_dcp.save.call_count == 0
    assert mock_dcp.async_save.call_args.kwargs["async_stager"] is cb._stager


@pytest.mark.parametrize("async_checkpoint, region", [(False, "save"), (True, "async_save")])
def test_saves_are_timed_with_the_runs_timer(
    tmp_path: Path, async_checkpoint: bool, region: str
) -> None:
    from torchtnt.utils.timer import Timer

    timer = Timer()
    cb = DistributedCheckpointSaver(
        str(tmp_path), save_every_n_train_steps=1, async_checkpoint=async_checkpoint
    )
    train(
        DummyTrainUnit(2),
        generate_random_dataloader(4, 2, 2),
        max_epochs=1,
        callbacks=[cb],
        timer=timer,
    )
    # after steps 1 and 2, and the final save at the end of training
    assert len(timer.recorded_durations[f"DistributedCheckpointSaver.{region}"]) == 3


def test_save_restore_round_trip_with_every_part(tmp_path: Path) -> None:
    unit = SchedUnit()
    cb = DistributedCheckpointSaver(str(tmp_path), save_every_n_epochs=1)
    train(unit, generate_random_dataloader(6, 2, 2), max_epochs=2, callbacks=[cb])
    assert sorted(os.listdir(tmp_path)) == ["epoch_1_train_step_3", "epoch_2_train_step_6"]
    assert (tmp_path / "epoch_2_train_step_6" / ".metadata").exists()

    fresh = SchedUnit()
    assert DistributedCheckpointSaver.restore_from_latest(str(tmp_path), fresh)
    for k, v in _weights(unit).items():
        assert torch.equal(fresh.module.state_dict()[k], v)
    assert fresh.train_progress.state_dict() == unit.train_progress.state_dict()
    assert fresh.lr_scheduler.state_dict() == unit.lr_scheduler.state_dict()
    assert fresh.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**6)

    partial = SchedUnit()
    before = _weights(partial)
    DistributedCheckpointSaver.restore(
        str(tmp_path / "epoch_1_train_step_3"),
        partial,
        restore_options=RestoreOptions(restore_modules=False, restore_lr_schedulers=False),
    )
    assert all(torch.equal(partial.module.state_dict()[k], v) for k, v in before.items())
    assert partial.train_progress.num_steps_completed == 3
    assert partial.lr_scheduler.state_dict()["last_epoch"] == 0


def test_restore_from_best(tmp_path: Path) -> None:
    class MetricUnit(DummyTrainUnit):
        def train_step(self, state: State, data: Any) -> Any:
            out = super().train_step(state, data)
            self.acc = [0.2, 0.9, 0.5][self.train_progress.num_steps_completed % 3]
            return out

    unit = MetricUnit(2)
    cb = DistributedCheckpointSaver(
        str(tmp_path),
        save_every_n_train_steps=1,
        keep_last_n_checkpoints=2,
        best_checkpoint_config=BestCheckpointConfig("acc", "max"),
    )
    train(unit, generate_random_dataloader(6, 2, 2), max_epochs=1, callbacks=[cb])
    # steps 1..3 record 0.2, 0.9, 0.5: the two best stay (0.2 is deleted at step 3)
    assert sorted(os.listdir(tmp_path)) == [
        "epoch_0_train_step_2_acc=0.9",
        "epoch_0_train_step_3_acc=0.5",
    ]
    fresh = MetricUnit(2)
    assert DistributedCheckpointSaver.restore_from_best(str(tmp_path), fresh, "acc", "max")
    assert fresh.train_progress.num_steps_completed == 2


def test_missing_part_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    train(
        DummyTrainUnit(2),
        generate_random_dataloader(4, 2, 2),
        max_epochs=1,
        callbacks=[DistributedCheckpointSaver(str(tmp_path))],
    )
    path = str(tmp_path / "epoch_1_train_step_2")
    unit = DummyTrainUnit(2)
    unit.extra = torch.nn.Linear(2, 2)
    before = _weights(unit)
    with pytest.raises(ValueError, match=r"has no state for \['extra'\].*restore_modules=False"):
        DistributedCheckpointSaver.restore(path, unit)
    assert all(torch.equal(unit.module.state_dict()[k], v) for k, v in before.items())
    assert unit.train_progress.num_steps_completed == 0
    DistributedCheckpointSaver.restore(path, unit, restore_options=RestoreOptions(strict=False))
    assert unit.train_progress.num_steps_completed == 2
    assert not all(torch.equal(unit.module.state_dict()[k], v) for k, v in before.items())
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        DistributedCheckpointSaver.restore(str(tmp_path / "nothing_here"), unit)


class AdamUnit(SchedUnit):
    """Adam (whose state counts steps) and a scheduler (which has an ``.optimizer`` too)."""

    def __init__(self) -> None:
        super().__init__(2)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=0.1)
        self.lr_scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=1)


def test_restore_leaves_an_optimizer_it_does_not_restore_untouched(tmp_path: Path) -> None:
    cb = DistributedCheckpointSaver(str(tmp_path))
    train(AdamUnit(), generate_random_dataloader(4, 2, 2), max_epochs=1, callbacks=[cb])
    fresh = AdamUnit()
    options = RestoreOptions(restore_optimizers=False)
    DistributedCheckpointSaver.restore(
        str(tmp_path / "epoch_1_train_step_2"), fresh, restore_options=options
    )
    assert fresh.optimizer.state == {}  # still a fresh Adam: its first step is a full one
    assert fresh.lr_scheduler.last_epoch == 2 and fresh.train_progress.num_steps_completed == 2


def test_a_checkpoint_saved_before_the_first_optimizer_step_restores(tmp_path: Path) -> None:
    class Accumulating(DummyTrainUnit):  # updates every second step, like accumulation
        def __init__(self) -> None:
            super().__init__(2)
            self.optimizer = torch.optim.SGD(self.module.parameters(), lr=0.1, momentum=0.9)

        def train_step(self, state: State, data: Any) -> Any:
            inputs, targets = data
            loss = torch.nn.functional.cross_entropy(self.module(inputs), targets)
            loss.backward()
            if self.train_progress.num_steps_completed % 2 == 1:
                self.optimizer.step()
                self.optimizer.zero_grad()
            return loss

    cb = DistributedCheckpointSaver(str(tmp_path), save_every_n_train_steps=1)
    train(Accumulating(), generate_random_dataloader(8, 2, 2), max_steps=2, callbacks=[cb])
    fresh = Accumulating()
    DistributedCheckpointSaver.restore(str(tmp_path / "epoch_0_train_step_1"), fresh)
    assert fresh.optimizer.state == {} and fresh.train_progress.num_steps_completed == 1
    later = Accumulating()
    DistributedCheckpointSaver.restore(str(tmp_path / "epoch_0_train_step_2"), later)
    assert len(later.optimizer.state) == 2  # momentum buffers of weight and bias


@pytest.mark.parametrize("where", ["missing", "empty", "incomplete", "parent"])
def test_a_failed_restore_changes_nothing_in_the_unit(tmp_path: Path, where: str) -> None:
    cb = DistributedCheckpointSaver(str(tmp_path / "run"))
    train(AdamUnit(), generate_random_dataloader(4, 2, 2), max_epochs=1, callbacks=[cb])
    incomplete = tmp_path / "run" / "epoch_0_train_step_1"
    incomplete.mkdir()
    (tmp_path / "empty").mkdir()
    path = {
        "missing": tmp_path / "nothing_here",
        "empty": tmp_path / "empty",
        "incomplete": incomplete,
        "parent": tmp_path / "run",
    }[where]
    unit = AdamUnit()
    before = _weights(unit)
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        DistributedCheckpointSaver.restore(str(path), unit)
    assert unit.optimizer.state == {}
    assert all(torch.equal(unit.module.state_dict()[k], v) for k, v in before.items())
    assert unit.train_progress.num_steps_completed == 0


def test_eval_checkpoint_restores_progress_only(tmp_path: Path) -> None:
    unit = DummyEvalUnit(2)
    evaluate(
        unit,
        generate_random_dataloader(4, 2, 2),
        callbacks=[DistributedCheckpointSaver(str(tmp_path), save_every_n_eval_steps=2)],
    )
    assert os.listdir(tmp_path) == ["epoch_0_eval_step_2"]
    fit_unit = DummyFitUnit(2)
    before = _weights(fit_unit)
    with pytest.raises(ValueError, match="restore_train_progress=False"):
        DistributedCheckpointSaver.restore(str(tmp_path / "epoch_0_eval_step_2"), fit_unit)
    options = RestoreOptions(restore_train_progress=False)
    DistributedCheckpointSaver.restore(
        str(tmp_path / "epoch_0_eval_step_2"), fit_unit, restore_options=options
    )
    assert not options.restore_modules and not options.restore_optimizers
    assert fit_unit.eval_progress.num_steps_completed == 2
    assert all(torch.equal(fit_unit.module.state_dict()[k], v) for k, v in before.items())


def test_unexpected_hook_and_bad_arguments(tmp_path: Path) -> None:
    cb = DistributedCheckpointSaver(str(tmp_path))
    with pytest.raises(RuntimeError, match="Unexpected hook encountered 'on_eval_start'"):
        cb._checkpoint_impl(
            State(entry_point=None), DummyTrainUnit(2), checkpoint_id="x", hook="on_eval_start"
        )  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="async_checkpoint='yes'"):
        DistributedCheckpointSaver(str(tmp_path), async_checkpoint="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_per_rank_io_concurrency=0"):
        DistributedCheckpointSaver(
            str(tmp_path), knob_options=KnobOptions(max_per_rank_io_concurrency=0)
        )
    with pytest.raises(ValueError, match="keep_last_n_checkpoints"):
        DistributedCheckpointSaver(str(tmp_path), keep_last_n_checkpoints=0)
    one_thread = DistributedCheckpointSaver(str(tmp_path), knob_options=KnobOptions(1))
    assert one_thread.default_writer_options == {
        "thread_count": 1,
        "sync_files": False,
        "overwrite": True,
    }
    assert cb.default_writer_options == {
        "thread_count": 16,
        "sync_files": False,
        "overwrite": True,
        "single_file_per_rank": False,
    }
    assert os.listdir(tmp_path) == []


def test_async_save_stages_state_before_returning(tmp_path: Path) -> None:
    class MutatingUnit(DummyTrainUnit):
        saved: Dict[str, Dict[str, torch.Tensor]] = {}

        def on_checkpoint_save(self, state: State, checkpoint_id: str) -> None:
            # called as soon as the async save is scheduled, while it may still be writing
            self.saved[os.path.basename(checkpoint_id)] = _weights(self)
            with torch.no_grad():  # training goes on and changes the weights in place
                for p in self.module.parameters():
                    p.add_(100.0)

    unit = MutatingUnit(2)
    cb = DistributedCheckpointSaver(
        str(tmp_path), save_every_n_train_steps=2, async_checkpoint=True
    )
    train(unit, generate_random_dataloader(4, 2, 2), max_steps=2, callbacks=[cb])
    assert sorted(unit.saved) == ["epoch_0_train_step_2", "epoch_1_train_step_2"]
    for name, weights in unit.saved.items():
        fresh = DummyTrainUnit(2)
        DistributedCheckpointSaver.restore(str(tmp_path / name), fresh)
        for k, v in weights.items():
            assert torch.equal(fresh.module.state_dict()[k], v)
            assert not torch.equal(unit.module.state_dict()[k], v)


def test_async_retention_waits_for_completion(tmp_path: Path) -> None:
    gate: List[Any] = []
    cb = DistributedCheckpointSaver(
        str(tmp_path), save_every_n_train_steps=1, async_checkpoint=True, keep_last_n_checkpoints=1
    )
    real_async_save = dcp_saver.dcp.async_save

    def recording_async_save(*args: Any, **kwargs: Any) -> Any:
        future = real_async_save(*args, **kwargs)
        gate.append((sorted(os.listdir(tmp_path)), cb._checkpoint_manager._ckpt_paths[:]))
        return future

    dcp_saver.dcp.async_save = recording_async_save  # type: ignore[attr-defined]
    try:
        train(DummyTrainUnit(2), generate_random_dataloader(6, 2, 2), max_steps=3, callbacks=[cb])
    finally:
        dcp_saver.dcp.async_save = real_async_save  # type: ignore[attr-defined]
    # when the 3rd save is scheduled, the 2nd is complete and tracked, the 1st deleted
    listed, tracked = gate[2]
    assert [os.path.basename(p.path) for p in tracked] == ["epoch_0_train_step_2"]
    assert "epoch_0_train_step_1" not in listed
    assert sorted(os.listdir(tmp_path)) == ["epoch_1_train_step_3"]


def test_async_saver_keeps_buffers_during_the_run_and_frees_them_at_the_end(
    tmp_path: Path,
) -> None:
    seen: List[int] = []

    class Probe(DummyTrainUnit):
        def on_checkpoint_save(self, state: State, checkpoint_id: str) -> None:
            seen.append(cb._stager.nbytes)

    cb = DistributedCheckpointSaver(
        str(tmp_path), save_every_n_train_steps=1, async_checkpoint=True
    )
    unit = Probe(2)
    train(unit, generate_random_dataloader(6, 2, 2), max_steps=3, callbacks=[cb])
    weight_bytes = sum(p.numel() * 4 for p in unit.module.parameters())
    assert len(seen) == 4 and len(set(seen)) == 1 and seen[0] > weight_bytes
    assert cb._stager.nbytes == 0


def test_async_saves_of_a_standalone_evaluation_are_complete_when_it_returns(
    tmp_path: Path,
) -> None:
    cb = DistributedCheckpointSaver(str(tmp_path), save_every_n_eval_steps=1, async_checkpoint=True)
    evaluate(DummyEvalUnit(2), generate_random_dataloader(4, 2, 2), callbacks=[cb])
    assert sorted(os.listdir(tmp_path)) == ["epoch_0_eval_step_1", "epoch_0_eval_step_2"]
    assert (tmp_path / "epoch_0_eval_step_2" / ".metadata").exists()
    tracked = [os.path.basename(p.path) for p in cb._checkpoint_manager._ckpt_paths]
    assert tracked == ["epoch_0_eval_step_1", "epoch_0_eval_step_2"]
    assert cb._prev_snapshot is None and cb._stager.nbytes == 0


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "moto server did not start"
            time.sleep(0.05)
    try:
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_s3_save_list_retention_restore(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec
    import s3fs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    s3fs.S3FileSystem.clear_instance_cache()
    fs = fsspec.filesystem("s3", client_kwargs={"endpoint_url": s3_server})
    fs.mkdir("ckpt-bucket")
    root = "s3://ckpt-bucket/run"
    fs.pipe(f"{root}/epoch_9_train_step_99/__0_0.distcp", b"partial")  # incomplete leftover

    unit = DummyTrainUnit(2)
    cb = DistributedCheckpointSaver(root, save_every_n_train_steps=1, keep_last_n_checkpoints=2)
    train(unit, generate_random_dataloader(6, 2, 2), max_steps=3, callbacks=[cb])
    fs.invalidate_cache()
    names = sorted(os.path.basename(p) for p in fs.ls(root))
    assert names == ["epoch_0_train_step_3", "epoch_1_train_step_3", "epoch_9_train_step_99"]

    fresh = DummyTrainUnit(2)
    assert DistributedCheckpointSaver.restore_from_latest(root, fresh)
    assert fresh.train_progress.num_steps_completed == 3
    for k, v in unit.module.state_dict().items():
        assert torch.equal(fresh.module.state_dict()[k], v)


def _s3_env(endpoint: str) -> Dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
    }


def _s3_two_ranks(endpoint: str, root: str) -> List[Any]:
    import fsspec
    import s3fs
    from torch.nn.parallel import DistributedDataParallel as DDP

    os.environ.update(_s3_env(endpoint))
    s3fs.S3FileSystem.clear_instance_cache()
    fs = fsspec.filesystem("s3", client_kwargs={"endpoint_url": endpoint})
    torch.manual_seed(dist.get_rank())
    unit = DummyTrainUnit(2)
    unit.module = DDP(unit.module)
    unit.optimizer = torch.optim.SGD(unit.module.parameters(), lr=0.1)
    cb = DistributedCheckpointSaver(root, save_every_n_train_steps=1, keep_last_n_checkpoints=2)
    train(unit, generate_random_dataloader(8, 2, 2), max_steps=3, callbacks=[cb])
    dist.barrier()
    fs.invalidate_cache()
    names = sorted(os.path.basename(p) for p in fs.ls(root))
    files = sorted(os.path.basename(p) for p in fs.ls(f"{root}/epoch_0_train_step_3"))

    fresh = DummyTrainUnit(2)
    fresh.module = DDP(fresh.module)
    assert DistributedCheckpointSaver.restore_from_latest(root, fresh)
    same = all(
        torch.equal(fresh.module.state_dict()[k], v) for k, v in unit.module.state_dict().items()
    )
    return [names, files, fresh.train_progress.num_steps_completed, same]


@pytest.mark.distributed
def test_s3_two_ranks_save_list_retention_restore(
    s3_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fsspec
    import s3fs

    for name, value in _s3_env(s3_server).items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    fs = fsspec.filesystem("s3", client_kwargs={"endpoint_url": s3_server})
    fs.mkdir("two-rank-bucket")
    root = "s3://two-rank-bucket/run"
    fs.pipe(f"{root}/epoch_9_train_step_99/__1_0.distcp", b"partial")  # incomplete leftover
    results = kit.run_ranks(2, _s3_two_ranks, s3_server, root)
    names, files, steps, same = results[0]
    assert results[1] == results[0]
    assert names == ["epoch_0_train_step_3", "epoch_1_train_step_3", "epoch_9_train_step_99"]
    assert ".metadata" in files
    # both ranks wrote their share (each has its own RNG state, at least)
    assert any(f.startswith("__0_") for f in files) and any(f.startswith("__1_") for f in files)
    assert steps == 3 and same
