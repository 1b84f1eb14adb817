"""Show a tqdm progress bar for every train, eval and predict epoch."""

import io
from typing import Any, Optional, TextIO, Union

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import check_int
from torchtnt.framework.state import PhaseState, State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit, TTrainUnit
from torchtnt.utils.distributed import get_global_rank
from torchtnt.utils.progress import Progress
from torchtnt.utils.tqdm import create_progress_bar

__all__ = ["TQDMProgressBar"]


def _advance(bar: Any, steps_done: int, refresh_rate: int) -> None:
    """Move ``bar`` to ``steps_done`` every ``refresh_rate`` steps."""
    if steps_done % refresh_rate == 0:
        bar.update(steps_done - bar.n)


def _finish(bar: Any, steps_done: int) -> None:
    """Show the steps not drawn yet (those since the last refresh), then close ``bar``."""
    if steps_done > bar.n:
        bar.update(steps_done - bar.n)
    bar.close()


class TQDMProgressBar(Callback):
    """Draw one tqdm progress bar per epoch of each phase, on rank 0.

    Bars are labelled ``"Train Epoch {n}"``, ``"Eval Epoch {n}"`` and
    ``"Predict Epoch {n}"`` (``n`` = epochs completed before this one). When the number of
    steps in the epoch is known (a dataloader with ``len()``, or step limits) the bar shows
    the percentage, rate and estimated time left; otherwise the count and rate. A run
    resumed mid-epoch (where the loop skips ``on_*_epoch_start``) gets its bar when the phase
    starts, beginning at the steps already done.

    Args:
        refresh_rate: advance the bar every this many steps (the end of an epoch always
            brings it up to date).
        file: stream to draw on; stderr when None.
        mininterval: minimum seconds between two redraws (tqdm's own default, 0.1, when
            None); use 0 to draw every update.

    Raises:
        TypeError: ``refresh_rate`` is not an int, ``mininterval`` not a number or ``file``
            not a stream.
        ValueError: ``refresh_rate`` is below 1 or ``mininterval`` is negative.
    """

    def __init__(
        self,
        refresh_rate: int = 1,
        file: Optional[Union[TextIO, io.StringIO]] = None,
        *,
        mininterval: Optional[float] = None,
    ) -> None:
        check_int("refresh_rate", refresh_rate, 1)
        if mininterval is not None:
            if isinstance(mininterval, bool) or not isinstance(mininterval, (int, float)):
                raise TypeError(
                    f"mininterval={mininterval!r} is invalid: expected a number of seconds "
                    ">= 0 or None"
                )
            if mininterval < 0:
                raise ValueError(
                    f"mininterval={mininterval!r} is invalid: expected a number of seconds "
                    ">= 0 or None"
                )
        if file is not None and not callable(getattr(file, "write", None)):
            raise TypeError(
                f"file={file!r} is invalid: expected a text stream with a write method (e.g. "
                "sys.stdout or io.StringIO()) or None for stderr"
            )
        self._refresh_rate = refresh_rate
        self._file = file
        self._mininterval = mininterval
        self._train_progress_bar: Optional[Any] = None
        self._eval_progress_bar: Optional[Any] = None
        self._predict_progress_bar: Optional[Any] = None

    def _create(self, phase_state: PhaseState, progress: Progress, desc: str) -> Optional[Any]:
        if get_global_rank() != 0:
            return None
        in_epoch = progress.num_steps_completed_in_epoch
        max_steps = phase_state.max_steps
        if max_steps is not None:
            # create_progress_bar subtracts the bar's starting count (the steps done in this
            # epoch) from max_steps; shift the limit so that the epoch's total is what is
            # left of max_steps after the previous epochs, not after this epoch's first step.
            max_steps += in_epoch - (progress.num_steps_completed - in_epoch)
        return create_progress_bar(
            phase_state.dataloader,
            desc=desc,
            num_epochs_completed=progress.num_epochs_completed,
            num_steps_completed=in_epoch,
            max_steps=max_steps,
            max_steps_per_epoch=phase_state.max_steps_per_epoch,
            file=self._file,
            mininterval=self._mininterval,
        )

    def on_train_start(self, state: State, unit: TTrainUnit) -> None:
        """Open the train bar of an epoch resumed mid-way."""
        if unit.train_progress.num_steps_completed_in_epoch > 0:
            self.on_train_epoch_start(state, unit)

    def on_train_epoch_start(self, state: State, unit: TTrainUnit) -> None:
        """Open the train epoch's bar."""
        self._train_progress_bar = self._create(
            state.train_state,  # type: ignore[arg-type]
            unit.train_progress,
            "Train Epoch",
        )

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Advance the train bar every ``refresh_rate`` steps."""
        bar = self._train_progress_bar
        if bar is not None:
            _advance(bar, unit.train_progress.num_steps_completed_in_epoch, self._refresh_rate)

    def on_train_epoch_end(self, state: State, unit: TTrainUnit) -> None:
        """Complete and close the train bar."""
        bar = self._train_progress_bar
        if bar is not None:
            _finish(bar, unit.train_progress.num_steps_completed_in_prev_epoch)
            self._train_progress_bar = None

    def on_eval_start(self, state: State, unit: TEvalUnit) -> None:
        """Open the eval bar of an epoch resumed mid-way."""
        if unit.eval_progress.num_steps_completed_in_epoch > 0:
            self.on_eval_epoch_start(state, unit)

    def on_eval_epoch_start(self, state: State, unit: TEvalUnit) -> None:
        """Open the eval epoch's bar."""
        self._eval_progress_bar = self._create(
            state.eval_state,  # type: ignore[arg-type]
            unit.eval_progress,
            "Eval Epoch",
        )

    def on_eval_step_end(self, state: State, unit: TEvalUnit) -> None:
        """Advance the eval bar every ``refresh_rate`` steps."""
        bar = self._eval_progress_bar
        if bar is not None:
            _advance(bar, unit.eval_progress.num_steps_completed_in_epoch, self._refresh_rate)

    def on_eval_epoch_end(self, state: State, unit: TEvalUnit) -> None:
        """Complete and close the eval bar."""
        bar = self._eval_progress_bar
        if bar is not None:
            _finish(bar, unit.eval_progress.num_steps_completed_in_prev_epoch)
            self._eval_progress_bar = None

    def on_predict_start(self, state: State, unit: TPredictUnit) -> None:
        """Open the predict bar of an epoch resumed mid-way."""
        if unit.predict_progress.num_steps_completed_in_epoch > 0:
            self.on_predict_epoch_start(state, unit)

    def on_predict_epoch_start(self, state: State, unit: TPredictUnit) -> None:
        """Open the predict epoch's bar."""
        self._predict_progress_bar = self._create(
            state.predict_state,  # type: ignore[arg-type]
            unit.predict_progress,
            "Predict Epoch",
        )

    def on_predict_step_end(self, state: State, unit: TPredictUnit) -> None:
        """Advance the predict bar every ``refresh_rate`` steps."""
        bar = self._predict_progress_bar
        if bar is not None:
            _advance(bar, unit.predict_progress.num_steps_completed_in_epoch, self._refresh_rate)

    def on_predict_epoch_end(self, state: State, unit: TPredictUnit) -> None:
        """Complete and close the predict bar."""
        bar = self._predict_progress_bar
        if bar is not None:
            _finish(bar, unit.predict_progress.num_steps_completed_in_prev_epoch)
            self._predict_progress_bar = None

    def on_exception(
        self,
        state: State,
        unit: Union[TTrainUnit, TEvalUnit, TPredictUnit],
        exc: BaseException,
    ) -> None:
        """Close any open bar so the traceback is not drawn over a half-finished bar."""
        for attr in ("_train_progress_bar", "_eval_progress_bar", "_predict_progress_bar"):
            bar = getattr(self, attr)
            if bar is not None:
                bar.close()
                setattr(self, attr, None)
