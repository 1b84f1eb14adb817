"""The README's Python snippets run as written (in order, sharing one namespace)."""

import os
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> List[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _python_blocks()
    assert len(blocks) == 4  # quick start, Lambda, AutoUnit, checkpoint/resume
    monkeypatch.chdir(tmp_path)
    namespace: Dict[str, Any] = {"__name__": "readme"}
    quick_start, lambda_stop, auto_unit, checkpoint = blocks

    exec(compile(quick_start, "README quick start", "exec"), namespace)
    assert namespace["unit"].train_progress.num_epochs_completed == 3

    exec(compile(lambda_stop, "README Lambda", "exec"), namespace)
    assert namespace["unit"].train_progress.num_steps_completed == 100

    exec(compile(auto_unit, "README AutoUnit", "exec"), namespace)
    progress = namespace["unit"].train_progress
    assert (progress.num_epochs_completed, progress.num_steps_completed) == (3, 60)

    exec(compile(checkpoint, "README checkpoint", "exec"), namespace)
    run_dir = tmp_path / "checkpoints" / "run1"
    first = sorted(os.listdir(run_dir))
    assert first == ["epoch_1_train_step_16", "epoch_2_train_step_16"]  # keep_last_n=2
    # The second run restores the final checkpoint: nothing is left to train or save.
    exec(compile(checkpoint, "README checkpoint (again)", "exec"), namespace)
    assert namespace["unit"].train_progress.num_steps_completed == 16
    assert sorted(os.listdir(run_dir)) == first
