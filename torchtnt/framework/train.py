"""The ``train`` entry point."""

import logging
from typing import Iterable, List, Optional

import torch

from torchtnt.framework import _loop, _validate
from torchtnt.framework._callback_handler import CallbackHandler
from torchtnt.framework._loop_utils import _log_api_usage
from torchtnt.framework.callback import Callback
from torchtnt.framework.state import EntryPoint, PhaseState, State
from torchtnt.framework.unit import TrainUnit, TTrainData, TTrainUnit
from torchtnt.utils.rank_zero_log import rank_zero_warn
from torchtnt.utils.timer import TimerProtocol

__all__ = ["train"]

_log: logging.Logger = logging.getLogger(__name__)


@torch.enable_grad()
def train(
    train_unit: TTrainUnit,
    train_dataloader: Iterable[TTrainData],
    *,
    max_epochs: Optional[int] = None,
    max_steps: Optional[int] = None,
    max_steps_per_epoch: Optional[int] = None,
    callbacks: Optional[List[Callback]] = None,
    timer: Optional[TimerProtocol] = None,
) -> None:
    """Train ``train_unit`` on ``train_dataloader``.

    Hooks fire in this order (unit hooks before the callbacks' hooks of the same name)::

        on_train_start
        per epoch, until max_epochs / max_steps / state.stop():
            on_train_epoch_start            (skipped when resuming mid-epoch)
            on_train_dataloader_iter_creation_start; iter(dataloader);
            on_train_dataloader_iter_creation_end
            per step, until the data ends / max_steps_per_epoch / max_steps / state.stop():
                on_train_get_next_batch_start; unit.get_next_train_batch;
                on_train_get_next_batch_end
                on_train_step_start; unit.train_step; train_progress.increment_step();
                on_train_step_end
            train_progress.increment_epoch(); on_train_epoch_end
        on_train_end

    Args:
        train_unit: the unit whose ``train_step`` is run.
        train_dataloader: an iterable of batches, re-iterated every epoch.
        max_epochs: stop after this many epochs (None: no epoch limit).
        max_steps: stop after this many steps in total (None: no step limit).
        max_steps_per_epoch: end each epoch after this many steps.
        callbacks: callbacks whose overridden hooks are fired.
        timer: records named loop regions when given.

    Raises:
        TypeError: a wrongly typed argument (e.g. a unit that is not a TrainUnit).
        ValueError: a negative limit.
        Exception: whatever the unit or a callback raises, after ``on_exception`` hooks ran.
    """
    callback_list = _check_train_args(
        train_unit, train_dataloader, max_epochs, max_steps, max_steps_per_epoch, callbacks, timer
    )
    _log_api_usage("train")
    state = State(
        entry_point=EntryPoint.TRAIN,
        train_state=PhaseState(
            dataloader=train_dataloader,
            max_epochs=max_epochs,
            max_steps=max_steps,
            max_steps_per_epoch=max_steps_per_epoch,
        ),
        timer=timer,
    )
    _loop.run_entry_point(state, train_unit, CallbackHandler(callback_list), _train_impl)


def _check_train_args(
    unit: object,
    dataloader: object,
    max_epochs: Optional[int],
    max_steps: Optional[int],
    max_steps_per_epoch: Optional[int],
    callbacks: Optional[List[Callback]],
    timer: Optional[TimerProtocol],
    unit_name: str = "train_unit",
    dataloader_name: str = "train_dataloader",
    steps_per_epoch_name: str = "max_steps_per_epoch",
) -> List[Callback]:
    """Check the training arguments shared by ``train`` and ``fit``; return the callbacks."""
    _validate.check_unit(unit_name, unit, TrainUnit)
    _validate.check_trainable(unit_name, unit)
    _validate.check_dataloader(dataloader_name, dataloader)
    _validate.check_limit("max_epochs", max_epochs)
    _validate.check_limit("max_steps", max_steps)
    _validate.check_limit(steps_per_epoch_name, max_steps_per_epoch)
    _validate.check_timer(timer)
    if max_epochs is None and max_steps is None:
        rank_zero_warn(
            "max_epochs and max_steps are both None: training runs until state.stop() is "
            "called; set one of them to bound it",
            logger=_log,
        )
    return _validate.check_callbacks(callbacks)


@torch.enable_grad()
def _train_impl(state: State, train_unit: TTrainUnit, callback_handler: CallbackHandler) -> None:
    """Run the train phase of ``state`` (also used by ``fit``)."""
    _loop.run_phase(state, train_unit, callback_handler, _loop.TRAIN)


def _train_epoch_impl(
    state: State, train_unit: TTrainUnit, callback_handler: CallbackHandler
) -> None:
    """Run one train epoch of ``state``."""
    _loop.run_epoch(state, train_unit, callback_handler, _loop.TRAIN)
