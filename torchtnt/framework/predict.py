"""The ``predict`` entry point."""

import logging
from typing import Iterable, List, Optional

import torch

from torchtnt.framework import _loop, _validate
from torchtnt.framework._callback_handler import CallbackHandler
from torchtnt.framework._loop_utils import _log_api_usage
from torchtnt.framework.callback import Callback
from torchtnt.framework.state import EntryPoint, PhaseState, State
from torchtnt.framework.unit import PredictUnit, TPredictData, TPredictUnit
from torchtnt.utils.timer import TimerProtocol

__all__ = ["predict"]

_log: logging.Logger = logging.getLogger(__name__)


def predict(
    predict_unit: TPredictUnit,
    predict_dataloader: Iterable[TPredictData],
    *,
    max_steps_per_epoch: Optional[int] = None,
    callbacks: Optional[List[Callback]] = None,
    timer: Optional[TimerProtocol] = None,
) -> None:
    """Run one prediction epoch of ``predict_unit`` over ``predict_dataloader``.

    Runs under ``torch.inference_mode()``, or ``torch.no_grad()`` when a checkpointer is among
    the callbacks (its collectives do not work under inference mode). A unit that already
    completed a predict epoch (e.g. restored from a finished checkpoint) is not run again.

    Args:
        predict_unit: the unit whose ``predict_step`` is run.
        predict_dataloader: an iterable of batches.
        max_steps_per_epoch: stop after this many steps.
        callbacks: callbacks whose overridden hooks are fired.
        timer: records named loop regions when given.

    Raises:
        TypeError: a wrongly typed argument (e.g. a unit that is not a PredictUnit).
        ValueError: a negative limit.
        Exception: whatever the unit or a callback raises, after ``on_exception`` hooks ran.
    """
    _validate.check_unit("predict_unit", predict_unit, PredictUnit)
    _validate.check_dataloader("predict_dataloader", predict_dataloader)
    _validate.check_limit("max_steps_per_epoch", max_steps_per_epoch)
    _validate.check_timer(timer)
    callback_list = _validate.check_callbacks(callbacks)
    _log_api_usage("predict")
    state = State(
        entry_point=EntryPoint.PREDICT,
        predict_state=PhaseState(
            dataloader=predict_dataloader, max_steps_per_epoch=max_steps_per_epoch
        ),
        timer=timer,
    )
    grad_mode = torch.no_grad() if _has_checkpointer(callback_list) else torch.inference_mode()
    with grad_mode:
        _loop.run_entry_point(state, predict_unit, CallbackHandler(callback_list), _predict_impl)


def _has_checkpointer(callbacks: List[Callback]) -> bool:
    try:
        from torchtnt.framework.callbacks.base_checkpointer import BaseCheckpointer
    except ImportError:
        return False
    return any(isinstance(cb, BaseCheckpointer) for cb in callbacks)


def _predict_impl(
    state: State, predict_unit: TPredictUnit, callback_handler: CallbackHandler
) -> None:
    """Run the predict phase of ``state`` once, unless the unit already finished it."""
    if predict_unit.predict_progress.num_epochs_completed >= 1:
        _log.warning(
            "predict_unit already completed a predict epoch "
            f"({predict_unit.predict_progress.get_progress_string()}); not predicting again"
        )
        return
    _loop.run_phase(state, predict_unit, callback_handler, _loop.PREDICT)
