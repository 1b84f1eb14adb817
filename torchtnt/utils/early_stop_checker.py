"""Decide when a monitored metric has stopped improving, so training can stop early."""

import math
from numbers import Real
from typing import Any, Dict, Literal, Optional, Union, final

import torch

__all__ = ["EarlyStopChecker"]

_MODES = ("min", "max")
_THRESHOLD_MODES = ("abs", "rel")


def _check_choice(name: str, value: object, accepted: tuple) -> None:
    if value not in accepted:
        raise ValueError(f"{name}={value!r} is invalid: expected one of {list(accepted)}")


def _check_patience(patience: object) -> int:
    # 0 is allowed (TorchTNT accepts it): like 1, it stops at the first check without
    # improvement.
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
        raise ValueError(f"patience={patience!r} is invalid: expected an int >= 0")
    return patience


def _check_min_delta(min_delta: object) -> float:
    if isinstance(min_delta, bool) or not isinstance(min_delta, Real):
        raise TypeError(f"min_delta={min_delta!r} is invalid: expected a float >= 0")
    if not min_delta >= 0 or math.isinf(min_delta):
        raise ValueError(f"min_delta={min_delta!r} is invalid: expected a finite float >= 0")
    return float(min_delta)


def _optional_tensor(name: str, value: Optional[float]) -> Optional[torch.Tensor]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name}={value!r} is invalid: expected a float or None")
    return torch.tensor(float(value))


def _as_value_tensor(val: Union[torch.Tensor, float, int]) -> torch.Tensor:
    if isinstance(val, torch.Tensor):
        tensor = val.detach()
    elif isinstance(val, Real):
        tensor = torch.tensor(float(val))
    else:
        raise TypeError(
            f"val={val!r} is invalid: expected a float, an int or a one-element torch.Tensor"
        )
    if tensor.numel() != 1:
        raise ValueError(
            f"val has {tensor.numel()} elements (shape {tuple(tensor.shape)}): expected a "
            "single value"
        )
    # Bookkeeping lives on the CPU so values from any device compare against it.
    return tensor.to(device="cpu", dtype=torch.float32).reshape(1)


@final
class EarlyStopChecker:
    """Tracks a metric and says when training should stop.

    Call :meth:`check` with each new value of the metric. It returns True when the value
    is not finite (if ``check_finite``), has reached ``stopping_threshold``, has passed
    ``divergence_threshold``, or when the metric has failed to improve for ``patience``
    checks in a row.

    A value counts as an improvement when it beats the best value seen so far by more
    than ``min_delta`` (``threshold_mode="abs"``) or by more than ``min_delta`` times the
    best value (``threshold_mode="rel"``).

    Args:
        mode: ``"min"`` if lower values are better, ``"max"`` if higher values are better.
        patience: how many checks in a row without improvement end training.
        min_delta: the margin by which a value must beat the best one to count as an
            improvement; must be >= 0.
        check_finite: stop as soon as a value is NaN or infinite.
        threshold_mode: ``"abs"`` or ``"rel"``, how ``min_delta`` is applied.
        stopping_threshold: stop once the metric is better than this value. Like the
            divergence threshold, a value of 0.0 is treated as unset.
        divergence_threshold: stop once the metric is worse than this value.

    Raises:
        ValueError: on an unknown ``mode`` or ``threshold_mode``, ``patience`` < 0 or a
            negative ``min_delta``.
        TypeError: if ``min_delta`` or a threshold is not a number.
    """

    def __init__(
        self,
        mode: Literal["min", "max"],
        patience: int,
        min_delta: float = 0.0,
        check_finite: bool = True,
        threshold_mode: Literal["abs", "rel"] = "abs",
        stopping_threshold: Optional[float] = None,
        divergence_threshold: Optional[float] = None,
    ) -> None:
        _check_choice("mode", mode, _MODES)
        _check_choice("threshold_mode", threshold_mode, _THRESHOLD_MODES)
        self._mode: Literal["min", "max"] = mode
        self._patience: int = _check_patience(patience)
        delta = _check_min_delta(min_delta)
        # Negating the delta in "min" mode lets one formula, cmp(val - threshold, best),
        # serve both directions.
        self._min_delta: torch.Tensor = torch.tensor(-delta if mode == "min" else delta)
        self._check_finite = check_finite
        self._threshold_mode: Literal["abs", "rel"] = threshold_mode
        self._stopping_threshold = _optional_tensor("stopping_threshold", stopping_threshold)
        self._divergence_threshold = _optional_tensor("divergence_threshold", divergence_threshold)
        self._patience_count = 0
        self._best_value = self._initial_best()

    @property
    def mode(self) -> Literal["min", "max"]:
        """``"min"`` or ``"max"``: which direction is an improvement."""
        return self._mode

    @property
    def patience(self) -> int:
        """Number of checks in a row without improvement that end training."""
        return self._patience

    @property
    def min_delta(self) -> torch.Tensor:
        """The improvement margin as a tensor; negated in ``"min"`` mode."""
        return self._min_delta

    @property
    def check_finite(self) -> bool:
        """Whether a NaN or infinite value stops training."""
        return self._check_finite

    @property
    def threshold_mode(self) -> Literal["abs", "rel"]:
        """``"abs"`` or ``"rel"``: how ``min_delta`` is applied."""
        return self._threshold_mode

    @property
    def stopping_threshold(self) -> Optional[torch.Tensor]:
        """The value that, once reached, stops training (tensor), or None."""
        return self._stopping_threshold

    @property
    def divergence_threshold(self) -> Optional[torch.Tensor]:
        """The value that, once passed the wrong way, stops training (tensor), or None."""
        return self._divergence_threshold

    def _initial_best(self) -> torch.Tensor:
        return torch.tensor(math.inf if self._mode == "min" else -math.inf)

    def reset(self) -> None:
        """Forget the best value and the count of checks without improvement."""
        self._patience_count = 0
        self._best_value = self._initial_best()

    def state_dict(self) -> Dict[str, Any]:
        """Return ``{"patience_count": int, "best_value": tensor}`` for checkpointing."""
        return {"patience_count": self._patience_count, "best_value": self._best_value.clone()}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict`.

        Args:
            state_dict: a dict with keys ``"patience_count"`` and ``"best_value"``.

        Raises:
            KeyError: if one of the two keys is missing.
        """
        missing = [k for k in ("patience_count", "best_value") if k not in state_dict]
        if missing:
            raise KeyError(
                f"state_dict is missing {missing}: expected the keys 'patience_count' and "
                f"'best_value', got {sorted(state_dict)}"
            )
        self._patience_count = int(state_dict["patience_count"])
        self._best_value = torch.as_tensor(state_dict["best_value"]).detach().cpu()

    def check(self, val: Union[torch.Tensor, float, int]) -> bool:
        """Record a new value of the metric and say whether training should stop.

        Args:
            val: the metric value, a number or a one-element tensor on any device.

        Returns:
            True if training should stop.

        Raises:
            ValueError: if ``val`` is a tensor with more than one element.
            TypeError: if ``val`` is neither a number nor a tensor.
        """
        value = _as_value_tensor(val)
        if self._check_finite and not bool(torch.isfinite(value).all()):
            return True
        if self._reached_stopping_threshold(value) or self._diverged(value):
            return True
        if self._is_improvement(value):
            self._best_value = value
            self._patience_count = 0
            return False
        self._patience_count += 1
        return self._patience_count >= self._patience

    def _better(self, a: torch.Tensor, b: torch.Tensor) -> bool:
        return bool(a < b) if self._mode == "min" else bool(a > b)

    # Thresholds are tested by tensor truthiness (TorchTNT-compatible), so 0.0 is unset.
    def _reached_stopping_threshold(self, value: torch.Tensor) -> bool:
        threshold = self._stopping_threshold
        return threshold is not None and bool(threshold) and self._better(value, threshold)

    def _diverged(self, value: torch.Tensor) -> bool:
        threshold = self._divergence_threshold
        return threshold is not None and bool(threshold) and self._better(threshold, value)

    def _is_improvement(self, value: torch.Tensor) -> bool:
        if self._threshold_mode == "abs":
            margin = self._min_delta
        elif bool(torch.isfinite(self._best_value).all()):
            margin = self._min_delta * self._best_value
        else:
            margin = torch.tensor(0.0)
        return self._better(value - margin, self._best_value)
