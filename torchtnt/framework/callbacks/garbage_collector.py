"""Run Python's garbage collector at predictable points instead of at random ones."""

import gc

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import check_int, shared_step_count
from torchtnt.framework.state import EntryPoint, State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit, TTrainUnit

__all__ = ["GarbageCollector"]


class GarbageCollector(Callback):
    """Disable automatic garbage collection during a phase and collect on a schedule.

    Automatic collection can pause a step at any moment (and at different moments on
    different ranks, which stalls collectives). Instead, after every step a cheap
    generation-1 collection runs, and a full collection every ``step_interval`` steps.
    Automatic collection is switched back on when the phase ends, or fails.

    The step count is the phase's own steps, plus the other phase's steps inside ``fit``
    (so train and eval steps share one schedule).

    Args:
        step_interval: run a full collection every this many steps.

    Raises:
        ValueError: if ``step_interval < 1``.
        TypeError: if ``step_interval`` is not an int.
    """

    def __init__(self, step_interval: int) -> None:
        check_int("step_interval", step_interval, 1)
        self._step_interval = step_interval

    def on_train_start(self, state: State, unit: TTrainUnit) -> None:
        """Turn automatic collection off for the run."""
        gc.disable()

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Collect young objects; do a full collection every ``step_interval`` steps."""
        self._collect(shared_step_count(state, unit, "train_progress", "eval_progress"))

    def on_train_end(self, state: State, unit: TTrainUnit) -> None:
        """Turn automatic collection back on."""
        gc.enable()

    def on_eval_start(self, state: State, unit: TEvalUnit) -> None:
        """Turn automatic collection off (in ``fit``, training already did)."""
        if state.entry_point != EntryPoint.FIT:
            gc.disable()

    def on_eval_step_end(self, state: State, unit: TEvalUnit) -> None:
        """Collect young objects; do a full collection every ``step_interval`` steps."""
        self._collect(shared_step_count(state, unit, "eval_progress", "train_progress"))

    def on_eval_end(self, state: State, unit: TEvalUnit) -> None:
        """Turn automatic collection back on (in ``fit``, training's end does it)."""
        if state.entry_point != EntryPoint.FIT:
            gc.enable()

    def on_predict_start(self, state: State, unit: TPredictUnit) -> None:
        """Turn automatic collection off for the run."""
        gc.disable()

    def on_predict_step_end(self, state: State, unit: TPredictUnit) -> None:
        """Collect young objects; do a full collection every ``step_interval`` steps."""
        self._collect(unit.predict_progress.num_steps_completed)

    def on_predict_end(self, state: State, unit: TPredictUnit) -> None:
        """Turn automatic collection back on."""
        gc.enable()

    def on_exception(self, state: State, unit: object, exc: BaseException) -> None:
        """Turn automatic collection back on: the end hooks will not run."""
        gc.enable()

    def _collect(self, total_steps: int) -> None:
        gc.collect(generation=1)
        if total_steps % self._step_interval == 0:
            gc.collect()
        # The step or a library may have switched automatic collection back on; keep it off
        # until the phase ends.
        gc.disable()
