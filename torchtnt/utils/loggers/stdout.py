"""Print metrics to stdout, one line per step."""

import atexit
import sys
from typing import Optional

import torchtnt.utils.distributed as _distributed
from torchtnt.utils.loggers.logger import MetricLogger, Scalar
from torchtnt.utils.loggers.utils import _metric_to_float


class StdoutLogger(MetricLogger):
    """Print metrics on global rank 0 as ``[Step N] name=value name=value``.

    A new line starts whenever the step changes; values are formatted with ``precision``
    decimals. For example ``log("m", 1.23456, 3); log_dict({"n": 2}, 3); log("m", 1, 4)``
    prints ``"\\n[Step 3] m=1.2346 n=2.0000\\n[Step 4] m=1.0000"``. ``close`` (also run at
    interpreter exit) ends the output with two newlines.

    Args:
        precision: number of decimals printed for each value.

    Raises:
        ValueError: ``precision`` is not an int >= 0.
    """

    def __init__(self, precision: int = 4) -> None:
        if isinstance(precision, bool) or not isinstance(precision, int) or precision < 0:
            raise ValueError(f"precision={precision!r} is invalid: expected an int >= 0")
        self._precision = precision
        self._rank: int = _distributed.get_global_rank()
        self._current_step: Optional[int] = None
        atexit.register(self.close)

    def log(self, name: str, data: Scalar, step: int) -> None:
        """Print `` name=value`` on the line of ``step`` (rank 0 only).

        Args:
            name: metric name.
            data: an int, a float, or a tensor/ndarray with one element.
            step: the step the value belongs to.

        Raises:
            ValueError: ``data`` has more than one element.
            TypeError: ``data`` cannot be converted to float.
        """
        if self._rank != 0:
            return
        value = _metric_to_float(name, data, step)
        if step != self._current_step:
            print(f"\n[Step {step}]", end="", flush=True)
            self._current_step = step
        print(f" {name}={value:.{self._precision}f}", end="", flush=True)

    def close(self) -> None:
        """End the current line with two newlines and flush stdout."""
        print("\n")
        sys.stdout.flush()
