"""Base class for loggers that buffer metric rows in memory and write them to one file."""

import atexit
import logging
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Dict, List, Set

import torchtnt.utils.distributed as _distributed
from torchtnt.utils.loggers.logger import MetricLogger, Scalar
from torchtnt.utils.loggers.utils import (
    _add_to_row,
    _as_step,
    _check_writable_path,
    _metric_to_float,
)

logger: logging.Logger = logging.getLogger(__name__)

_RESERVED_COLUMNS = ("step", "time")


def _check_steps_before_flushing(steps_before_flushing: int) -> None:
    """Reject flush intervals that are not non-negative ints."""
    if (
        isinstance(steps_before_flushing, bool)
        or not isinstance(steps_before_flushing, int)
        or steps_before_flushing < 0
    ):
        raise ValueError(
            f"steps_before_flushing={steps_before_flushing!r} is invalid: expected an int >= 0 "
            "(the number of new steps buffered between automatic flushes; 0 flushes on every log)"
        )


class FileLogger(MetricLogger, ABC):
    """Buffer one row per step and let a subclass write all rows to ``path``.

    A row is a dict holding every metric logged for its step plus ``"step"`` and ``"time"``
    (``time.monotonic()`` of the latest log for that step). Its key order is the first metric
    logged for the step, ``"step"``, ``"time"``, then further metrics in logging order.

    Only global rank 0 buffers and writes, unless ``log_all_ranks`` is True (then give each
    rank its own ``path``). Rows are never dropped from the buffer, so each flush rewrites the
    whole file. ``close`` runs automatically at interpreter exit.

    Args:
        path: file to write; local paths are checked up front, remote fsspec URLs are not.
        steps_before_flushing: flush automatically once this many new steps were buffered
            since the last automatic flush (0: flush after every log).
        log_all_ranks: write on every rank instead of rank 0 only.

    Raises:
        ValueError: ``steps_before_flushing`` is negative or not an int, or ``path`` cannot be
            written (checked on the ranks that write).
    """

    def __init__(self, path: str, steps_before_flushing: int, log_all_ranks: bool) -> None:
        _check_steps_before_flushing(steps_before_flushing)
        self._path = path
        self._steps_before_flushing = steps_before_flushing
        self._log_all_ranks = log_all_ranks
        self._rank: int = _distributed.get_global_rank()
        self._log_buffer: OrderedDict[int, Dict[str, float]] = OrderedDict()
        self._len_before_flush = 0
        self._warned_reserved: Set[str] = set()
        if self._writes_on_this_rank:
            _check_writable_path(path, arg_name="path")
            logger.info(f"Logging metrics to path: {path}")
        atexit.register(self.close)

    @property
    def path(self) -> str:
        """The file this logger writes."""
        return self._path

    @property
    def _writes_on_this_rank(self) -> bool:
        return self._log_all_ranks or self._rank == 0

    def _rows(self) -> List[Dict[str, float]]:
        """Snapshot of the buffered rows, safe to hand to another thread."""
        return [dict(row) for row in self._log_buffer.values()]

    def log(self, name: str, data: Scalar, step: int) -> None:
        """Buffer ``data`` (converted to float) as metric ``name`` of the row for ``step``.

        Args:
            name: metric name; a metric named ``"step"`` or ``"time"`` is overwritten by the
                row's own column (with a warning).
            data: an int, a float, or a tensor/ndarray with one element. NaN and infinities
                are kept as they are.
            step: the step the value belongs to: an int (a NumPy integer or a one-element
                integer tensor is converted).

        Raises:
            ValueError: ``data`` has more than one element.
            TypeError: ``data`` cannot be converted to float, or ``step`` is not an integer.
        """
        if type(step) is not int:
            step = _as_step(name, step)
        if self._writes_on_this_rank:
            if name in _RESERVED_COLUMNS and name not in self._warned_reserved:
                # TorchTNT lets the row's own column win silently; say so, once per name.
                self._warned_reserved.add(name)
                logger.warning(
                    f"Metric name {name!r} collides with the {name!r} column every row has: "
                    "its values are overwritten by the row's own; log it under another name."
                )
            value = _metric_to_float(name, data, step)
            _add_to_row(self._log_buffer, name, value, step)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        buffered = len(self._log_buffer)
        if buffered - self._len_before_flush >= self._steps_before_flushing:
            self.flush()
            self._len_before_flush = buffered

    @abstractmethod
    def flush(self) -> None:
        """Write every buffered row to :attr:`path` (a no-op when nothing was logged)."""
        ...

    @abstractmethod
    def close(self) -> None:
        """Write out the buffer and finish any pending write."""
        ...
