"""Small evaluators that decide whether the latest value of a metric looks anomalous.

An evaluator is fed values one at a time with ``update`` and asked ``is_anomaly`` about
the most recent one; :class:`~torchtnt.utils.loggers.anomaly_logger.AnomalyLogger` runs
them on every logged metric.
"""

import math
from abc import ABC, abstractmethod

__all__ = ["IsNaNEvaluator", "MetricAnomalyEvaluator", "ThresholdEvaluator"]


class MetricAnomalyEvaluator(ABC):
    """Interface of an anomaly evaluator: remember a value, then judge it."""

    @abstractmethod
    def update(self, value: float) -> None:
        """Record ``value`` as the current value of the metric.

        Args:
            value: the newest value of the metric.
        """

    @abstractmethod
    def is_anomaly(self) -> bool:
        """Return True if the value recorded last is anomalous."""


class ThresholdEvaluator(MetricAnomalyEvaluator):
    """Flags values outside the closed interval ``[min_val, max_val]``.

    Args:
        min_val: smallest acceptable value (default: no lower bound).
        max_val: largest acceptable value (default: no upper bound).

    Raises:
        ValueError: if ``min_val`` is greater than ``max_val``, since then every value
            would be an anomaly.
    """

    def __init__(self, *, min_val: float = -math.inf, max_val: float = math.inf) -> None:
        if min_val > max_val:
            raise ValueError(
                f"min_val={min_val!r} and max_val={max_val!r} are invalid: expected "
                "min_val <= max_val"
            )
        self.min_val = min_val
        self.max_val = max_val
        # Starting at the lower bound means a fresh evaluator reports no anomaly.
        self.curr_val = min_val

    def update(self, value: float) -> None:
        """Record ``value`` as the current value.

        Args:
            value: the newest value of the metric.
        """
        self.curr_val = value

    def is_anomaly(self) -> bool:
        """Return True if the current value lies outside ``[min_val, max_val]``.

        NaN compares false to everything, so it is reported as an anomaly.
        """
        return not self.min_val <= self.curr_val <= self.max_val


class IsNaNEvaluator(MetricAnomalyEvaluator):
    """Flags NaN values."""

    def __init__(self) -> None:
        self.curr_val: float = 0

    def update(self, value: float) -> None:
        """Record ``value`` as the current value.

        Args:
            value: the newest value of the metric.
        """
        self.curr_val = value

    def is_anomaly(self) -> bool:
        """Return True if the current value is NaN."""
        return math.isnan(self.curr_val)
