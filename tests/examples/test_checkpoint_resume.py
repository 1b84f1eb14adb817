"""examples/checkpoint_resume.py: a run killed by SIGKILL and resumed equals one never killed."""

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, List

import pytest
import torch

pytest.importorskip("torchdata")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "checkpoint_resume.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("checkpoint_resume_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start(ckpt_dir: Path, *extra: str) -> "subprocess.Popen[str]":
    command = [sys.executable, str(EXAMPLE), "--ckpt-dir", str(ckpt_dir), *extra]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )


def finish(proc: "subprocess.Popen[str]") -> List[str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, -signal.SIGKILL), err[-3000:]
    return out.splitlines()


def losses_by_step(lines: List[str]) -> Dict[int, float]:
    """``{step: loss}`` from the ``step N loss X`` lines (X printed with every digit)."""
    losses = {}
    for line in lines:
        if line.startswith("step "):
            _, step, _, loss = line.split()
            losses[int(step)] = float(loss)
    return losses


def complete_checkpoints(ckpt_dir: Path) -> List[str]:
    return sorted(p.name for p in ckpt_dir.iterdir() if (p / ".metadata").exists())


def test_killed_and_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    # Both first runs at once: each spends most of its time importing torch.
    reference_proc = start(reference_dir)
    killed_proc = start(killed_dir, "--kill-at-step", "10")
    reference_lines = finish(reference_proc)
    killed_lines = finish(killed_proc)

    assert reference_proc.returncode == 0
    reference = losses_by_step(reference_lines)
    assert sorted(reference) == list(range(1, 19))
    assert reference_lines[-2] == "done after step 18"

    # The kill is real: the process died of SIGKILL right after step 10, before the
    # checkpoint of step 12 and without the final one.
    assert killed_proc.returncode == -signal.SIGKILL
    assert killed_lines[-1] == "killing this process (SIGKILL) after step 10"
    killed = losses_by_step(killed_lines)
    assert sorted(killed) == list(range(1, 11))
    assert complete_checkpoints(killed_dir) == ["epoch_0_train_step_4", "epoch_1_train_step_8"]

    resumed_lines = finish(start(killed_dir))
    assert resumed_lines[0] == "resumed after step 8 (2 steps into epoch 1)"
    resumed = losses_by_step(resumed_lines)
    assert sorted(resumed) == list(range(9, 19))
    # Steps 9 and 10 ran twice (the kill lost them) and came out the same both times; the
    # whole loss sequence equals the uninterrupted run's, bit for bit.
    assert [killed[s] for s in (9, 10)] == [resumed[s] for s in (9, 10)]
    assert {**{s: killed[s] for s in range(1, 9)}, **resumed} == reference

    # Retention kept the newest two in both directories, with the same names.
    final = ["epoch_2_train_step_16", "epoch_3_train_step_18"]
    assert complete_checkpoints(killed_dir) == complete_checkpoints(reference_dir) == final

    # Final weights, optimizer momentum and LR schedule are identical, tensor for tensor.
    example = load_example()
    units = []
    for ckpt_dir in (reference_dir, killed_dir):
        unit = example.RegressionUnit(lr=0.05)
        example.DistributedCheckpointSaver.restore(str(ckpt_dir / final[-1]), unit)
        assert unit.train_progress.num_steps_completed == 18
        units.append(unit)
    reference_unit, resumed_unit = units
    for name, value in reference_unit.model.state_dict().items():
        assert torch.equal(value, resumed_unit.model.state_dict()[name]), name
    ref_optim = reference_unit.optimizer.state_dict()["state"]
    res_optim = resumed_unit.optimizer.state_dict()["state"]
    assert sorted(ref_optim) == sorted(res_optim) and len(ref_optim) == 4
    for key in ref_optim:
        assert torch.equal(ref_optim[key]["momentum_buffer"], res_optim[key]["momentum_buffer"])
    assert reference_unit.lr_scheduler.state_dict() == resumed_unit.lr_scheduler.state_dict()
    # and they are the trained weights, not the initial ones
    fresh = example.RegressionUnit(lr=0.05)
    assert not torch.equal(fresh.model[0].weight, reference_unit.model[0].weight)
