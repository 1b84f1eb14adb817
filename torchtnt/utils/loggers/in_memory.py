"""Keep logged metrics in a Python dict, for tests and notebooks."""

from collections import OrderedDict
from typing import Dict

from torchtnt.utils.loggers.logger import MetricLogger, Scalar
from torchtnt.utils.loggers.utils import _add_to_row, _metric_to_float


class InMemoryLogger(MetricLogger):
    """Record metrics in :attr:`log_buffer`: an ``OrderedDict`` of step -> row dict.

    Rows have the same shape as a file logger's: the metrics logged for the step (as
    floats) plus ``"step"`` and ``"time"`` (``time.monotonic()`` of the latest log). Every
    rank keeps its own buffer.
    """

    def __init__(self) -> None:
        self._log_buffer: OrderedDict[int, Dict[str, float]] = OrderedDict()

    @property
    def log_buffer(self) -> "OrderedDict[int, Dict[str, float]]":
        """Rows logged so far, keyed by step in first-logged order."""
        return self._log_buffer

    def log(self, name: str, data: Scalar, step: int) -> None:
        """Store ``data`` (as a float) under ``name`` in the row for ``step``.

        Args:
            name: metric name.
            data: an int, a float, or a tensor/ndarray with one element.
            step: the step the value belongs to.

        Raises:
            ValueError: ``data`` has more than one element.
            TypeError: ``data`` cannot be converted to float.
        """
        value = _metric_to_float(name, data, step)
        _add_to_row(self._log_buffer, name, value, step)

    def flush(self) -> None:
        """Print the buffer to stdout."""
        print(self._log_buffer)

    def close(self) -> None:
        """Drop every stored row."""
        self._log_buffer.clear()
