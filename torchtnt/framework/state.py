"""The run state shared by the loops, units and callbacks of one entry-point call."""

import logging
from enum import Enum, auto
from typing import TYPE_CHECKING, Any, Generic, Iterable, Optional, TypeVar

from torchtnt.utils.timer import BoundedTimer, TimerProtocol

if TYPE_CHECKING:
    from torchtnt.utils.checkpoint import Phase

__all__ = ["ActivePhase", "EntryPoint", "PhaseState", "State"]

_log: logging.Logger = logging.getLogger(__name__)

TData = TypeVar("TData")
TStepOutput = TypeVar("TStepOutput")


def _check_loop_condition(name: str, val: Optional[int]) -> None:
    """Reject a negative loop limit.

    Args:
        name: the argument's name, quoted in the error.
        val: the limit; None means "no limit" and 0 is allowed.

    Raises:
        ValueError: if ``val`` is negative.
    """
    if val is not None and val < 0:
        raise ValueError(
            f"Invalid value provided for {name}. Expected a non-negative integer or None, "
            f"but received {val}."
        )


class EntryPoint(Enum):
    """Which public function started the run."""

    FIT = auto()
    TRAIN = auto()
    EVALUATE = auto()
    PREDICT = auto()


class ActivePhase(Enum):
    """Which phase the loop is running right now."""

    TRAIN = auto()
    EVALUATE = auto()
    PREDICT = auto()

    # Members are singletons: hashing by identity is consistent with Enum's equality and,
    # unlike Enum's Python-level __hash__, costs no call (the loop keys dicts by phase).
    __hash__ = object.__hash__

    def into_phase(self) -> "Phase":
        """Return the matching :class:`torchtnt.utils.checkpoint.Phase`."""
        from torchtnt.utils.checkpoint import Phase

        return Phase[self.name]

    def __str__(self) -> str:
        return _PHASE_STRINGS[self]


_PHASE_STRINGS = {
    ActivePhase.TRAIN: "train",
    ActivePhase.EVALUATE: "eval",
    ActivePhase.PREDICT: "predict",
}


class PhaseState(Generic[TData, TStepOutput]):
    """Limits and live data of one phase (train, eval or predict) of a run.

    Args:
        dataloader: the phase's data.
        max_epochs: epoch limit (train only).
        max_steps: step limit over all epochs (train only).
        max_steps_per_epoch: step limit per epoch.
        evaluate_every_n_steps: in fit, evaluate after every n train steps.
        evaluate_every_n_epochs: in fit, evaluate after every n train epochs.

    Raises:
        ValueError: if a limit is negative.
    """

    def __init__(
        self,
        *,
        dataloader: Iterable[TData],
        max_epochs: Optional[int] = None,
        max_steps: Optional[int] = None,
        max_steps_per_epoch: Optional[int] = None,
        evaluate_every_n_steps: Optional[int] = None,
        evaluate_every_n_epochs: Optional[int] = None,
    ) -> None:
        for name, val in (
            ("max_epochs", max_epochs),
            ("max_steps", max_steps),
            ("max_steps_per_epoch", max_steps_per_epoch),
            ("evaluate_every_n_steps", evaluate_every_n_steps),
            ("evaluate_every_n_epochs", evaluate_every_n_epochs),
        ):
            _check_loop_condition(name, val)
        self._dataloader = dataloader
        self._max_epochs = max_epochs
        self._max_steps = max_steps
        self._max_steps_per_epoch = max_steps_per_epoch
        self._evaluate_every_n_steps = evaluate_every_n_steps
        self._evaluate_every_n_epochs = evaluate_every_n_epochs
        self._step_output: Optional[TStepOutput] = None
        # Whether the last epoch ended because the data ran out (not on a step limit).
        self._data_exhausted = False
        self._iteration_timer = BoundedTimer(cuda_sync=False, lower_bound=1_000, upper_bound=5_000)

    @property
    def dataloader(self) -> Iterable[TData]:
        """The phase's data."""
        return self._dataloader

    @property
    def max_epochs(self) -> Optional[int]:
        """Epoch limit, or None."""
        return self._max_epochs

    @property
    def max_steps(self) -> Optional[int]:
        """Step limit over all epochs, or None."""
        return self._max_steps

    @property
    def max_steps_per_epoch(self) -> Optional[int]:
        """Step limit per epoch, or None."""
        return self._max_steps_per_epoch

    @property
    def evaluate_every_n_steps(self) -> Optional[int]:
        """Train steps between evaluations in fit, or None."""
        return self._evaluate_every_n_steps

    @evaluate_every_n_steps.setter
    def evaluate_every_n_steps(self, value: Optional[int]) -> None:
        _check_loop_condition("evaluate_every_n_steps", value)
        self._evaluate_every_n_steps = value

    @property
    def evaluate_every_n_epochs(self) -> Optional[int]:
        """Train epochs between evaluations in fit, or None."""
        return self._evaluate_every_n_epochs

    @evaluate_every_n_epochs.setter
    def evaluate_every_n_epochs(self, value: Optional[int]) -> None:
        _check_loop_condition("evaluate_every_n_epochs", value)
        self._evaluate_every_n_epochs = value

    @property
    def step_output(self) -> Optional[TStepOutput]:
        """What the latest step returned; set only while ``on_*_step_end`` callbacks run."""
        return self._step_output

    @property
    def iteration_timer(self) -> BoundedTimer:
        """Always-on timer of data-wait and iteration times of this phase."""
        return self._iteration_timer


TPhaseState = PhaseState[Any, Any]


class State:
    """Everything a run shares: entry point, phase states, timer, stop flag.

    Args:
        entry_point: the public function that started the run.
        timer: optional timer that records named loop regions.
        train_state: state of the train phase, if any.
        eval_state: state of the eval phase, if any.
        predict_state: state of the predict phase, if any.
    """

    def __init__(
        self,
        *,
        entry_point: EntryPoint,
        timer: Optional[TimerProtocol] = None,
        train_state: Optional[TPhaseState] = None,
        eval_state: Optional[TPhaseState] = None,
        predict_state: Optional[TPhaseState] = None,
    ) -> None:
        self._entry_point = entry_point
        self._timer = timer
        self._train_state = train_state
        self._eval_state = eval_state
        self._predict_state = predict_state
        self._should_stop = False
        self._active_phase = ActivePhase.TRAIN

    @property
    def entry_point(self) -> EntryPoint:
        """The public function that started the run."""
        return self._entry_point

    @property
    def active_phase(self) -> ActivePhase:
        """The phase running now."""
        return self._active_phase

    @property
    def timer(self) -> Optional[TimerProtocol]:
        """The run's timer, if one was passed."""
        return self._timer

    @property
    def train_state(self) -> Optional[TPhaseState]:
        """State of the train phase, or None."""
        return self._train_state

    @property
    def eval_state(self) -> Optional[TPhaseState]:
        """State of the eval phase, or None."""
        return self._eval_state

    @property
    def predict_state(self) -> Optional[TPhaseState]:
        """State of the predict phase, or None."""
        return self._predict_state

    @property
    def should_stop(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._should_stop

    def stop(self) -> None:
        """Ask the loops to finish the current step, run the end hooks and return."""
        _log.warning("state.stop() was called: the loop ends after the current step.")
        self._should_stop = True

    def active_phase_state(self) -> TPhaseState:
        """Return the phase state of :attr:`active_phase`.

        Raises:
            AssertionError: if that phase has no state in this run.
        """
        phase_state = {
            ActivePhase.TRAIN: self._train_state,
            ActivePhase.EVALUATE: self._eval_state,
            ActivePhase.PREDICT: self._predict_state,
        }[self._active_phase]
        if phase_state is None:
            raise AssertionError(
                f"active phase is {self._active_phase.name} but this run has no "
                f"{self._active_phase} state"
            )
        return phase_state
