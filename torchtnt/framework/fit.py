"""The ``fit`` entry point: training with evaluation interleaved."""

from typing import Iterable, List, Optional

from torchtnt.framework import _loop, _validate
from torchtnt.framework._callback_handler import CallbackHandler
from torchtnt.framework._loop_utils import _log_api_usage
from torchtnt.framework.callback import Callback
from torchtnt.framework.state import EntryPoint, PhaseState, State
from torchtnt.framework.train import _check_train_args, _train_impl
from torchtnt.framework.unit import EvalUnit, TEvalData, TrainUnit, TTrainData, TTrainUnit
from torchtnt.utils.timer import TimerProtocol

__all__ = ["fit"]


def fit(
    unit: TTrainUnit,
    train_dataloader: Iterable[TTrainData],
    eval_dataloader: Iterable[TEvalData],
    *,
    max_epochs: Optional[int] = None,
    max_steps: Optional[int] = None,
    max_train_steps_per_epoch: Optional[int] = None,
    max_eval_steps_per_epoch: Optional[int] = None,
    evaluate_every_n_steps: Optional[int] = None,
    evaluate_every_n_epochs: Optional[int] = 1,
    callbacks: Optional[List[Callback]] = None,
    timer: Optional[TimerProtocol] = None,
) -> None:
    """Train ``unit`` and evaluate it every n steps and/or every n epochs.

    Training runs as in :func:`~torchtnt.framework.train.train`. A step-based evaluation runs
    right after the ``on_train_step_end`` hooks of every n-th step; an epoch-based one right
    after the ``on_train_epoch_end`` hooks of every n-th epoch. Each evaluation is one eval
    epoch (see :func:`~torchtnt.framework.evaluate.evaluate`); ``eval_progress`` accumulates
    across them.

    Args:
        unit: a unit implementing both TrainUnit and EvalUnit.
        train_dataloader: training batches, re-iterated every epoch.
        eval_dataloader: evaluation batches, re-iterated at every evaluation.
        max_epochs: stop after this many train epochs.
        max_steps: stop after this many train steps.
        max_train_steps_per_epoch: end each train epoch after this many steps.
        max_eval_steps_per_epoch: end each evaluation after this many steps.
        evaluate_every_n_steps: evaluate every n train steps (None/0: never by steps).
        evaluate_every_n_epochs: evaluate every n train epochs (None/0: never by epochs).
        callbacks: callbacks whose overridden hooks are fired.
        timer: records named loop regions when given.

    Raises:
        TypeError: ``unit`` lacks the TrainUnit or EvalUnit interface, or another argument
            has the wrong type.
        ValueError: a negative limit, or an evaluation cadence without an eval dataloader.
        Exception: whatever the unit or a callback raises, after ``on_exception`` hooks ran.
    """
    if not isinstance(unit, TrainUnit):
        raise TypeError("Expected unit to implement TrainUnit interface.")
    if not isinstance(unit, EvalUnit):
        raise TypeError("Expected unit to implement EvalUnit interface.")
    callback_list = _check_train_args(
        unit,
        train_dataloader,
        max_epochs,
        max_steps,
        max_train_steps_per_epoch,
        callbacks,
        timer,
        unit_name="unit",
        steps_per_epoch_name="max_train_steps_per_epoch",
    )
    _check_eval_args(
        eval_dataloader, max_eval_steps_per_epoch, evaluate_every_n_steps, evaluate_every_n_epochs
    )
    _log_api_usage("fit")
    state = State(
        entry_point=EntryPoint.FIT,
        train_state=PhaseState(
            dataloader=train_dataloader,
            max_epochs=max_epochs,
            max_steps=max_steps,
            max_steps_per_epoch=max_train_steps_per_epoch,
        ),
        eval_state=PhaseState(
            dataloader=eval_dataloader,
            max_steps_per_epoch=max_eval_steps_per_epoch,
            evaluate_every_n_steps=evaluate_every_n_steps,
            evaluate_every_n_epochs=evaluate_every_n_epochs,
        ),
        timer=timer,
    )
    _loop.run_entry_point(state, unit, CallbackHandler(callback_list), _train_impl)


def _check_eval_args(
    eval_dataloader: object,
    max_eval_steps_per_epoch: Optional[int],
    evaluate_every_n_steps: Optional[int],
    evaluate_every_n_epochs: Optional[int],
) -> None:
    _validate.check_limit("max_eval_steps_per_epoch", max_eval_steps_per_epoch)
    _validate.check_limit("evaluate_every_n_steps", evaluate_every_n_steps)
    _validate.check_limit("evaluate_every_n_epochs", evaluate_every_n_epochs)
    if eval_dataloader is None:
        for name, value in (
            ("evaluate_every_n_steps", evaluate_every_n_steps),
            ("evaluate_every_n_epochs", evaluate_every_n_epochs),
        ):
            if value:
                raise ValueError(
                    f"{name}={value} is invalid without an eval dataloader: pass "
                    f"eval_dataloader, or set {name}=None to train without evaluating"
                )
        return
    _validate.check_dataloader("eval_dataloader", eval_dataloader)
