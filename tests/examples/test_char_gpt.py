"""Smoke and learning tests for examples/char_gpt.py (one process, and torchrun with 2)."""

import importlib.util
import os
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import List

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "char_gpt.py"
TINY = [
    "--digits", "1", "--train-size", "60", "--eval-size", "20", "--n-layer", "1",
    "--n-embd", "16", "--n-head", "2", "--batch-size", "8", "--max-steps", "4",
    "--eval-every", "3", "--device", "cpu",
]  # fmt: skip


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("char_gpt_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_problem_encoding_and_dataset() -> None:
    cg = load_example()
    assert cg.encode_problem(123, 456, 3) == ("123+456=", "9750")
    assert cg.encode_problem(5, 7, 2) == ("05+07=", "210")
    inputs, targets = cg.make_dataset([(12, 34)], 2).tensors
    assert "".join(cg.VOCAB[i] for i in inputs[0]) == "12+34=64"
    assert targets[0].tolist() == [-100] * 5 + [6, 4, 0]
    train_pairs, eval_pairs = cg.split_pairs(2, 300, 50, random.Random(0))
    assert (len(train_pairs), len(eval_pairs)) == (300, 50)
    assert not set(train_pairs) & set(eval_pairs)


def test_tiny_run_on_one_process(capsys: pytest.CaptureFixture[str]) -> None:
    cg = load_example()
    result = cg.main(TINY)
    out = capsys.readouterr().out
    assert 0.0 <= result["accuracy"] <= 1.0
    assert torch.isfinite(torch.tensor(result["final_loss"]))
    # Evaluations after step 3 (every 3 steps) and after the last step (4).
    assert [line.split()[1] for line in out.splitlines() if line.startswith("step")] == ["3", "4"]
    assert "final held-out exact-match accuracy" in out


def test_learns_two_digit_addition() -> None:
    cg = load_example()
    result = cg.main(["--max-steps", "400", "--eval-every", "400", "--device", "cpu"])
    assert result["accuracy"] >= 0.9


def run_torchrun(strategy: str) -> List[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(EXAMPLE), "--strategy", strategy, *TINY,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


@pytest.mark.distributed
@pytest.mark.parametrize("strategy", ["ddp", "fsdp2"])
def test_torchrun_two_processes(strategy: str) -> None:
    lines = run_torchrun(strategy)
    finals = [line for line in lines if line.startswith("final held-out exact-match accuracy")]
    assert len(finals) == 1  # printed by rank 0 only
