import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_digits_runs_a_few_steps_and_reports_each_epoch(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    sys.path.insert(0, str(EXAMPLES))
    try:
        import digits
    finally:
        sys.path.remove(str(EXAMPLES))
    unit = digits.main(
        ["--epochs", "3", "--max-steps", "50", "--batch-size", "64", "--logdir", str(tmp_path)]
    )
    assert unit.train_progress.num_steps_completed == 50
    assert unit.train_progress.num_epochs_completed == 3  # 23 steps per epoch: 23 + 23 + 4
    assert [epoch for epoch, _, _ in unit.history] == [1, 2, 3]
    assert all(0.0 <= acc <= 1.0 for _, _, acc in unit.history)
    # fifty steps of Adam are enough to beat chance (10 %) by far
    assert unit.history[-1][2] > 0.5
    rows = json.loads((tmp_path / "metrics.json").read_text())
    assert [row["step"] for row in rows if "train/loss" in row] == list(range(1, 51))
    html = (tmp_path / "report.html").read_text()
    for metric in ("train/loss", "eval/accuracy", "train/epoch_loss"):
        assert metric in html


def test_digits_script_entry_point(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "digits.py"),
            *("--epochs", "1", "--max-steps", "5", "--logdir", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "epoch  1  train loss" in result.stdout
    assert "done: 5 steps" in result.stdout
    assert f"run report: {tmp_path / 'report.html'}" in result.stdout
