"""Write a TensorBoard histogram of every parameter after each train epoch."""

from typing import TYPE_CHECKING, Any, Optional, Union

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import is_summary_writer
from torchtnt.framework.state import State
from torchtnt.framework.unit import TTrainUnit

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

    from torchtnt.utils.loggers.tensorboard import TensorBoardLogger

__all__ = ["TensorBoardParameterMonitor"]


def _resolve_writer(logger: object) -> Optional[Any]:
    """Return the SummaryWriter behind ``logger`` (None off rank 0 for a TensorBoardLogger).

    Raises:
        TypeError: if ``logger`` is neither a TensorBoardLogger nor has ``add_histogram``.
    """
    if is_summary_writer(logger):
        return logger
    # Importing the TensorBoard logger module is cheap once tensorboard is loaded, and
    # anyone passing a TensorBoardLogger has loaded it.
    from torchtnt.utils.loggers.tensorboard import TensorBoardLogger

    if isinstance(logger, TensorBoardLogger):
        return logger.writer
    if callable(getattr(logger, "add_histogram", None)):
        return logger  # any writer-like object, as TorchTNT accepts
    raise TypeError(
        f"logger={logger!r} is invalid: expected a torchtnt TensorBoardLogger or a "
        "torch.utils.tensorboard.SummaryWriter (or an object with add_histogram)"
    )


class TensorBoardParameterMonitor(Callback):
    """Add a histogram of each parameter of each tracked module after every train epoch.

    Tags are ``"Parameters/{module attribute}/{parameter name}"`` (e.g.
    ``"Parameters/module/weight"``), at ``train_progress.num_steps_completed``. Nothing is
    written where there is no writer (ranks other than 0 with a TensorBoardLogger).

    Args:
        logger: a TensorBoardLogger (its ``writer`` is used) or a SummaryWriter.

    Raises:
        TypeError: ``logger`` is neither.
    """

    def __init__(self, logger: Union["TensorBoardLogger", "SummaryWriter"]) -> None:
        self._writer = _resolve_writer(logger)

    def on_train_epoch_end(self, state: State, unit: TTrainUnit) -> None:
        """Write the histograms."""
        writer = self._writer
        if writer is None:
            return
        step = unit.train_progress.num_steps_completed
        for module_name, module in unit.tracked_modules().items():
            for param_name, param in module.named_parameters():
                writer.add_histogram(
                    f"Parameters/{module_name}/{param_name}", param, global_step=step
                )
