"""Log CPU, memory and (with CUDA) GPU usage during a run."""

from typing import Any, List, Literal, Union

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import as_logger_list, check_choice
from torchtnt.framework.state import State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit, TTrainUnit
from torchtnt.utils.device import collect_system_stats, get_device_from_env
from torchtnt.utils.loggers.logger import MetricLogger

__all__ = ["SystemResourcesMonitor"]


class SystemResourcesMonitor(Callback):
    """Log system statistics at the start of every epoch or every step of each phase.

    The statistics are those of :func:`torchtnt.utils.device.collect_system_stats`: host
    memory/CPU/swap use and this process's CPU times and resident memory (psutil), plus
    nvidia-smi readings and the CUDA allocator's ``memory_stats()`` when CUDA is available.
    They are logged with ``log_dict`` at the running phase's ``num_steps_completed``.

    Args:
        loggers: one MetricLogger or a list of them.
        logging_interval: ``"epoch"`` or ``"step"``.

    Raises:
        TypeError: a logger is not a MetricLogger.
        ValueError: ``logging_interval`` is not ``"epoch"`` or ``"step"``.
        ModuleNotFoundError: psutil is not installed.
    """

    def __init__(
        self,
        loggers: Union[MetricLogger, List[MetricLogger]],
        *,
        logging_interval: Literal["epoch", "step"] = "epoch",
    ) -> None:
        self._loggers = as_logger_list(loggers, needs=("log_dict",))
        check_choice("logging_interval", logging_interval, ("epoch", "step"))
        self._logging_interval = logging_interval
        try:
            import psutil
        except ModuleNotFoundError as e:  # pragma: no cover - psutil is a required dependency
            raise ModuleNotFoundError(
                "SystemResourcesMonitor needs psutil: pip install psutil"
            ) from e
        self._process: Any = psutil.Process()
        self._device = get_device_from_env()

    def write_system_stats(self, logging_interval: str, step: int) -> None:
        """Collect and log the statistics at ``step`` if ``logging_interval`` is the one
        this monitor was configured with.

        Args:
            logging_interval: the interval of the calling hook, ``"epoch"`` or ``"step"``.
            step: the step the values are logged at.
        """
        if logging_interval != self._logging_interval or not self._loggers:
            return
        stats = collect_system_stats(self._device)
        for logger in self._loggers:
            logger.log_dict(stats, step)

    def on_train_epoch_start(self, state: State, unit: TTrainUnit) -> None:
        """Log the statistics when the interval is ``"epoch"``."""
        self.write_system_stats("epoch", unit.train_progress.num_steps_completed)

    def on_train_step_start(self, state: State, unit: TTrainUnit) -> None:
        """Log the statistics when the interval is ``"step"``."""
        self.write_system_stats("step", unit.train_progress.num_steps_completed)

    def on_eval_epoch_start(self, state: State, unit: TEvalUnit) -> None:
        """Log the statistics when the interval is ``"epoch"``."""
        self.write_system_stats("epoch", unit.eval_progress.num_steps_completed)

    def on_eval_step_start(self, state: State, unit: TEvalUnit) -> None:
        """Log the statistics when the interval is ``"step"``."""
        self.write_system_stats("step", unit.eval_progress.num_steps_completed)

    def on_predict_epoch_start(self, state: State, unit: TPredictUnit) -> None:
        """Log the statistics when the interval is ``"epoch"``."""
        self.write_system_stats("epoch", unit.predict_progress.num_steps_completed)

    def on_predict_step_start(self, state: State, unit: TPredictUnit) -> None:
        """Log the statistics when the interval is ``"step"``."""
        self.write_system_stats("step", unit.predict_progress.num_steps_completed)
