"""examples/evaluate_checkpoint.py: metrics of each checkpoint, from its weights alone."""

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "evaluate_checkpoint.py"
CHECKPOINTS = ["epoch_1_train_step_16", "epoch_2_train_step_32", "epoch_3_train_step_48"]


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("evaluate_checkpoint_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trains_once_then_evaluates_every_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ex = load_example()
    ckpt_dir = str(tmp_path / "ckpts")
    results = ex.main(["--ckpt-dir", ckpt_dir])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"no checkpoint in {ckpt_dir}: training 3 epochs first"
    assert sorted(os.listdir(ckpt_dir)) == CHECKPOINTS
    assert list(results) == [os.path.join(ckpt_dir, name) for name in CHECKPOINTS]
    assert [line.split()[0] for line in out[1:]] == CHECKPOINTS

    # Recompute each checkpoint's metrics with plain torch from a full restore into the
    # *training* unit: the weights-only restore into the eval unit gives the same numbers.
    eval_set = ex.make_blobs(300, seed=2)
    inputs, labels = eval_set.tensors
    for path, metrics in results.items():
        trained = ex.TrainClassifier(lr=1e-3)
        ex.DistributedCheckpointSaver.restore(path, trained)
        with torch.no_grad():
            logits = trained.model(inputs)
        accuracy = int((logits.argmax(dim=1) == labels).sum()) / 300
        loss = nn.functional.cross_entropy(logits, labels).item()
        assert metrics["accuracy"] == accuracy
        assert metrics["loss"] == pytest.approx(loss, rel=1e-6)
    accuracies = [m["accuracy"] for m in results.values()]
    assert accuracies[-1] > 0.9 and accuracies[0] < accuracies[-1]

    # A second run finds the checkpoints, trains nothing and gets the very same numbers.
    again = ex.main(["--ckpt-dir", ckpt_dir])
    out = capsys.readouterr().out.splitlines()
    assert again == results
    assert [line.split()[0] for line in out] == CHECKPOINTS
    assert sorted(os.listdir(ckpt_dir)) == CHECKPOINTS

    # One checkpoint by path.
    first = os.path.join(ckpt_dir, CHECKPOINTS[0])
    assert ex.main(["--checkpoint", first]) == {first: results[first]}


def test_weights_only_restore_leaves_the_eval_unit_fresh(tmp_path: Path) -> None:
    ex = load_example()
    ckpt_dir = tmp_path / "ckpts"
    results = ex.main(["--ckpt-dir", str(ckpt_dir), "--epochs", "1", "--train-size", "64"])
    path = str(ckpt_dir / "epoch_1_train_step_2")
    assert list(results) == [path]

    unit = ex.EvalClassifier()
    ex.DistributedCheckpointSaver.restore(path, unit, restore_options=ex.WEIGHTS_ONLY)
    trained = ex.TrainClassifier(lr=1e-3)
    ex.DistributedCheckpointSaver.restore(path, trained)
    for name, value in trained.model.state_dict().items():
        assert torch.equal(unit.model.state_dict()[name], value)
    assert unit.eval_progress.num_steps_completed == 0

    # Restoring everything (the default) into an eval unit fails, naming what is missing,
    # and leaves the unit untouched.
    fresh = ex.EvalClassifier()
    before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
    with pytest.raises(ValueError, match=r"has no state for \['eval_progress'\]"):
        ex.DistributedCheckpointSaver.restore(path, fresh)
    assert all(torch.equal(before[k], v) for k, v in fresh.model.state_dict().items())
