import math
from typing import List, Sequence

import pytest
import torch

from torchtnt.utils.early_stop_checker import EarlyStopChecker


def decisions(checker: EarlyStopChecker, values: Sequence[object]) -> List[bool]:
    return [checker.check(v) for v in values]  # type: ignore[arg-type]


def test_min_mode_patience() -> None:
    checker = EarlyStopChecker("min", patience=2)
    assert decisions(checker, [5.0, 4.0, 4.0, 4.5]) == [False, False, False, True]


def test_max_mode_patience_resets_on_improvement() -> None:
    checker = EarlyStopChecker("max", patience=2)
    assert decisions(checker, [1.0, 0.5, 2.0, 1.0, 1.5]) == [False, False, False, False, True]


def test_patience_one_stops_on_first_non_improvement() -> None:
    checker = EarlyStopChecker("min", patience=1)
    assert decisions(checker, [3, 2, 2]) == [False, False, True]


def test_patience_zero_acts_like_one() -> None:
    checker = EarlyStopChecker("min", patience=0)
    assert checker.patience == 0
    assert decisions(checker, [3, 2, 2]) == [False, False, True]


def test_min_delta_abs() -> None:
    # In "min" mode a value must be below best - 0.5 to count as an improvement.
    checker = EarlyStopChecker("min", patience=2, min_delta=0.5)
    assert decisions(checker, [10.0, 9.75, 9.25, 9.0, 9.0]) == [False, False, False, False, True]
    torch.testing.assert_close(checker.state_dict()["best_value"], torch.tensor([9.25]))


def test_min_delta_abs_max_mode() -> None:
    checker = EarlyStopChecker("max", patience=2, min_delta=1.0)
    assert decisions(checker, [0.0, 0.5, 1.5, 2.0, 2.25]) == [False, False, False, False, True]
    torch.testing.assert_close(checker.state_dict()["best_value"], torch.tensor([1.5]))


def test_min_delta_rel_min_mode() -> None:
    # Improvement needs val < best * (1 - 0.1).
    checker = EarlyStopChecker("min", patience=1, min_delta=0.1, threshold_mode="rel")
    assert decisions(checker, [10.0, 8.5]) == [False, False]
    assert checker.check(8.0) is True  # 8.0 > 8.5 * 0.9 = 7.65


def test_min_delta_rel_max_mode() -> None:
    # Improvement needs val > best * (1 + 0.5); the first value always improves on -inf.
    checker = EarlyStopChecker("max", patience=2, min_delta=0.5, threshold_mode="rel")
    assert decisions(checker, [2.0, 3.5, 2.5, 5.5, 6.0]) == [False, False, False, False, False]
    state = checker.state_dict()
    assert state["patience_count"] == 1
    torch.testing.assert_close(state["best_value"], torch.tensor([5.5]))


def test_min_delta_property_is_negated_in_min_mode() -> None:
    torch.testing.assert_close(
        EarlyStopChecker("min", 1, min_delta=0.25).min_delta, torch.tensor(-0.25)
    )
    torch.testing.assert_close(
        EarlyStopChecker("max", 1, min_delta=0.25).min_delta, torch.tensor(0.25)
    )


def test_properties() -> None:
    checker = EarlyStopChecker(
        "max",
        patience=4,
        check_finite=False,
        threshold_mode="rel",
        stopping_threshold=0.9,
        divergence_threshold=0.1,
    )
    assert checker.mode == "max"
    assert checker.patience == 4
    assert checker.check_finite is False
    assert checker.threshold_mode == "rel"
    torch.testing.assert_close(checker.stopping_threshold, torch.tensor(0.9))
    torch.testing.assert_close(checker.divergence_threshold, torch.tensor(0.1))
    defaults = EarlyStopChecker("min", 1)
    assert defaults.stopping_threshold is None and defaults.divergence_threshold is None
    assert defaults.check_finite is True and defaults.threshold_mode == "abs"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_check_finite(value: float) -> None:
    assert EarlyStopChecker("min", patience=5).check(value) is True
    lenient = EarlyStopChecker("min", patience=5, check_finite=False)
    assert lenient.check(1.0) is False
    # Without the finite check a non-finite value is judged like any other.
    improves = value == -math.inf
    assert lenient.check(value) is False
    assert lenient.state_dict()["patience_count"] == (0 if improves else 1)


def test_stopping_threshold() -> None:
    low = EarlyStopChecker("min", patience=5, stopping_threshold=0.5)
    assert decisions(low, [0.75, 0.5, 0.25]) == [False, False, True]
    high = EarlyStopChecker("max", patience=5, stopping_threshold=0.9)
    assert decisions(high, [0.5, 0.9, 0.95]) == [False, False, True]


def test_divergence_threshold() -> None:
    low = EarlyStopChecker("min", patience=5, divergence_threshold=10.0)
    assert decisions(low, [5.0, 10.0, 11.0]) == [False, False, True]
    high = EarlyStopChecker("max", patience=5, divergence_threshold=-1.0)
    assert decisions(high, [0.0, -1.0, -2.0]) == [False, False, True]


def test_zero_thresholds_are_ignored() -> None:
    # TorchTNT tests thresholds by tensor truthiness, so 0.0 acts like "unset".
    checker = EarlyStopChecker("min", patience=5, stopping_threshold=0.0, divergence_threshold=0.0)
    assert decisions(checker, [1.0, -1.0]) == [False, False]


def test_thresholds_are_checked_before_improvement() -> None:
    checker = EarlyStopChecker("min", patience=5, stopping_threshold=1.0)
    assert checker.check(0.5) is True
    # The stopping value was not recorded as the best.
    assert checker.state_dict()["best_value"].item() == math.inf


def test_tensor_and_int_inputs() -> None:
    checker = EarlyStopChecker("min", patience=2)
    assert checker.check(torch.tensor([[3.0]], dtype=torch.float64)) is False
    assert checker.check(torch.tensor(2)) is False
    assert checker.check(2) is False
    assert checker.check(torch.tensor([5.0])) is True
    best = checker.state_dict()["best_value"]
    assert best.dtype == torch.float32 and best.shape == (1,)
    torch.testing.assert_close(best, torch.tensor([2.0]))


def test_tensor_with_grad_is_accepted() -> None:
    loss = torch.tensor(1.0, requires_grad=True) * 2
    checker = EarlyStopChecker("min", patience=1)
    assert checker.check(loss) is False
    assert not checker.state_dict()["best_value"].requires_grad


def test_bad_values_for_check() -> None:
    checker = EarlyStopChecker("min", patience=1)
    with pytest.raises(ValueError, match=r"val has 2 elements \(shape \(2,\)\)"):
        checker.check(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="val has 0 elements"):
        checker.check(torch.tensor([]))
    with pytest.raises(TypeError, match="val='0.5' is invalid"):
        checker.check("0.5")  # type: ignore[arg-type]


def test_reset() -> None:
    checker = EarlyStopChecker("max", patience=2)
    decisions(checker, [3.0, 1.0])
    checker.reset()
    assert checker.state_dict()["patience_count"] == 0
    assert checker.state_dict()["best_value"].item() == -math.inf
    assert decisions(checker, [1.0, 0.0, 0.0]) == [False, False, True]


def test_state_dict_round_trip() -> None:
    original = EarlyStopChecker("min", patience=3)
    assert decisions(original, [3.0, 4.0, 5.0]) == [False, False, False]
    state = original.state_dict()
    assert state["patience_count"] == 2
    torch.testing.assert_close(state["best_value"], torch.tensor([3.0]))

    restored = EarlyStopChecker("min", patience=3)
    restored.load_state_dict(state)
    assert restored.check(6.0) is True
    assert original.check(6.0) is True

    fresh = EarlyStopChecker("min", patience=3)
    fresh.load_state_dict({"patience_count": 0, "best_value": torch.tensor([3.0])})
    assert fresh.check(3.0) is False  # equal is not an improvement
    assert fresh.state_dict()["patience_count"] == 1
    with pytest.raises(KeyError, match="missing \\['best_value'\\]"):
        fresh.load_state_dict({"patience_count": 0})


def test_state_dict_is_not_aliased() -> None:
    checker = EarlyStopChecker("min", patience=3)
    checker.check(1.0)
    checker.state_dict()["best_value"].fill_(-5.0)
    torch.testing.assert_close(checker.state_dict()["best_value"], torch.tensor([1.0]))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"mode": "mean"}, ValueError, r"mode='mean' is invalid: expected one of \['min', 'max'\]"),
        ({"patience": -2}, ValueError, r"patience=-2 is invalid: expected an int >= 0"),
        ({"patience": 1.5}, ValueError, r"patience=1.5 is invalid"),
        ({"patience": True}, ValueError, r"patience=True is invalid"),
        (
            {"min_delta": -0.1},
            ValueError,
            r"min_delta=-0.1 is invalid: expected a finite float >= 0",
        ),
        ({"min_delta": math.nan}, ValueError, r"min_delta=nan is invalid"),
        ({"min_delta": "0.1"}, TypeError, r"min_delta='0.1' is invalid"),
        (
            {"threshold_mode": "relative"},
            ValueError,
            r"threshold_mode='relative' is invalid: expected one of \['abs', 'rel'\]",
        ),
        ({"stopping_threshold": "1"}, TypeError, r"stopping_threshold='1' is invalid"),
        ({"divergence_threshold": [1.0]}, TypeError, r"divergence_threshold=\[1.0\] is invalid"),
    ],
)
def test_invalid_arguments(kwargs: dict, error: type, message: str) -> None:
    arguments = {"mode": "min", "patience": 1, **kwargs}
    with pytest.raises(error, match=message):
        EarlyStopChecker(**arguments)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_values() -> None:
    checker = EarlyStopChecker("min", patience=1, min_delta=0.5)
    assert checker.check(torch.tensor(2.0, device="cuda")) is False
    assert checker.check(torch.tensor([1.75], device="cuda")) is True
    torch.testing.assert_close(checker.state_dict()["best_value"], torch.tensor([2.0]))
