"""Log how long each train, eval and predict iteration took."""

from typing import TYPE_CHECKING, Union

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import (
    check_int,
    check_step_cadence,
    scalar_writer,
)
from torchtnt.framework.state import State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit, TTrainUnit
from torchtnt.utils.distributed import get_global_rank
from torchtnt.utils.loggers.logger import MetricLogger
from torchtnt.utils.timer import TimerProtocol

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["IterationTimeLogger"]

_HUMAN_NAMES = {
    "train_iteration_time": "Train Iteration Time (seconds)",
    "eval_iteration_time": "Eval Iteration Time (seconds)",
    "predict_iteration_time": "Prediction Iteration Time (seconds)",
}


class IterationTimeLogger(Callback):
    """Log the duration of train, eval and predict iterations, on rank 0.

    The loop times every iteration (the step and its step-end callbacks). At the end of a
    step, this step's own time is not recorded yet, so each ``on_*_step_end`` logs the
    previous step (``num_steps_completed - 1``) and ``on_*_end`` logs the last one. The value
    is the mean of the latest ``moving_avg_window`` iteration times, under the names
    ``"Train Iteration Time (seconds)"``, ``"Eval Iteration Time (seconds)"`` and
    ``"Prediction Iteration Time (seconds)"``.

    Args:
        logger: where to log: a MetricLogger (``log(name, value, step)``) or a
            TensorBoard ``SummaryWriter`` (``add_scalar(name, value, step)``).
        moving_avg_window: number of latest iterations averaged into each value.
        log_every_n_steps: log only steps divisible by this.
        warmup_steps: steps up to and including this one are not logged.

    Raises:
        TypeError: ``logger`` is not a MetricLogger or SummaryWriter, or a count is not an int.
        ValueError: ``moving_avg_window`` or ``log_every_n_steps`` is below 1, or
            ``warmup_steps`` is negative.
    """

    def __init__(
        self,
        logger: Union[MetricLogger, "SummaryWriter"],
        *,
        moving_avg_window: int = 1,
        log_every_n_steps: int = 1,
        warmup_steps: int = 0,
    ) -> None:
        self._log_scalar = scalar_writer(logger)
        check_int("moving_avg_window", moving_avg_window, 1)
        check_step_cadence(log_every_n_steps, warmup_steps)
        self._logger = logger
        self.moving_avg_window = moving_avg_window
        self.log_every_n_steps = log_every_n_steps
        self.warmup_steps = warmup_steps

    def _log_step_metrics(
        self, metric_label: str, iteration_timer: TimerProtocol, step_logging_for: int
    ) -> None:
        """Log the mean of the latest ``metric_label`` durations at ``step_logging_for``.

        Does nothing on ranks other than 0, for warm-up steps, for steps not divisible by
        ``log_every_n_steps`` and when nothing has been recorded yet.
        """
        # The cheap integer checks come first: most steps end here.
        if step_logging_for <= self.warmup_steps or step_logging_for % self.log_every_n_steps:
            return
        if get_global_rank() != 0:
            return
        durations = iteration_timer.recorded_durations.get(metric_label)
        if not durations:
            return
        window = durations[-self.moving_avg_window :]
        self._log_scalar(_HUMAN_NAMES[metric_label], sum(window) / len(window), step_logging_for)

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Log the previous train step's iteration time."""
        self._log_step_metrics(
            "train_iteration_time",
            state.train_state.iteration_timer,  # type: ignore[union-attr]
            unit.train_progress.num_steps_completed - 1,
        )

    def on_train_end(self, state: State, unit: TTrainUnit) -> None:
        """Log the last train step's iteration time."""
        self._log_step_metrics(
            "train_iteration_time",
            state.train_state.iteration_timer,  # type: ignore[union-attr]
            unit.train_progress.num_steps_completed,
        )

    def on_eval_step_end(self, state: State, unit: TEvalUnit) -> None:
        """Log the previous eval step's iteration time."""
        self._log_step_metrics(
            "eval_iteration_time",
            state.eval_state.iteration_timer,  # type: ignore[union-attr]
            unit.eval_progress.num_steps_completed - 1,
        )

    def on_eval_end(self, state: State, unit: TEvalUnit) -> None:
        """Log the last eval step's iteration time."""
        self._log_step_metrics(
            "eval_iteration_time",
            state.eval_state.iteration_timer,  # type: ignore[union-attr]
            unit.eval_progress.num_steps_completed,
        )

    def on_predict_step_end(self, state: State, unit: TPredictUnit) -> None:
        """Log the previous predict step's iteration time."""
        self._log_step_metrics(
            "predict_iteration_time",
            state.predict_state.iteration_timer,  # type: ignore[union-attr]
            unit.predict_progress.num_steps_completed - 1,
        )

    def on_predict_end(self, state: State, unit: TPredictUnit) -> None:
        """Log the last predict step's iteration time."""
        self._log_step_metrics(
            "predict_iteration_time",
            state.predict_state.iteration_timer,  # type: ignore[union-attr]
            unit.predict_progress.num_steps_completed,
        )
