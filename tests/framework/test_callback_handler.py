import functools
from typing import List
from unittest.mock import MagicMock, Mock

from torchtnt.framework._callback_handler import (
    HOOK_NAMES,
    CallbackHandler,
    _get_implemented_callback_mapping,
    _has_method_override,
)
from torchtnt.framework._test_utils import get_dummy_train_state
from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks.lambda_callback import Lambda


class StepEnd(Callback):
    def __init__(self, log: List[str], tag: str) -> None:
        self.log, self.tag = log, tag

    def on_train_step_end(self, state, unit) -> None:  # noqa: ANN001
        self.log.append(self.tag)


class Wrapped(Callback):
    @functools.wraps(Callback.on_train_start)
    def on_train_start(self, state, unit) -> None:  # noqa: ANN001
        pass


def test_hook_names_order() -> None:
    assert len(HOOK_NAMES) == 31
    assert HOOK_NAMES[:3] == ("on_exception", "on_train_start", "on_train_epoch_start")
    assert HOOK_NAMES[-1] == "on_predict_end"


def test_has_method_override() -> None:
    assert _has_method_override("on_train_step_end", StepEnd([], "a"), Callback) is True
    assert _has_method_override("on_train_start", StepEnd([], "a"), Callback) is False
    assert _has_method_override("on_train_start", Mock(), Callback) is True
    assert _has_method_override("missing_hook", Callback(), Callback) is False
    assert _has_method_override("on_eval_end", Lambda(on_eval_end=lambda s, u: None), Callback)
    # a wrapper is looked through: wrapping the base no-op is not an override
    assert _has_method_override("on_train_start", Wrapped(), Callback) is False
    partial_cb = Callback()
    partial_cb.on_train_start = functools.partial(lambda tag, s, u: None, "x")  # type: ignore[method-assign]
    assert _has_method_override("on_train_start", partial_cb, Callback) is True


def test_mapping_only_lists_overridden_hooks_in_order() -> None:
    a, b = StepEnd([], "a"), StepEnd([], "b")
    lam = Lambda(on_train_start=lambda s, u: None)
    mapping = _get_implemented_callback_mapping([a, Callback(), lam, b])
    assert mapping == {"on_train_start": [lam], "on_train_step_end": [a, b]}


def test_handler_dispatches_in_user_order_and_skips_others() -> None:
    log: List[str] = []
    handler = CallbackHandler([StepEnd(log, "first"), Callback(), StepEnd(log, "second")])
    state = get_dummy_train_state()
    handler.on_train_step_end(state, None)
    handler.on_train_start(state, None)
    assert log == ["first", "second"]
    assert handler.hooks["on_train_start"] == ()
    assert len(handler.hooks["on_train_step_end"]) == 2


def test_handler_with_mocks_calls_every_hook() -> None:
    cb = MagicMock()
    handler = CallbackHandler([cb])
    state = get_dummy_train_state()
    for hook in HOOK_NAMES:
        if hook == "on_exception":
            handler.on_exception(state, None, RuntimeError("x"))
        else:
            getattr(handler, hook)(state, None)
    for hook in HOOK_NAMES:
        assert getattr(cb, hook).call_count == 1, hook


def test_handler_methods_have_names() -> None:
    assert CallbackHandler.on_eval_step_end.__name__ == "on_eval_step_end"
    assert CallbackHandler([]).callbacks == []
