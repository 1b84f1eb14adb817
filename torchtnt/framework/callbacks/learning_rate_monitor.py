"""Log the learning rate of every param group of the unit's optimizers and LR schedulers."""

from typing import Dict, List, Union

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import as_logger_list, check_choice
from torchtnt.framework.state import State
from torchtnt.framework.unit import AppStateMixin, TTrainUnit
from torchtnt.utils.loggers.logger import MetricLogger
from torchtnt.utils.optimizer import extract_lr_from_optimizer

__all__ = ["LearningRateMonitor"]

_INTERVALS = ("epoch", "step")


def _extract_lr(unit: AppStateMixin) -> Dict[str, float]:
    """Learning rate of each param group of the unit's tracked optimizers and schedulers."""
    lr_stats: Dict[str, float] = {}
    for name, optimizer in unit.tracked_optimizers().items():
        lr_stats.update(extract_lr_from_optimizer(optimizer, f"optimizers/{name}"))
    for name, scheduler in unit.tracked_lr_schedulers().items():
        lr_stats.update(extract_lr_from_optimizer(scheduler.optimizer, f"lr_schedulers/{name}"))
    return lr_stats


class LearningRateMonitor(Callback):
    """Log learning rates at the start of every train epoch or every train step.

    Keys are ``"optimizers/{attr}/{group}:{k}"`` for each tracked optimizer and
    ``"lr_schedulers/{attr}/{group}:{k}"`` for each tracked LR scheduler, where ``attr`` is
    the unit attribute, ``group`` the param group's ``"name"`` (or ``"pg"``) and ``k`` counts
    groups of the same name, e.g. ``"optimizers/optimizer/pg:0"``. They are logged with
    ``log_dict`` at ``train_progress.num_steps_completed``, i.e. the rate the coming step uses.

    Args:
        loggers: one MetricLogger or a list of them (an empty list logs nothing).
        logging_interval: ``"epoch"`` or ``"step"``.

    Raises:
        TypeError: a logger is not a MetricLogger.
        ValueError: ``logging_interval`` is not ``"epoch"`` or ``"step"``.
    """

    def __init__(
        self,
        loggers: Union[MetricLogger, List[MetricLogger]],
        *,
        logging_interval: str = "epoch",
    ) -> None:
        self._loggers = as_logger_list(loggers, needs=("log_dict",))
        check_choice("logging_interval", logging_interval, _INTERVALS)
        self._logging_interval = logging_interval

    def _log_lrs(self, unit: TTrainUnit) -> None:
        if not self._loggers:
            return
        lr_stats = _extract_lr(unit)
        step = unit.train_progress.num_steps_completed
        for logger in self._loggers:
            logger.log_dict(lr_stats, step)

    def on_train_epoch_start(self, state: State, unit: TTrainUnit) -> None:
        """Log learning rates when the interval is ``"epoch"``."""
        if self._logging_interval == "epoch":
            self._log_lrs(unit)

    def on_train_step_start(self, state: State, unit: TTrainUnit) -> None:
        """Log learning rates when the interval is ``"step"``."""
        if self._logging_interval == "step":
            self._log_lrs(unit)
