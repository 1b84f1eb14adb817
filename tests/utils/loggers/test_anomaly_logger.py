import logging
import math
from typing import List, Tuple

import pytest
import torch

from torchtnt.utils.anomaly_evaluation import IsNaNEvaluator, ThresholdEvaluator
from torchtnt.utils.loggers.anomaly_logger import AnomalyLogger, TrackedMetric
from torchtnt.utils.loggers.logger import Scalar

LOGGER_NAME = "torchtnt.utils.loggers.anomaly_logger"


class RecordingAnomalyLogger(AnomalyLogger):
    """Remembers every on_anomaly_detected call."""

    def __init__(self, tracked_metrics: List[TrackedMetric]) -> None:
        super().__init__(tracked_metrics)
        self.anomalies: List[Tuple[str, Scalar, int]] = []

    def on_anomaly_detected(self, name: str, data: Scalar, step: int) -> None:
        self.anomalies.append((name, data, step))


def _warnings(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER_NAME and r.levelno == logging.WARNING
    ]


def test_duplicate_configs_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    logger = AnomalyLogger(
        tracked_metrics=[
            TrackedMetric(name="accuracy", anomaly_evaluators=[ThresholdEvaluator(max_val=1)]),
            TrackedMetric(name="accuracy", anomaly_evaluators=[IsNaNEvaluator()]),
            TrackedMetric(name="loss", anomaly_evaluators=[IsNaNEvaluator()]),
        ]
    )
    assert list(logger._tracked_metrics) == ["loss"]
    assert _warnings(caplog) == [
        "Found 2 configs for metric 'accuracy'; skipping anomaly detection for it. "
        "Give each metric a single TrackedMetric."
    ]


def test_warmup_cadence_and_threshold(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    evaluator = ThresholdEvaluator(min_val=0.5, max_val=0.9)
    logger = RecordingAnomalyLogger(
        [
            TrackedMetric(
                name="accuracy",
                anomaly_evaluators=[evaluator],
                warmup_steps=4,
                evaluate_every_n_steps=2,
            )
        ]
    )
    logger.log("accuracy", 0.2, 4)  # anomalous but within warmup
    assert evaluator.curr_val == 0.2  # evaluators still see every value
    logger.log("accuracy", 0.1, 5)  # anomalous but not an evaluation step
    logger.log("loss", math.nan, 6)  # untracked
    logger.log("accuracy", 0.6, 6)  # within range
    assert logger.anomalies == [] and _warnings(caplog) == []
    logger.log("accuracy", torch.tensor(0.95, dtype=torch.float64), 8)
    assert logger.anomalies == [("accuracy", 0.95, 8)]
    assert type(logger.anomalies[0][1]) is float
    (message,) = _warnings(caplog)
    assert message.startswith("Found anomaly in metric: accuracy, with value: 0.95")
    assert message.endswith("at step 8, using evaluator: ThresholdEvaluator")


def test_every_flagging_evaluator_reports_and_log_dict() -> None:
    logger = RecordingAnomalyLogger(
        [TrackedMetric("loss", [IsNaNEvaluator(), ThresholdEvaluator(max_val=10.0)])]
    )
    logger.log_dict({"loss": math.nan, "other": math.nan}, 1)
    # NaN is outside any threshold too, so both evaluators flag it.
    assert [(name, step) for name, _, step in logger.anomalies] == [("loss", 1), ("loss", 1)]
    assert all(math.isnan(value) for _, value, _ in logger.anomalies)


def test_value_not_convertible_to_float_is_an_anomaly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    evaluator = ThresholdEvaluator(min_val=0.0)
    logger = RecordingAnomalyLogger([TrackedMetric("acc", [evaluator], warmup_steps=100)])
    bad = torch.Tensor([0.5, 0.9])
    logger.log("acc", bad, 1)
    assert len(logger.anomalies) == 1 and logger.anomalies[0][1] is bad
    assert evaluator.curr_val == 0.0  # not fed
    (message,) = _warnings(caplog)
    assert message.startswith("Could not convert value of metric 'acc' at step 1 to float")


def test_failing_hook_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)

    class Exploding(AnomalyLogger):
        def on_anomaly_detected(self, name: str, data: Scalar, step: int) -> None:
            raise RuntimeError("pager offline")

    Exploding([TrackedMetric("x", [IsNaNEvaluator()])]).log("x", math.nan, 3)
    messages = _warnings(caplog)
    assert len(messages) == 2
    assert messages[1] == (
        "on_anomaly_detected raised for metric 'x' at step 3: RuntimeError('pager offline')"
    )


def test_base_logger_without_tracked_metrics_is_inert() -> None:
    logger = AnomalyLogger()
    logger.log("x", torch.ones(3), 0)  # not tracked, so never converted
    logger.log_dict({"y": math.nan}, 1)
    logger.close()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"warmup_steps": -1}, r"^warmup_steps=-1 for metric 'm' is invalid"),
        ({"evaluate_every_n_steps": 0}, r"^evaluate_every_n_steps=0 for metric 'm' is invalid"),
    ],
)
def test_tracked_metric_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrackedMetric("m", [IsNaNEvaluator()], **kwargs)
