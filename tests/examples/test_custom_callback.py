"""examples/custom_callback.py: GradNormGuard stops at the right step, through the right hooks."""

import importlib.util
import math
from pathlib import Path
from types import ModuleType
from typing import List, Optional

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_callback.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("custom_callback_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def first_plateau_step(losses: List[float], patience: int, min_delta: float) -> Optional[int]:
    """The rule written out independently: the 1-based step at which a stop is due."""
    best, waited = math.inf, 0
    for step, loss in enumerate(losses, start=1):
        if loss < best - min_delta:
            best, waited = loss, 0
        else:
            waited += 1
            if waited == patience:
                return step
    return None


def hooks_printed(out: str) -> List[str]:
    return [line[1 : line.index("]")] for line in out.splitlines() if line.startswith("[")]


def test_stops_on_loss_plateau_then_runs_end_hooks(capsys: pytest.CaptureFixture[str]) -> None:
    unit, guard = load_example().main(["--patience", "10", "--min-delta", "1e-3"])
    out = capsys.readouterr().out
    steps = unit.train_progress.num_steps_completed
    assert [s for s, _, _ in guard.history] == list(range(1, steps + 1))
    losses = [loss for _, loss, _ in guard.history]
    assert steps == first_plateau_step(losses, patience=10, min_delta=1e-3)
    assert 8 < steps < 50 * 8  # a few epochs in, far from max_epochs
    assert guard.stop_reason.startswith("loss plateau: no improvement > min_delta=0.001")
    assert losses[-1] < losses[0] / 100  # it had learned before it stopped
    # The unit zeroes gradients at the start of its step, so the last step's gradients are
    # still there: the callback measured exactly those.
    last_grads = torch.cat([p.grad.flatten() for p in unit.model.parameters()])
    assert guard.history[-1][2] == float(last_grads.norm())

    # The epoch cut short by stop() still ends through on_train_epoch_end, then on_train_end;
    # no step ran after the stop.
    epochs = math.ceil(steps / 8)  # 128 samples in batches of 16
    assert unit.train_progress.num_epochs_completed == epochs
    hooks = hooks_printed(out)
    assert hooks[0] == "on_train_start"
    assert hooks[-3:] == ["on_train_step_end", "on_train_epoch_end", "on_train_end"]
    assert hooks.count("on_train_epoch_end") == epochs
    lines = out.splitlines()
    assert lines[-3].startswith(f"[on_train_step_end] step {steps:3d}  loss")
    assert lines[-2] == f"[on_train_epoch_end] epoch {epochs} done, {steps} steps so far"
    assert lines[-1] == f"[on_train_end] after {steps} steps: {guard.stop_reason}"


def test_stops_when_the_gradient_norm_explodes() -> None:
    unit, guard = load_example().main(["--lr", "1.5", "--max-grad-norm", "100"])
    norms = [norm for _, _, norm in guard.history]
    stop = unit.train_progress.num_steps_completed
    # The first step above the limit is the last step run.
    assert stop == len(norms) and norms[-1] > 100
    assert all(norm <= 100 for norm in norms[:-1])
    assert stop > 1 and norms[0] < norms[-1] / 10  # it grew, step after step
    assert guard.stop_reason == f"gradient norm {norms[-1]:.4g} > max_grad_norm=100"


def test_without_a_reason_training_runs_to_max_epochs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    unit, guard = load_example().main(["--max-epochs", "2", "--patience", "100"])
    out = capsys.readouterr().out
    assert guard.stop_reason is None and unit.train_progress.num_steps_completed == 16
    assert hooks_printed(out) == [
        "on_train_start",
        "on_train_epoch_end",
        "on_train_step_end",  # step 10 (print_every=10)
        "on_train_epoch_end",
        "on_train_end",
    ]
    assert out.splitlines()[-1] == "[on_train_end] after 16 steps: no stop requested"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"max_grad_norm": 0.0, "patience": 3},
            "max_grad_norm=0.0 is invalid: expected a number > 0",
        ),
        ({"max_grad_norm": 1.0, "patience": 0}, "patience=0 is invalid: expected an int >= 1"),
        (
            {"max_grad_norm": 1.0, "patience": 3, "min_delta": -1.0},
            "min_delta=-1.0 is invalid: expected a number >= 0",
        ),
    ],
)
def test_guard_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_example().GradNormGuard(**kwargs)
