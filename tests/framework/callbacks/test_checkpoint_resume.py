"""Exact resume, atomic saves under kill -9 and preemption by SIGTERM, with real processes."""

import os
import signal
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import torch

from tests.framework.callbacks import _resume_kit as kit
from torchtnt.framework.callbacks.dcp_saver import DistributedCheckpointSaver
from torchtnt.framework.train import train
from torchtnt.utils.checkpoint import get_latest_checkpoint_path

pytest.importorskip("torchdata")

TOTAL = kit.TOTAL


def _uninterrupted(make_unit: Callable[[], Any], seed: int = 0) -> Any:
    kit.seed_all(seed)
    unit = make_unit()
    train(unit, kit.make_dataloader(), max_steps=TOTAL)
    return unit


def _resume(tmp_path: Path, make_unit: Callable[[], Any], path: str = "", seed: int = 99) -> Any:
    """A 'new process': different seeds, fresh objects, restore ``path`` (default: latest)."""
    kit.seed_all(seed)
    unit = make_unit()
    dataloader = kit.make_dataloader()
    if path:
        DistributedCheckpointSaver.restore(path, unit, train_dataloader=dataloader)
    else:
        assert DistributedCheckpointSaver.restore_from_latest(
            str(tmp_path), unit, train_dataloader=dataloader
        )
    train(unit, dataloader, max_steps=TOTAL, callbacks=[DistributedCheckpointSaver(str(tmp_path))])
    return unit


@pytest.mark.parametrize("stop_at", [7, 10])
def test_resume_mid_epoch_is_bit_exact(tmp_path: Path, stop_at: int) -> None:
    reference = _uninterrupted(kit.RNGTrainUnit)

    kit.seed_all(0)
    first = kit.RNGTrainUnit()
    cb = DistributedCheckpointSaver(str(tmp_path), save_every_n_train_steps=stop_at)
    train(first, kit.make_dataloader(), max_steps=stop_at, callbacks=[cb])
    # Reaching max_steps ends the epoch early (the loop counts it as done), so the final
    # checkpoint is a new one; the step checkpoint is the mid-epoch resume point.
    epoch = (stop_at - 1) // 5
    step_ckpt = f"epoch_{epoch}_train_step_{stop_at}"
    final_ckpt = f"epoch_{epoch + 1}_train_step_{stop_at}"
    assert sorted(os.listdir(tmp_path)) == [step_ckpt, final_ckpt]

    resumed = _resume(tmp_path, kit.RNGTrainUnit, str(tmp_path / step_ckpt))
    assert first.losses + resumed.losses == reference.losses
    assert first.batches + resumed.batches == reference.batches
    kit.assert_states_equal(kit.states_of(resumed), kit.states_of(reference))


def _plain_dataloader() -> Any:
    """The kit's data in torch's own DataLoader: its shuffle draws from the global RNG
    when each epoch's iterator is made."""
    stateful = kit.make_dataloader()
    return torch.utils.data.DataLoader(stateful.dataset, batch_size=kit.BATCH_SIZE, shuffle=True)


@pytest.mark.parametrize("make_dl", [kit.make_dataloader, _plain_dataloader])
@pytest.mark.parametrize("unit_cls", [kit.RNGTrainUnit, kit.RNGAutoUnit])
def test_resume_from_an_epoch_end_checkpoint_is_bit_exact(
    tmp_path: Path, unit_cls: Any, make_dl: Callable[[], Any]
) -> None:
    """The next epoch's iterator draws random numbers (the shuffle, the base seed): the
    restored RNG states must be in place before it is made, not only before the fetch."""
    kit.seed_all(0)
    reference = unit_cls()
    train(reference, make_dl(), max_steps=TOTAL)

    kit.seed_all(0)
    first = unit_cls()
    cb = DistributedCheckpointSaver(str(tmp_path), save_every_n_epochs=1)
    train(first, make_dl(), max_epochs=1, callbacks=[cb])
    assert os.listdir(tmp_path) == ["epoch_1_train_step_5"]

    kit.seed_all(99)
    resumed = unit_cls()
    dataloader = make_dl()
    assert DistributedCheckpointSaver.restore_from_latest(
        str(tmp_path), resumed, train_dataloader=dataloader
    )
    train(
        resumed, dataloader, max_steps=TOTAL, callbacks=[DistributedCheckpointSaver(str(tmp_path))]
    )
    assert first.losses + resumed.losses == reference.losses
    assert first.batches + resumed.batches == reference.batches
    kit.assert_states_equal(kit.states_of(resumed), kit.states_of(reference))


def test_fit_resume_from_an_eval_epoch_end_checkpoint_is_bit_exact(tmp_path: Path) -> None:
    """Both dataloaders were saved between epochs; their next iterators must draw exactly
    the random numbers the uninterrupted run's drew."""
    from torchtnt.framework.fit import fit

    def run(unit: Any, train_dl: Any, eval_dl: Any, callbacks: List[Any], **limit: Any) -> None:
        fit(unit, train_dl, eval_dl, evaluate_every_n_epochs=1, callbacks=callbacks, **limit)

    kit.seed_all(0)
    reference = kit.RNGFitUnit()
    run(reference, kit.make_dataloader(), kit.make_eval_dataloader(), [], max_steps=TOTAL)

    kit.seed_all(0)
    first = kit.RNGFitUnit()
    cb = DistributedCheckpointSaver(str(tmp_path), save_every_n_eval_epochs=1)
    run(first, kit.make_dataloader(), kit.make_eval_dataloader(), [cb], max_epochs=1)
    assert os.listdir(tmp_path) == ["epoch_1_train_step_5_eval_step_3"]

    kit.seed_all(99)
    resumed = kit.RNGFitUnit()
    train_dl, eval_dl = kit.make_dataloader(), kit.make_eval_dataloader()
    assert DistributedCheckpointSaver.restore_from_latest(
        str(tmp_path), resumed, train_dataloader=train_dl, eval_dataloader=eval_dl
    )
    run(resumed, train_dl, eval_dl, [DistributedCheckpointSaver(str(tmp_path))], max_steps=TOTAL)
    assert first.losses + resumed.losses == reference.losses
    assert first.eval_batches + resumed.eval_batches == reference.eval_batches
    kit.assert_states_equal(kit.states_of(resumed), kit.states_of(reference))


def test_resume_after_exception_repeats_lost_steps_exactly(tmp_path: Path) -> None:
    reference = _uninterrupted(kit.RNGTrainUnit)
    kit.seed_all(0)
    crashed = kit.RNGTrainUnit(fail_at_step=9)
    cb = DistributedCheckpointSaver(str(tmp_path), save_every_n_train_steps=3)
    with pytest.raises(RuntimeError, match="injected failure at step 9"):
        train(crashed, kit.make_dataloader(), max_steps=TOTAL, callbacks=[cb])
    resumed = _resume(tmp_path, kit.RNGTrainUnit)  # from step 6
    assert crashed.losses[:6] + resumed.losses == reference.losses
    kit.assert_states_equal(kit.states_of(resumed), kit.states_of(reference))


@pytest.mark.parametrize("stop_at", [1, 6, 10])
def test_autounit_prefetch_resume_sees_every_batch(tmp_path: Path, stop_at: int) -> None:
    """AutoUnit reads one batch ahead; the resumed run must not skip or repeat it."""
    reference = _uninterrupted(kit.RNGAutoUnit)
    kit.seed_all(0)
    first = kit.RNGAutoUnit()
    cb = DistributedCheckpointSaver(str(tmp_path), save_every_n_train_steps=stop_at)
    train(first, kit.make_dataloader(), max_steps=stop_at, callbacks=[cb])
    step_ckpt = tmp_path / f"epoch_{(stop_at - 1) // 5}_train_step_{stop_at}"
    resumed = _resume(tmp_path, kit.RNGAutoUnit, str(step_ckpt))
    assert first.batches + resumed.batches == reference.batches
    assert first.losses + resumed.losses == reference.losses
    kit.assert_states_equal(kit.states_of(resumed), kit.states_of(reference))


def _two_rank_resume(root: str) -> List[Any]:
    from torch.nn.parallel import DistributedDataParallel as DDP

    rank = torch.distributed.get_rank()

    def make_unit() -> kit.RNGTrainUnit:
        unit = kit.RNGTrainUnit()
        unit.model = DDP(unit.model)
        unit.optimizer = torch.optim.SGD(unit.model.parameters(), lr=0.1, momentum=0.9)
        unit.lr_scheduler = torch.optim.lr_scheduler.StepLR(unit.optimizer, step_size=3, gamma=0.5)
        return unit

    # Same weights on both ranks (DDP broadcasts them), different RNG streams per rank.
    kit.seed_all(0)
    reference = make_unit()
    kit.seed_all(10 + rank)
    train(reference, kit.make_dataloader(), max_steps=TOTAL)

    kit.seed_all(0)
    first = make_unit()
    kit.seed_all(10 + rank)
    cb = DistributedCheckpointSaver(root, save_every_n_train_steps=7)
    train(first, kit.make_dataloader(), max_steps=7, callbacks=[cb])

    kit.seed_all(50 + rank)
    resumed = make_unit()
    dataloader = kit.make_dataloader()
    step_ckpt = os.path.join(root, "epoch_1_train_step_7")
    DistributedCheckpointSaver.restore(step_ckpt, resumed, train_dataloader=dataloader)
    # the checkpointer re-applies the RNG states right before the first batch is fetched
    train(resumed, dataloader, max_steps=TOTAL, callbacks=[DistributedCheckpointSaver(root)])
    kit.assert_states_equal(kit.states_of(resumed), kit.states_of(reference))
    return [first.losses + resumed.losses == reference.losses, sorted(os.listdir(root))]


@pytest.mark.distributed
def test_two_rank_ddp_resume_is_exact_per_rank(tmp_path: Path) -> None:
    results = kit.run_ranks(2, _two_rank_resume, str(tmp_path))
    expected_dirs = ["epoch_1_train_step_7", "epoch_2_train_step_7", "epoch_3_train_step_14"]
    assert results[0] == results[1] == [True, expected_dirs]


def _child_error(root: Path) -> str:
    path = root / "child_error.txt"
    return path.read_text()[-3000:] if path.exists() else "(no traceback written)"


def _preempted_child(root: Path, mode: str) -> Dict[str, Any]:
    """Run child ``mode``, SIGTERM it while it waits inside a step; return its results."""
    proc = kit.child_process(kit.child_main, mode, str(root))
    deadline = time.monotonic() + 120
    while not (root / "ready").exists():
        assert proc.is_alive(), _child_error(root)
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGTERM)  # arrives in the middle of the step
    (root / "signal_sent").write_text("")
    proc.join(120)
    assert proc.exitcode == 0, _child_error(root)
    return torch.load(root / "child_result.pt")


def test_kill_9_mid_save_leaves_previous_checkpoint_restorable(tmp_path: Path) -> None:
    proc = kit.child_process(kit.child_main, "kill_mid_save", str(tmp_path))
    proc.join(120)
    assert proc.exitcode == -signal.SIGKILL, _child_error(tmp_path)
    ckpts = tmp_path / "ckpts"
    # the 2nd save died before its metadata; retention (keep 1) had not deleted the 1st
    assert sorted(os.listdir(ckpts)) == ["epoch_0_train_step_3", "epoch_1_train_step_6"]
    assert (ckpts / "epoch_0_train_step_3" / ".metadata").exists()
    partial = ckpts / "epoch_1_train_step_6"
    assert not (partial / ".metadata").exists() and any(partial.iterdir())

    latest = get_latest_checkpoint_path(str(ckpts), metadata_fname=".metadata")
    assert latest == str(ckpts / "epoch_0_train_step_3")
    unit = kit.RNGTrainUnit()
    assert DistributedCheckpointSaver.restore_from_latest(str(ckpts), unit)
    expected = torch.load(tmp_path / "epoch_0_train_step_3.pt")
    for key, value in unit.model.state_dict().items():
        assert torch.equal(value, expected[key])
    assert unit.train_progress.num_steps_completed == 3
    # a later run treats the partial directory as nonexistent and overwrites it cleanly
    cb = DistributedCheckpointSaver(
        str(ckpts), save_every_n_train_steps=3, keep_last_n_checkpoints=1
    )
    train(unit, kit.make_dataloader(), max_steps=6, callbacks=[cb])
    assert sorted(os.listdir(ckpts)) == ["epoch_1_train_step_6"]
    assert (partial / ".metadata").exists()
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        DistributedCheckpointSaver.restore(str(tmp_path / "epoch_0_train_step_9"), unit)


def test_sigterm_saves_current_step_and_exits_through_end_hooks(tmp_path: Path) -> None:
    child = _preempted_child(tmp_path, "preempt")  # SIGTERM during train step 4
    assert child["ended"] and child["steps"] == 4
    ckpts = tmp_path / "ckpts"
    assert sorted(os.listdir(ckpts)) == ["epoch_0_train_step_3", "epoch_0_train_step_4"]

    reference = _uninterrupted(kit.RNGTrainUnit)
    resumed = _resume(ckpts, kit.RNGTrainUnit)
    assert child["losses"] + resumed.losses == reference.losses
    kit.assert_states_equal(kit.states_of(resumed), kit.states_of(reference))


def test_sigterm_during_eval_in_fit_saves_that_eval_step_and_resumes(tmp_path: Path) -> None:
    child = _preempted_child(tmp_path, "preempt_eval")  # during eval step 5 (after step 8)
    # the eval step in progress finished, then the run stopped through the end hooks of
    # the evaluation and of training; no step ran after the signal
    assert child["steps"] == 8 and child["eval_steps"] == 5
    assert child["ended"] and child["eval_ends"] == 2
    ckpts = tmp_path / "ckpts"
    assert sorted(os.listdir(ckpts)) == [
        "epoch_0_train_step_3_eval_step_0",
        "epoch_1_train_step_6_eval_step_3",
        "epoch_1_train_step_8_eval_step_5",
    ]

    kit.seed_all(0)
    reference = kit.RNGFitUnit()
    kit.run_fit(reference, kit.make_dataloader(), kit.make_eval_dataloader(), [])
    assert child["losses"] == reference.losses[:8]
    assert child["eval_batches"] == reference.eval_batches[:5]

    kit.seed_all(99)
    resumed = kit.RNGFitUnit()
    train_dl, eval_dl = kit.make_dataloader(), kit.make_eval_dataloader()
    assert DistributedCheckpointSaver.restore_from_latest(
        str(ckpts), resumed, train_dataloader=train_dl, eval_dataloader=eval_dl
    )
    assert resumed.train_progress.num_steps_completed == 8
    assert resumed.eval_progress.num_steps_completed == 5
    kit.run_fit(resumed, train_dl, eval_dl, [DistributedCheckpointSaver(str(ckpts))])
    # training goes on from step 9 exactly as if never stopped, and evaluation picks up
    # at the batch after the one that was interrupted
    assert child["losses"] + resumed.losses == reference.losses
    kit.assert_states_equal(kit.states_of(resumed), kit.states_of(reference))
    assert resumed.eval_batches[0] == reference.eval_batches[5]


def test_sigterm_during_predict_saves_that_step_and_resumes(tmp_path: Path) -> None:
    from torchtnt.framework.predict import predict

    child = _preempted_child(tmp_path, "preempt_predict")  # during predict step 3
    assert child["ended"] and child["steps"] == 3
    ckpts = tmp_path / "ckpts"
    assert sorted(os.listdir(ckpts)) == ["epoch_0_predict_step_2", "epoch_0_predict_step_3"]

    kit.seed_all(0)
    reference = kit.RNGPredictUnit()
    predict(reference, kit.make_dataloader())

    kit.seed_all(0)  # predict checkpoints hold no weights: the same model, built again
    resumed = kit.RNGPredictUnit()
    kit.seed_all(99)
    dataloader = kit.make_dataloader()
    assert DistributedCheckpointSaver.restore_from_latest(
        str(ckpts), resumed, predict_dataloader=dataloader
    )
    predict(resumed, dataloader)
    assert resumed.predict_progress.num_steps_completed == 5
    assert child["batches"] + resumed.batches == reference.batches
    assert child["outputs"] + resumed.outputs == reference.outputs
