"""Release cached CUDA memory back to the driver every few steps."""

import torch

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import check_int, shared_step_count
from torchtnt.framework.state import State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit, TTrainUnit

__all__ = ["EmptyCudaCache"]


class EmptyCudaCache(Callback):
    """Call ``torch.cuda.empty_cache()`` every ``step_interval`` steps.

    Freeing the caching allocator's unused blocks helps when other processes share the
    GPU or when memory fragments; it costs a little speed. The step count is the phase's
    own steps, plus the other phase's steps inside ``fit``. Without CUDA the call does
    nothing (torch skips it when CUDA was never initialized).

    Args:
        step_interval: empty the cache every this many steps.

    Raises:
        ValueError: if ``step_interval < 1``.
        TypeError: if ``step_interval`` is not an int.
    """

    def __init__(self, step_interval: int) -> None:
        check_int("step_interval", step_interval, 1)
        self._step_interval = step_interval

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Empty the cache when the train (+ eval, in ``fit``) step count hits the interval."""
        self._maybe_empty(shared_step_count(state, unit, "train_progress", "eval_progress"))

    def on_eval_step_end(self, state: State, unit: TEvalUnit) -> None:
        """Empty the cache when the eval (+ train, in ``fit``) step count hits the interval."""
        self._maybe_empty(shared_step_count(state, unit, "eval_progress", "train_progress"))

    def on_predict_step_end(self, state: State, unit: TPredictUnit) -> None:
        """Empty the cache when the predict step count hits the interval."""
        self._maybe_empty(unit.predict_progress.num_steps_completed)

    def _maybe_empty(self, total_steps: int) -> None:
        if total_steps % self._step_interval == 0:
            torch.cuda.empty_cache()
