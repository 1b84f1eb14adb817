"""Log a progress line at every coarse hook of every phase."""

import logging
from typing import Callable

from torchtnt.framework.callback import Callback
from torchtnt.framework.state import EntryPoint, State
from torchtnt.utils.distributed import get_global_rank

__all__ = ["ProgressReporter"]

logger: logging.Logger = logging.getLogger(__name__)

# Which units' progress each entry point reports, in order.
_REPORTED = {
    EntryPoint.TRAIN: (("Train", "train_progress"),),
    EntryPoint.EVALUATE: (("Eval", "eval_progress"),),
    EntryPoint.PREDICT: (("Predict", "predict_progress"),),
    EntryPoint.FIT: (("Train", "train_progress"), ("Eval", "eval_progress")),
}


def _report(hook: str, state: State, unit: object) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return  # skip building the line when nobody would see it
    message = f"Progress Reporter: rank {get_global_rank()} at {hook}."
    for label, attr in _REPORTED[state.entry_point]:
        message += f" {label} progress: {getattr(unit, attr).get_progress_string()}"
    logger.info(message)


def _reporting_hook(hook: str) -> Callable[[Callback, State, object], None]:
    def report(self: Callback, state: State, unit: object) -> None:
        _report(hook, state, unit)

    report.__name__ = report.__qualname__ = hook
    report.__doc__ = f"Log the progress at ``{hook}``."
    return report


class ProgressReporter(Callback):
    """Log where each rank is, at the start, end, epoch boundaries and every step.

    Each line reads ``"Progress Reporter: rank {rank} at {hook}."`` followed by the unit's
    progress for the entry point, e.g. ``" Train progress: completed epochs: 0, completed
    steps: 3, completed steps in current epoch: 3."`` (fit reports train then eval). It is
    logged at INFO level by this module's logger on every rank, which helps find the rank
    that hangs in a distributed job.
    """

    on_train_start = _reporting_hook("on_train_start")
    on_train_epoch_start = _reporting_hook("on_train_epoch_start")
    on_train_step_start = _reporting_hook("on_train_step_start")
    on_train_step_end = _reporting_hook("on_train_step_end")
    on_train_epoch_end = _reporting_hook("on_train_epoch_end")
    on_train_end = _reporting_hook("on_train_end")
    on_eval_start = _reporting_hook("on_eval_start")
    on_eval_epoch_start = _reporting_hook("on_eval_epoch_start")
    on_eval_step_start = _reporting_hook("on_eval_step_start")
    on_eval_step_end = _reporting_hook("on_eval_step_end")
    on_eval_epoch_end = _reporting_hook("on_eval_epoch_end")
    on_eval_end = _reporting_hook("on_eval_end")
    on_predict_start = _reporting_hook("on_predict_start")
    on_predict_epoch_start = _reporting_hook("on_predict_epoch_start")
    on_predict_step_start = _reporting_hook("on_predict_step_start")
    on_predict_step_end = _reporting_hook("on_predict_step_end")
    on_predict_epoch_end = _reporting_hook("on_predict_epoch_end")
    on_predict_end = _reporting_hook("on_predict_end")
