import math

import pytest

from torchtnt.utils.anomaly_evaluation import (
    IsNaNEvaluator,
    MetricAnomalyEvaluator,
    ThresholdEvaluator,
)


def test_threshold_evaluator_bounds_are_inclusive() -> None:
    evaluator = ThresholdEvaluator(min_val=0.5, max_val=2.0)
    assert (evaluator.min_val, evaluator.max_val, evaluator.curr_val) == (0.5, 2.0, 0.5)
    assert evaluator.is_anomaly() is False
    results = []
    for value in [0.5, 2.0, 1.0, 0.49, 2.01, math.nan]:
        evaluator.update(value)
        results.append(evaluator.is_anomaly())
    assert results == [False, False, False, True, True, True]
    assert math.isnan(evaluator.curr_val)


def test_threshold_evaluator_defaults_are_unbounded() -> None:
    evaluator = ThresholdEvaluator()
    assert evaluator.curr_val == -math.inf
    for value in [-1e30, 0.0, 1e30, math.inf]:
        evaluator.update(value)
        assert evaluator.is_anomaly() is False


def test_threshold_evaluator_is_keyword_only_and_validated() -> None:
    with pytest.raises(TypeError):
        ThresholdEvaluator(0.0, 1.0)  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"min_val=2.0 and max_val=1.0 are invalid"):
        ThresholdEvaluator(min_val=2.0, max_val=1.0)


def test_is_nan_evaluator() -> None:
    evaluator = IsNaNEvaluator()
    assert evaluator.curr_val == 0
    assert evaluator.is_anomaly() is False
    results = []
    for value in [1.0, math.nan, math.inf, -2.0]:
        evaluator.update(value)
        results.append(evaluator.is_anomaly())
    assert results == [False, True, False, False]


def test_evaluator_interface_is_abstract() -> None:
    with pytest.raises(TypeError):
        MetricAnomalyEvaluator()  # type: ignore[abstract]

    class Always(MetricAnomalyEvaluator):
        def update(self, value: float) -> None:
            self.value = value

        def is_anomaly(self) -> bool:
            return True

    always = Always()
    always.update(3.0)
    assert always.is_anomaly() is True and always.value == 3.0
