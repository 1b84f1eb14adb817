from typing import List, Sequence, Tuple

import pytest
import torch

from torchtnt.framework._test_utils import (
    Batch,
    DummyFitUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.early_stopping import EarlyStopping
from torchtnt.framework.fit import fit
from torchtnt.framework.state import State
from torchtnt.framework.train import train
from torchtnt.utils.early_stop_checker import EarlyStopChecker


class ScriptedMetricUnit(DummyTrainUnit):
    """Sets ``metric`` to the next scripted value after each step and each epoch."""

    def __init__(self, step_values: Sequence[float], epoch_values: Sequence[float] = ()) -> None:
        super().__init__(input_dim=2)
        self.step_values = list(step_values)
        self.epoch_values = list(epoch_values)

    def train_step(self, state: State, data: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
        out = super().train_step(state, data)
        self.metric = self.step_values[self.train_progress.num_steps_completed]
        return out

    def on_train_epoch_end(self, state: State) -> None:
        if self.epoch_values:
            self.metric = torch.tensor(
                self.epoch_values[self.train_progress.num_epochs_completed - 1]
            )


class ScriptedEvalLossUnit(DummyFitUnit):
    """Sets ``eval_loss`` to the next scripted value at the end of each eval epoch."""

    def __init__(self, eval_values: Sequence[float]) -> None:
        super().__init__(input_dim=2)
        self.eval_values = list(eval_values)

    def on_eval_epoch_end(self, state: State) -> None:
        self.eval_loss = self.eval_values[self.eval_progress.num_epochs_completed - 1]


def _data(num_batches: int):
    return generate_random_dataloader(num_samples=2 * num_batches, input_dim=2, batch_size=2)


def _checked_at(monkeypatch: pytest.MonkeyPatch, progress_attr: str) -> List[int]:
    """Spy on EarlyStopping._maybe_stop, recording the step count at every check."""
    seen: List[int] = []
    original = EarlyStopping._maybe_stop

    def spy(self: EarlyStopping, state: State, unit: object) -> None:
        seen.append(getattr(unit, progress_attr).num_steps_completed)
        original(self, state, unit)

    monkeypatch.setattr(
        "torchtnt.framework.callbacks.early_stopping.EarlyStopping._maybe_stop", spy
    )
    return seen


def test_step_interval_stops_when_patience_runs_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # Best value at step 2; steps 3 and 4 do not improve -> patience 2 is spent at step 4.
    unit = ScriptedMetricUnit(step_values=[5.0, 4.0, 4.0, 4.5] + [1.0] * 10)
    checks = _checked_at(monkeypatch, "train_progress")
    callback = EarlyStopping("metric", EarlyStopChecker("min", patience=2), interval="step")
    train(unit, _data(12), max_epochs=1, callbacks=[callback])
    assert unit.train_progress.num_steps_completed == 4
    assert checks == [1, 2, 3, 4]


def test_step_interval_freq_checks_every_nth_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only steps 3, 6, 9 are checked: values 2.0, 3.0, 3.0 (no improvement twice) -> stop at 9.
    values = [9.0, 9.0, 2.0, 0.0, 0.0, 3.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0]
    unit = ScriptedMetricUnit(step_values=values)
    checks = _checked_at(monkeypatch, "train_progress")
    callback = EarlyStopping(
        "metric", EarlyStopChecker("min", patience=2), interval="step", interval_freq=3
    )
    train(unit, _data(12), max_epochs=1, callbacks=[callback])
    assert checks == [3, 6, 9]
    assert unit.train_progress.num_steps_completed == 9


def test_epoch_interval_max_mode_stops_after_the_right_epoch() -> None:
    # Epoch values 0.1, 0.5, 0.4, 0.5: epochs 3 and 4 do not beat 0.5 -> stop after epoch 4.
    unit = ScriptedMetricUnit(step_values=[0.0] * 100, epoch_values=[0.1, 0.5, 0.4, 0.5, 0.9])
    callback = EarlyStopping("metric", EarlyStopChecker("max", patience=2))
    train(unit, _data(3), max_epochs=10, callbacks=[callback])
    assert unit.train_progress.num_epochs_completed == 4
    assert unit.train_progress.num_steps_completed == 12


def test_eval_phase_in_fit_stops_training() -> None:
    # Evaluations after epochs 1..3 give 3.0, 2.0, 2.0: patience 1 is spent at the third.
    unit = ScriptedEvalLossUnit(eval_values=[3.0, 2.0, 2.0, 1.0, 0.5])
    callback = EarlyStopping("eval_loss", EarlyStopChecker("min", patience=1), phase="eval")
    fit(unit, _data(2), _data(2), max_epochs=5, callbacks=[callback])
    assert unit.eval_progress.num_epochs_completed == 3
    assert unit.train_progress.num_epochs_completed == 3


def test_eval_step_interval_uses_eval_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    unit = ScriptedEvalLossUnit(eval_values=[])
    unit.eval_loss = 1.0  # constant: never improves after the first check
    checks = _checked_at(monkeypatch, "eval_progress")
    callback = EarlyStopping(
        "eval_loss",
        EarlyStopChecker("min", patience=3),
        interval="step",
        phase="eval",
        interval_freq=2,
    )
    unit.on_eval_epoch_end = lambda state: None  # keep the constant value
    fit(unit, _data(2), _data(4), max_epochs=5, callbacks=[callback])
    # Checks at eval steps 2, 4 (first eval), 6, 8 (second): the 4th check spends patience 3.
    assert checks == [2, 4, 6, 8]
    assert unit.train_progress.num_epochs_completed == 2


def test_missing_attribute_raises_before_any_stop() -> None:
    unit = DummyTrainUnit(input_dim=2)
    callback = EarlyStopping("val_loss", EarlyStopChecker("min", patience=1), interval="step")
    with pytest.raises(RuntimeError, match="'val_loss'"):
        train(unit, _data(4), max_epochs=1, callbacks=[callback])
    assert unit.train_progress.num_steps_completed == 1


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"interval": "batch"}, "interval='batch'"),
        ({"phase": "predict"}, "phase='predict'"),
        ({"interval_freq": 0}, "interval_freq=0"),
    ],
)
def test_bad_arguments_are_rejected_with_their_name(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        EarlyStopping("loss", EarlyStopChecker("min", patience=1), **kwargs)


@pytest.mark.parametrize("attr", [3, "", None])
def test_monitored_attr_must_be_a_name(attr: object) -> None:
    with pytest.raises(TypeError, match=rf"monitored_attr={attr!r} is invalid: expected the name"):
        EarlyStopping(attr, EarlyStopChecker("min", patience=1))  # type: ignore[arg-type]


def test_unknown_mode_is_rejected_by_the_checker() -> None:
    with pytest.raises(ValueError, match="mode='median'"):
        EarlyStopChecker("median", patience=1)  # type: ignore[arg-type]
