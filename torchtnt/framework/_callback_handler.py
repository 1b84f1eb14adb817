"""Dispatch of callback hooks, precomputed once per run.

For every hook, the handler keeps a tuple of the bound methods of the callbacks that override
it. Firing a hook nobody overrides is a loop over an empty tuple.
"""

import functools
from typing import Any, Callable, Dict, List, Tuple
from unittest.mock import Mock

from torchtnt.framework.callback import Callback
from torchtnt.utils.event_handlers import log_interval

__all__ = ["CallbackHandler"]

_PHASE_EVENTS = (
    "start",
    "epoch_start",
    "dataloader_iter_creation_start",
    "dataloader_iter_creation_end",
    "get_next_batch_start",
    "get_next_batch_end",
    "step_start",
    "step_end",
    "epoch_end",
    "end",
)
HOOK_NAMES: Tuple[str, ...] = ("on_exception",) + tuple(
    f"on_{phase}_{event}" for phase in ("train", "eval", "predict") for event in _PHASE_EVENTS
)
# Hooks reported to event handlers (observability only).
_LOGGED_HOOKS = frozenset({"on_train_start", "on_train_epoch_end", "on_train_end"})


def _unwrap(func: Any) -> Any:
    while True:
        if isinstance(func, functools.partial):
            func = func.func
        elif hasattr(func, "__wrapped__"):
            func = func.__wrapped__
        else:
            return func


def _has_method_override(method_name: str, instance: object, base_class: type) -> bool:
    """Return True if ``instance`` provides its own ``method_name`` instead of the base's.

    Mocks count as overriding everything; wrappers (``functools.wraps``, ``partial``) are
    looked through; anything callable without code of its own counts as an override.
    """
    if isinstance(instance, Mock):
        return True
    method = getattr(instance, method_name, None)
    if method is None:
        return False
    code = getattr(_unwrap(method), "__code__", None)
    base_code = getattr(getattr(base_class, method_name, None), "__code__", None)
    return code is None or code is not base_code


def _get_implemented_callback_mapping(callbacks: List[Callback]) -> Dict[str, List[Callback]]:
    """Map each hook name to the callbacks overriding it, in the user's order.

    Hooks that no callback overrides are absent from the result.
    """
    mapping: Dict[str, List[Callback]] = {}
    for hook in HOOK_NAMES:
        overriding = [cb for cb in callbacks if _has_method_override(hook, cb, Callback)]
        if overriding:
            mapping[hook] = overriding
    return mapping


class CallbackHandler:
    """Fires each hook on the callbacks that override it, in the order they were given.

    Args:
        callbacks: the run's callbacks.
    """

    def __init__(self, callbacks: List[Callback]) -> None:
        self._callbacks = callbacks
        mapping = _get_implemented_callback_mapping(callbacks)
        #: hook name -> tuple of bound methods; the loop engine iterates these directly.
        self.hooks: Dict[str, Tuple[Callable[..., None], ...]] = {
            hook: tuple(getattr(cb, hook) for cb in mapping.get(hook, ())) for hook in HOOK_NAMES
        }

    @property
    def callbacks(self) -> List[Callback]:
        """The callbacks this handler was built with."""
        return self._callbacks


def _make_dispatcher(hook: str) -> Callable[..., None]:
    def dispatch(self: CallbackHandler, *args: Any) -> None:
        for fn in self.hooks[hook]:
            fn(*args)

    dispatch.__name__ = dispatch.__qualname__ = hook
    dispatch.__doc__ = f"Call ``{hook}`` on every callback that overrides it."
    if hook in _LOGGED_HOOKS:
        return log_interval(hook, metadata={"category": "callback_handler"})(dispatch)
    return dispatch


for _hook in HOOK_NAMES:
    setattr(CallbackHandler, _hook, _make_dispatcher(_hook))
del _hook
