"""Log how many train steps were completed after each epoch."""

from typing import List, Union

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import as_logger_list
from torchtnt.framework.state import State
from torchtnt.framework.unit import TTrainUnit
from torchtnt.utils.loggers.logger import MetricLogger

__all__ = ["TrainProgressMonitor"]

_METRIC_NAME = "Training steps completed vs epochs"


class TrainProgressMonitor(Callback):
    """Log the train steps completed against the epochs completed.

    At the start of training and after every train epoch, each logger gets
    ``log("Training steps completed vs epochs", num_steps_completed, num_epochs_completed)``:
    the value is the step count and the x-axis the epoch count, which shows at a glance
    whether epochs keep the same length.

    Args:
        loggers: one MetricLogger or a list of them (an empty list logs nothing).

    Raises:
        TypeError: a logger is not a MetricLogger.
    """

    def __init__(self, loggers: Union[MetricLogger, List[MetricLogger]]) -> None:
        self._loggers = as_logger_list(loggers)

    def _log_progress(self, unit: TTrainUnit) -> None:
        progress = unit.train_progress
        for logger in self._loggers:
            logger.log(_METRIC_NAME, progress.num_steps_completed, progress.num_epochs_completed)

    def on_train_start(self, state: State, unit: TTrainUnit) -> None:
        """Log the progress the run starts from."""
        self._log_progress(unit)

    def on_train_epoch_end(self, state: State, unit: TTrainUnit) -> None:
        """Log the progress after the epoch."""
        self._log_progress(unit)
