"""Argument checks run by every entry point before any hook or step.

Each check raises a TypeError or ValueError that names the argument, the value received and
what is accepted, so a mistake fails at the door instead of an hour into training.
"""

import collections.abc
import numbers
import sys
from typing import Any, List, Optional
from unittest.mock import NonCallableMock

from torchtnt.framework.callback import Callback
from torchtnt.framework.state import _check_loop_condition
from torchtnt.utils.timer import TimerProtocol


def check_unit(name: str, unit: object, expected: type) -> None:
    """Require ``unit`` to be an instance of ``expected`` whose ``__init__`` ran."""
    if not isinstance(unit, expected):
        raise TypeError(
            f"{name}={_describe(unit)} is invalid: expected an instance of {expected.__name__} "
            f"(subclass torchtnt.framework.unit.{expected.__name__} and implement its step)"
        )
    if not isinstance(unit, NonCallableMock) and not isinstance(
        getattr(unit, "__dict__", {}).get("_progress"), dict
    ):
        raise TypeError(
            f"{name}={_describe(unit)} was not initialized as {_article(expected.__name__)} "
            f"{expected.__name__}: every "
            "__init__ in its class hierarchy must call super().__init__()"
        )


def check_trainable(name: str, unit: object) -> None:
    """Refuse to train an AutoUnit built with ``training=False`` (it has no optimizer)."""
    auto_unit = sys.modules.get("torchtnt.framework.auto_unit")  # not imported: no AutoUnit
    if auto_unit is not None and isinstance(unit, auto_unit.AutoUnit) and not unit.training:
        raise ValueError(
            f"{name}={_describe(unit)} was built with training=False, so it has no optimizer "
            "to train with: build it with training=True (evaluate and predict work either way)"
        )


def check_dataloader(name: str, dataloader: object) -> None:
    """Require ``dataloader`` to be iterable (without creating an iterator)."""
    if not (isinstance(dataloader, collections.abc.Iterable) or hasattr(dataloader, "__getitem__")):
        raise TypeError(
            f"{name}={_describe(dataloader)} is invalid: expected an iterable of batches "
            "(a torch DataLoader, a list, a generator, ...)"
        )


def check_limit(name: str, value: Optional[int]) -> None:
    """Require ``value`` to be None or a non-negative integer (numpy integers included)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise TypeError(f"{name}={value!r} is invalid: expected a non-negative int or None")
    _check_loop_condition(name, value)


def check_callbacks(callbacks: Optional[List[Callback]]) -> List[Callback]:
    """Require a list (or tuple) of Callback instances; return it as a list."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            f"callbacks={_describe(callbacks)} is invalid: expected a list of "
            "torchtnt.framework.callback.Callback instances or None"
        )
    for index, callback in enumerate(callbacks):
        # Mocks stand in for callbacks in tests; everything else must be a real Callback.
        if not isinstance(callback, (Callback, NonCallableMock)):
            raise TypeError(
                f"callbacks[{index}]={_describe(callback)} is invalid: expected an instance of "
                "torchtnt.framework.callback.Callback (a class must be instantiated first)"
            )
    return list(callbacks)


def check_timer(timer: Optional[TimerProtocol]) -> None:
    """Require ``timer`` to be None or a timer (e.g. ``torchtnt.utils.timer.Timer()``)."""
    if timer is not None and not isinstance(timer, TimerProtocol):
        raise TypeError(
            f"timer={_describe(timer)} is invalid: expected None or a timer such as "
            "torchtnt.utils.timer.Timer()"
        )


def _article(word: str) -> str:
    return "an" if word[:1] in "AEIOU" else "a"


def _describe(value: Any) -> str:
    if isinstance(value, type):
        return f"<class {value.__qualname__}>"
    text = repr(value)
    if len(text) > 60:
        text = f"<{type(value).__name__} object>"
    return text
