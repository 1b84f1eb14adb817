"""Log metrics, text, images, histograms and hyper-parameters to TensorBoard."""

import atexit
import logging
from typing import Any, Dict, List, Mapping, Optional

import torchtnt.utils.distributed as _distributed
from torchtnt.utils.loggers.anomaly_logger import AnomalyLogger, TrackedMetric
from torchtnt.utils.loggers.logger import Scalar
from torchtnt.utils.loggers.utils import _check_writable_path, _metric_to_float

# This module is imported only by code that uses TensorBoard (torchtnt.utils.loggers is
# lazy), so importing tensorboard here costs nothing elsewhere. Keeping SummaryWriter a
# module-level name lets tests patch it; a missing install is reported at construction.
try:
    from torch.utils.tensorboard import SummaryWriter
except ImportError:  # pragma: no cover - depends on the environment
    SummaryWriter = None

logger: logging.Logger = logging.getLogger(__name__)


class TensorBoardLogger(AnomalyLogger):
    """Write TensorBoard event files under ``path``, from global rank 0 only.

    Rank 0 creates a ``SummaryWriter(*args, log_dir=path, **kwargs)``; on other ranks
    :attr:`writer` is None and every write method does nothing. Scalars logged with
    :meth:`log` also go through the anomaly checks of :class:`~torchtnt.utils.loggers.anomaly_logger.AnomalyLogger`. ``close``
    runs automatically at interpreter exit.

    Args:
        path: directory for the event files (any location TensorBoard can write).
        tracked_metrics: metrics to watch for anomalies, see :class:`~torchtnt.utils.loggers.anomaly_logger.AnomalyLogger`.
        *args: forwarded to ``SummaryWriter``.
        **kwargs: forwarded to ``SummaryWriter`` (e.g. ``flush_secs``).

    Raises:
        ImportError: tensorboard is not installed.
        ValueError: ``path`` is a local path that cannot be written (checked on rank 0).
    """

    def __init__(
        self,
        path: str,
        tracked_metrics: Optional[List[TrackedMetric]] = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(tracked_metrics)
        self._path = path
        self._writer: Optional[Any] = None
        if _distributed.get_global_rank() == 0:
            if SummaryWriter is None:
                raise ImportError(
                    "TensorBoardLogger needs the tensorboard package: "
                    "pip install torchtnt[tensorboard]"
                )
            _check_writable_path(path, arg_name="path", is_dir=True)
            self._writer = SummaryWriter(*args, log_dir=path, **kwargs)
            logger.info(f"Logging TensorBoard events to {path}")
        atexit.register(self.close)

    @property
    def writer(self) -> Optional[Any]:
        """The ``SummaryWriter`` on rank 0; None on other ranks and after :meth:`close`."""
        return self._writer

    @property
    def path(self) -> str:
        """The TensorBoard log directory."""
        return self._path

    def log(self, name: str, data: Scalar, step: int) -> None:
        """Add scalar ``data`` under tag ``name`` at ``step``, then run anomaly checks.

        NaN and infinities are written as they are.

        Args:
            name: the tag, e.g. ``"train/loss"``.
            data: an int, a float, or a tensor/ndarray with one element.
            step: the global step.

        Raises:
            ValueError: ``data`` has more than one element (on rank 0).
            TypeError: ``data`` cannot be converted to float (on rank 0).
        """
        if self._writer is not None:
            value = _metric_to_float(name, data, step)
            self._writer.add_scalar(name, value, global_step=step, new_style=True)
        super().log(name, data, step)

    def log_dict(self, payload: Mapping[str, Scalar], step: int) -> None:
        """Call :meth:`log` for every item of ``payload`` (rank 0 only).

        Args:
            payload: tags mapped to scalar values.
            step: the global step.
        """
        if self._writer is not None:
            for name, data in payload.items():
                self.log(name, data, step)

    def log_text(self, name: str, data: str, step: int) -> None:
        """Add a text entry under tag ``name`` at ``step``.

        Args:
            name: the tag.
            data: the text (markdown is rendered by TensorBoard).
            step: the global step.
        """
        if self._writer is not None:
            self._writer.add_text(name, data, global_step=step)

    def log_hparams(self, hparams: Dict[str, Scalar], metrics: Dict[str, Scalar]) -> None:
        """Record a set of hyper-parameters with the metrics they achieved.

        Args:
            hparams: hyper-parameter names mapped to values (bool, str, number or tensor).
            metrics: metric names mapped to values, shown next to the hyper-parameters.
        """
        if self._writer is not None:
            self._writer.add_hparams(hparams, metrics)

    def log_image(self, *args: Any, **kwargs: Any) -> None:
        """Add one image; arguments as ``SummaryWriter.add_image``."""
        if self._writer is not None:
            self._writer.add_image(*args, **kwargs)

    def log_images(self, *args: Any, **kwargs: Any) -> None:
        """Add a batch of images; arguments as ``SummaryWriter.add_images``."""
        if self._writer is not None:
            self._writer.add_images(*args, **kwargs)

    def log_figure(self, *args: Any, **kwargs: Any) -> None:
        """Add a matplotlib figure; arguments as ``SummaryWriter.add_figure``."""
        if self._writer is not None:
            self._writer.add_figure(*args, **kwargs)

    def log_audio(self, *args: Any, **kwargs: Any) -> None:
        """Add an audio clip; arguments as ``SummaryWriter.add_audio``."""
        if self._writer is not None:
            self._writer.add_audio(*args, **kwargs)

    def log_histogram(self, *args: Any, **kwargs: Any) -> None:
        """Add a histogram of values; arguments as ``SummaryWriter.add_histogram``."""
        if self._writer is not None:
            self._writer.add_histogram(*args, **kwargs)

    def log_histogram_raw(self, *args: Any, **kwargs: Any) -> None:
        """Add a pre-binned histogram; arguments as ``SummaryWriter.add_histogram_raw``."""
        if self._writer is not None:
            self._writer.add_histogram_raw(*args, **kwargs)

    def log_scalars(
        self,
        main_tag: str,
        tag_scalar_dict: Dict[str, Scalar],
        global_step: Optional[int] = None,
        walltime: Optional[float] = None,
    ) -> None:
        """Add several related scalars, plotted together under ``main_tag``.

        Args:
            main_tag: parent tag of the group.
            tag_scalar_dict: sub-tags mapped to values.
            global_step: the global step.
            walltime: event time in seconds since the epoch (default: now).
        """
        if self._writer is not None:
            self._writer.add_scalars(main_tag, tag_scalar_dict, global_step, walltime)

    def flush(self) -> None:
        """Write pending events to disk."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the writer; later calls do nothing."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
