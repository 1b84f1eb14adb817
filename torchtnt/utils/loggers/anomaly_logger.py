"""A logger that watches chosen metrics and reacts when one of them looks anomalous."""

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Optional

from torchtnt.utils.anomaly_evaluation import MetricAnomalyEvaluator
from torchtnt.utils.loggers.logger import MetricLogger, Scalar
from torchtnt.utils.loggers.utils import scalar_to_float

logger: logging.Logger = logging.getLogger(__name__)


@dataclass
class TrackedMetric:
    """Which metric to watch, with which evaluators, and how often.

    Args:
        name: name of the metric, as passed to ``log``.
        anomaly_evaluators: evaluators fed every logged value of the metric.
        warmup_steps: steps up to and including this one are never reported.
        evaluate_every_n_steps: only steps divisible by this are checked.

    Raises:
        ValueError: ``warmup_steps`` is negative or ``evaluate_every_n_steps`` is below 1.
    """

    name: str
    anomaly_evaluators: List[MetricAnomalyEvaluator]
    warmup_steps: int = 0
    evaluate_every_n_steps: int = 1

    def __post_init__(self) -> None:
        if self.warmup_steps < 0:
            raise ValueError(
                f"warmup_steps={self.warmup_steps!r} for metric {self.name!r} is invalid: "
                "expected an int >= 0"
            )
        if self.evaluate_every_n_steps < 1:
            raise ValueError(
                f"evaluate_every_n_steps={self.evaluate_every_n_steps!r} for metric "
                f"{self.name!r} is invalid: expected an int >= 1"
            )


def _index_tracked_metrics(
    tracked_metrics: Optional[List[TrackedMetric]],
) -> Dict[str, TrackedMetric]:
    """Map names to configs, dropping every name configured more than once."""
    if not tracked_metrics:
        return {}
    counts = Counter(metric.name for metric in tracked_metrics)
    for name, count in counts.items():
        if count > 1:
            logger.warning(
                f"Found {count} configs for metric '{name}'; skipping anomaly detection "
                "for it. Give each metric a single TrackedMetric."
            )
    return {m.name: m for m in tracked_metrics if counts[m.name] == 1}


class AnomalyLogger(MetricLogger):
    """Run anomaly evaluators on the tracked metrics as they are logged.

    Every logged value of a tracked metric is converted to float and fed to each of its
    evaluators. From step ``warmup_steps + 1`` on, at steps divisible by
    ``evaluate_every_n_steps``, each evaluator reporting an anomaly triggers a warning and
    :meth:`on_anomaly_detected`. A value that cannot be converted to float is treated as an
    anomaly right away. Subclass and override :meth:`on_anomaly_detected` to act (alert,
    stop training, ...); exceptions it raises are logged, not propagated.

    Args:
        tracked_metrics: metrics to watch. A name given more than once is not tracked at
            all (with a warning), since it is ambiguous which config applies.
    """

    def __init__(self, tracked_metrics: Optional[List[TrackedMetric]] = None) -> None:
        self._tracked_metrics: Dict[str, TrackedMetric] = _index_tracked_metrics(tracked_metrics)

    def log(self, name: str, data: Scalar, step: int) -> None:
        """Check ``data`` for anomalies if ``name`` is tracked; otherwise do nothing.

        Args:
            name: metric name.
            data: the value.
            step: the step the value belongs to.
        """
        tracked = self._tracked_metrics.get(name)
        if tracked is not None:
            self._evaluate(tracked, data, step)

    def on_anomaly_detected(self, name: str, data: Scalar, step: int) -> None:
        """Hook called for each anomaly found; does nothing unless overridden.

        Args:
            name: the metric's name.
            data: the anomalous value (as logged, when it could not be converted to float).
            step: the step it was logged at.
        """

    def close(self) -> None:
        """Nothing to release."""

    def _evaluate(self, tracked: TrackedMetric, data: Scalar, step: int) -> None:
        try:
            value = scalar_to_float(data)
        except (TypeError, ValueError) as e:
            logger.warning(
                f"Could not convert value of metric '{tracked.name}' at step {step} to float "
                f"({e}); treating it as an anomaly."
            )
            self._notify(tracked.name, data, step)
            return
        due = step > tracked.warmup_steps and step % tracked.evaluate_every_n_steps == 0
        for evaluator in tracked.anomaly_evaluators:
            evaluator.update(value)
            if due and evaluator.is_anomaly():
                logger.warning(
                    f"Found anomaly in metric: {tracked.name}, with value: {value}, "
                    f"at step {step}, using evaluator: {type(evaluator).__name__}"
                )
                self._notify(tracked.name, value, step)

    def _notify(self, name: str, data: Scalar, step: int) -> None:
        # A failing user hook must not take the training run down with it.
        try:
            self.on_anomaly_detected(name, data, step)
        except Exception as e:
            logger.warning(f"on_anomaly_detected raised for metric '{name}' at step {step}: {e!r}")
