"""Stop training once a monitored attribute of the unit stops improving."""

import logging
from typing import Literal

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import check_choice, check_int
from torchtnt.framework.state import State
from torchtnt.framework.unit import TEvalUnit, TTrainUnit
from torchtnt.utils.distributed import get_global_rank, sync_bool
from torchtnt.utils.early_stop_checker import EarlyStopChecker

__all__ = ["EarlyStopping"]

logger: logging.Logger = logging.getLogger(__name__)

_INTERVALS = ("step", "epoch")
_PHASES = ("train", "eval")


class EarlyStopping(Callback):
    """Ask the run to stop when ``unit.<monitored_attr>`` has stopped improving.

    At every ``interval_freq``-th step or epoch (``interval``) of ``phase``, rank 0 feeds
    the unit's attribute to ``early_stop_checker``; its verdict is broadcast to all ranks
    and, if it says stop, ``state.stop()`` is called, so training ends after the current
    step or epoch. With ``phase="eval"`` the check runs on eval progress (e.g. an eval
    loss inside ``fit``). Epoch checks run in this callback's ``on_<phase>_epoch_end``,
    after the unit's own ``on_<phase>_epoch_end`` and before its ``on_<phase>_end``: set
    the attribute in the step or in the unit's ``on_<phase>_epoch_end``.

    Note: the check is collective; every rank must run this callback.

    Args:
        monitored_attr: name of the unit attribute holding the metric (a float or a
            one-element tensor).
        early_stop_checker: decides from the successive values whether to stop.
        interval: ``"step"`` or ``"epoch"``, when to check.
        phase: ``"train"`` or ``"eval"``, whose progress drives the checks.
        interval_freq: check every this many steps or epochs.

    Raises:
        ValueError: on an unknown ``interval`` or ``phase``, or ``interval_freq < 1``.
        TypeError: if ``monitored_attr`` is not a non-empty str, ``interval_freq`` not an
            int, or ``early_stop_checker`` has no ``check`` method.
    """

    def __init__(
        self,
        monitored_attr: str,
        early_stop_checker: EarlyStopChecker,
        interval: Literal["step", "epoch"] = "epoch",
        phase: Literal["train", "eval"] = "train",
        interval_freq: int = 1,
    ) -> None:
        if not isinstance(monitored_attr, str) or not monitored_attr:
            raise TypeError(
                f"monitored_attr={monitored_attr!r} is invalid: expected the name (a non-empty "
                "str) of the unit attribute holding the metric"
            )
        check_choice("interval", interval, _INTERVALS)
        check_choice("phase", phase, _PHASES)
        check_int("interval_freq", interval_freq, 1)
        if not callable(getattr(early_stop_checker, "check", None)):
            raise TypeError(
                f"early_stop_checker={early_stop_checker!r} is invalid: expected an "
                "EarlyStopChecker"
            )
        self._monitored_attr = monitored_attr
        self._checker = early_stop_checker
        self._interval = interval
        self._phase = phase
        self._interval_freq = interval_freq
        self._rank: int = get_global_rank()

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Check on every ``interval_freq``-th train step (train phase, step interval)."""
        if self._wants("train", "step", unit.train_progress.num_steps_completed):
            self._maybe_stop(state, unit)

    def on_train_epoch_end(self, state: State, unit: TTrainUnit) -> None:
        """Check on every ``interval_freq``-th train epoch (train phase, epoch interval)."""
        if self._wants("train", "epoch", unit.train_progress.num_epochs_completed):
            self._maybe_stop(state, unit)

    def on_eval_step_end(self, state: State, unit: TEvalUnit) -> None:
        """Check on every ``interval_freq``-th eval step (eval phase, step interval)."""
        if self._wants("eval", "step", unit.eval_progress.num_steps_completed):
            self._maybe_stop(state, unit)

    def on_eval_epoch_end(self, state: State, unit: TEvalUnit) -> None:
        """Check on every ``interval_freq``-th eval epoch (eval phase, epoch interval)."""
        if self._wants("eval", "epoch", unit.eval_progress.num_epochs_completed):
            self._maybe_stop(state, unit)

    def _wants(self, phase: str, interval: str, count: int) -> bool:
        return (
            self._phase == phase and self._interval == interval and count % self._interval_freq == 0
        )

    def _maybe_stop(self, state: State, unit: object) -> None:
        """Run the checker on rank 0, share its verdict and stop the run if it says so.

        Note: collective, every rank must call it.

        Raises:
            RuntimeError: on rank 0, if the unit has no attribute ``monitored_attr``.
        """
        should_stop = False
        if self._rank == 0:
            if not hasattr(unit, self._monitored_attr):
                raise RuntimeError(
                    f"EarlyStopping: the unit {type(unit).__name__} has no attribute "
                    f"{self._monitored_attr!r} to monitor; set it before the check (in the "
                    "step, or in the unit's on_train_epoch_end / on_eval_epoch_end, which run "
                    "before the callbacks' ones) or pass the right monitored_attr"
                )
            should_stop = self._checker.check(getattr(unit, self._monitored_attr))
        if sync_bool(should_stop, coherence_mode="rank_zero"):
            logger.warning(
                "EarlyStopping: the early stop checker says %r stopped improving; "
                "stopping the run.",
                self._monitored_attr,
            )
            state.stop()
