"""A callback built from plain functions, one per hook."""

import inspect
from typing import Callable, Optional

from torchtnt.framework.callback import Callback

__all__ = ["Lambda"]


def _check_hook_function(name: str, fn: Callable[..., None]) -> None:
    if not callable(fn):
        raise TypeError(f"{name}={fn!r} is invalid: expected a callable or None")
    arity = 3 if name == "on_exception" else 2
    expected = "(state, unit, exc)" if arity == 3 else "(state, unit)"
    try:
        inspect.signature(fn).bind(*([None] * arity))
    except TypeError:
        raise TypeError(
            f"{name}={getattr(fn, '__qualname__', fn)!r} is invalid: it must accept "
            f"{arity} positional arguments {expected}"
        ) from None
    except ValueError:  # builtins without a signature: trust them
        pass


class Lambda(Callback):
    """Run a given function at each hook that has one.

    Each argument is a function called with the hook's arguments: ``(state, unit)``, or
    ``(state, unit, exc)`` for ``on_exception``. Hooks left as None are not dispatched.

    Raises:
        TypeError: if a function is not callable or cannot take the hook's arguments (checked
            here, so the mistake shows before training starts).
    """

    def __init__(
        self,
        *,
        on_exception: Optional[Callable[..., None]] = None,
        on_train_start: Optional[Callable[..., None]] = None,
        on_train_epoch_start: Optional[Callable[..., None]] = None,
        on_train_dataloader_iter_creation_start: Optional[Callable[..., None]] = None,
        on_train_dataloader_iter_creation_end: Optional[Callable[..., None]] = None,
        on_train_get_next_batch_start: Optional[Callable[..., None]] = None,
        on_train_get_next_batch_end: Optional[Callable[..., None]] = None,
        on_train_step_start: Optional[Callable[..., None]] = None,
        on_train_step_end: Optional[Callable[..., None]] = None,
        on_train_epoch_end: Optional[Callable[..., None]] = None,
        on_train_end: Optional[Callable[..., None]] = None,
        on_eval_start: Optional[Callable[..., None]] = None,
        on_eval_epoch_start: Optional[Callable[..., None]] = None,
        on_eval_dataloader_iter_creation_start: Optional[Callable[..., None]] = None,
        on_eval_dataloader_iter_creation_end: Optional[Callable[..., None]] = None,
        on_eval_get_next_batch_start: Optional[Callable[..., None]] = None,
        on_eval_get_next_batch_end: Optional[Callable[..., None]] = None,
        on_eval_step_start: Optional[Callable[..., None]] = None,
        on_eval_step_end: Optional[Callable[..., None]] = None,
        on_eval_epoch_end: Optional[Callable[..., None]] = None,
        on_eval_end: Optional[Callable[..., None]] = None,
        on_predict_start: Optional[Callable[..., None]] = None,
        on_predict_epoch_start: Optional[Callable[..., None]] = None,
        on_predict_dataloader_iter_creation_start: Optional[Callable[..., None]] = None,
        on_predict_dataloader_iter_creation_end: Optional[Callable[..., None]] = None,
        on_predict_get_next_batch_start: Optional[Callable[..., None]] = None,
        on_predict_get_next_batch_end: Optional[Callable[..., None]] = None,
        on_predict_step_start: Optional[Callable[..., None]] = None,
        on_predict_step_end: Optional[Callable[..., None]] = None,
        on_predict_epoch_end: Optional[Callable[..., None]] = None,
        on_predict_end: Optional[Callable[..., None]] = None,
    ) -> None:
        functions = {k: v for k, v in locals().items() if k.startswith("on_")}
        for name, fn in functions.items():
            if fn is None:
                continue
            _check_hook_function(name, fn)
            setattr(self, name, fn)
