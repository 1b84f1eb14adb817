"""Log how long each step waited for its batch."""

from typing import TYPE_CHECKING, Union

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import check_step_cadence, scalar_writer
from torchtnt.framework.state import State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit, TTrainUnit
from torchtnt.utils.distributed import get_global_rank
from torchtnt.utils.loggers.logger import MetricLogger
from torchtnt.utils.timer import TimerProtocol

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["TimeWaitForBatchLogger"]

_TRAIN_LABEL = "Time Wait For Batch (Train)"
_EVAL_LABEL = "Time Wait For Batch (Eval)"
_PREDICT_LABEL = "Time Wait For Batch (Predict)"


class TimeWaitForBatchLogger(Callback):
    """Log, on rank 0, the time each step spent waiting for its batch.

    The loop records the time of every batch fetch under ``"data_wait_time"`` in the
    phase's iteration timer; at each step end the latest value (the current step's wait) is
    logged at the phase's ``num_steps_completed`` under ``"Time Wait For Batch (Train)"``,
    ``"Time Wait For Batch (Eval)"`` or ``"Time Wait For Batch (Predict)"``. A step whose
    wait is large compared to its iteration time is data-bound.

    Args:
        logger: a MetricLogger (``log(name, value, step)``) or a TensorBoard
            ``SummaryWriter`` (``add_scalar(name, value, step)``).
        log_every_n_steps: log only steps divisible by this.
        warmup_steps: steps up to and including this one are not logged.

    Raises:
        TypeError: ``logger`` is not a MetricLogger or SummaryWriter, or a count is not an int.
        ValueError: ``log_every_n_steps`` is below 1 or ``warmup_steps`` is negative.
    """

    def __init__(
        self,
        logger: Union[MetricLogger, "SummaryWriter"],
        *,
        log_every_n_steps: int = 1,
        warmup_steps: int = 0,
    ) -> None:
        self._log_scalar = scalar_writer(logger)
        check_step_cadence(log_every_n_steps, warmup_steps)
        self._logger = logger
        self.log_every_n_steps = log_every_n_steps
        self.warmup_steps = warmup_steps

    def _log_step_metrics(self, *, timer: TimerProtocol, label: str, step: int) -> None:
        """Log the latest ``"data_wait_time"`` of ``timer`` under ``label`` at ``step``.

        Does nothing on ranks other than 0, for warm-up steps, for steps not divisible by
        ``log_every_n_steps`` and when no wait was recorded.
        """
        if step <= self.warmup_steps or step % self.log_every_n_steps:
            return
        if get_global_rank() != 0:
            return
        waits = timer.recorded_durations.get("data_wait_time")
        if waits:
            self._log_scalar(label, waits[-1], step)

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Log this train step's wait for data."""
        self._log_step_metrics(
            timer=state.train_state.iteration_timer,  # type: ignore[union-attr]
            label=_TRAIN_LABEL,
            step=unit.train_progress.num_steps_completed,
        )

    def on_eval_step_end(self, state: State, unit: TEvalUnit) -> None:
        """Log this eval step's wait for data."""
        self._log_step_metrics(
            timer=state.eval_state.iteration_timer,  # type: ignore[union-attr]
            label=_EVAL_LABEL,
            step=unit.eval_progress.num_steps_completed,
        )

    def on_predict_step_end(self, state: State, unit: TPredictUnit) -> None:
        """Log this predict step's wait for data."""
        self._log_step_metrics(
            timer=state.predict_state.iteration_timer,  # type: ignore[union-attr]
            label=_PREDICT_LABEL,
            step=unit.predict_progress.num_steps_completed,
        )
