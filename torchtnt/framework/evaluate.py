"""The ``evaluate`` entry point."""

from typing import Iterable, List, Optional

import torch

from torchtnt.framework import _loop, _validate
from torchtnt.framework._callback_handler import CallbackHandler
from torchtnt.framework._loop_utils import _log_api_usage
from torchtnt.framework.callback import Callback
from torchtnt.framework.state import EntryPoint, PhaseState, State
from torchtnt.framework.unit import EvalUnit, TEvalData, TEvalUnit
from torchtnt.utils.timer import TimerProtocol

__all__ = ["evaluate"]


def evaluate(
    eval_unit: TEvalUnit,
    eval_dataloader: Iterable[TEvalData],
    *,
    max_steps_per_epoch: Optional[int] = None,
    callbacks: Optional[List[Callback]] = None,
    timer: Optional[TimerProtocol] = None,
) -> None:
    """Run one evaluation epoch of ``eval_unit`` over ``eval_dataloader``, without gradients.

    Hooks fire like :func:`~torchtnt.framework.train.train`'s with ``eval`` in place of
    ``train`` and exactly one epoch. Modules are put in eval mode and restored afterwards.

    Args:
        eval_unit: the unit whose ``eval_step`` is run.
        eval_dataloader: an iterable of batches.
        max_steps_per_epoch: stop after this many steps.
        callbacks: callbacks whose overridden hooks are fired.
        timer: records named loop regions when given.

    Raises:
        TypeError: a wrongly typed argument (e.g. a unit that is not an EvalUnit).
        ValueError: a negative limit.
        Exception: whatever the unit or a callback raises, after ``on_exception`` hooks ran.
    """
    _validate.check_unit("eval_unit", eval_unit, EvalUnit)
    _validate.check_dataloader("eval_dataloader", eval_dataloader)
    _validate.check_limit("max_steps_per_epoch", max_steps_per_epoch)
    _validate.check_timer(timer)
    callback_list = _validate.check_callbacks(callbacks)
    _log_api_usage("evaluate")
    state = State(
        entry_point=EntryPoint.EVALUATE,
        eval_state=PhaseState(dataloader=eval_dataloader, max_steps_per_epoch=max_steps_per_epoch),
        timer=timer,
    )
    _loop.run_entry_point(state, eval_unit, CallbackHandler(callback_list), _evaluate_impl)


@torch.no_grad()
def _evaluate_impl(state: State, eval_unit: TEvalUnit, callback_handler: CallbackHandler) -> None:
    """Run the eval phase of ``state`` once."""
    _loop.run_phase(state, eval_unit, callback_handler, _loop.EVAL)
