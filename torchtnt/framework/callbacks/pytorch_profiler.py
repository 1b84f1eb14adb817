"""Drive a ``torch.profiler.profile`` from the loop: start, one step per step, stop."""

from torch.profiler import profile

from torchtnt.framework.callback import Callback
from torchtnt.framework.state import EntryPoint, State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit, TTrainUnit

__all__ = ["PyTorchProfiler"]


class PyTorchProfiler(Callback):
    """Profile a run with a given ``torch.profiler.profile``.

    The profiler is started when the phase starts, told about every finished step (so its
    ``schedule`` and ``ProfilerStep#N`` ranges follow the loop) and stopped when the phase
    ends. The loop labels its regions (e.g. ``train.next(data_iter)``, the unit's hooks)
    with ``record_function`` while a profiler is active, so they show up in the trace.
    Inside ``fit``, evaluation steps are counted by the profiler started for training.

    Args:
        profiler: the profiler to drive, e.g. ``profile(schedule=..., on_trace_ready=
            tensorboard_trace_handler(log_dir))``.

    Raises:
        TypeError: if ``profiler`` is not a ``torch.profiler.profile``.
    """

    def __init__(self, profiler: profile) -> None:
        if not all(callable(getattr(profiler, name, None)) for name in ("start", "step", "stop")):
            raise TypeError(
                f"profiler={profiler!r} is invalid: expected a torch.profiler.profile (an object "
                "with start(), step() and stop())"
            )
        self.profiler: profile = profiler
        self._running = False  # started by this callback and not stopped yet

    def _start(self) -> None:
        self.profiler.start()
        self._running = True

    def _stop(self) -> None:
        self._running = False
        self.profiler.stop()

    def on_train_start(self, state: State, unit: TTrainUnit) -> None:
        """Start profiling."""
        self._start()

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Mark the end of a step."""
        self.profiler.step()

    def on_train_end(self, state: State, unit: TTrainUnit) -> None:
        """Stop profiling (this flushes the last trace)."""
        self._stop()

    def on_eval_start(self, state: State, unit: TEvalUnit) -> None:
        """Start profiling, unless training (in ``fit``) already did."""
        if state.entry_point == EntryPoint.EVALUATE:
            self._start()

    def on_eval_step_end(self, state: State, unit: TEvalUnit) -> None:
        """Mark the end of a step."""
        self.profiler.step()

    def on_eval_end(self, state: State, unit: TEvalUnit) -> None:
        """Stop profiling, unless training (in ``fit``) goes on."""
        if state.entry_point == EntryPoint.EVALUATE:
            self._stop()

    def on_predict_start(self, state: State, unit: TPredictUnit) -> None:
        """Start profiling."""
        self._start()

    def on_predict_step_end(self, state: State, unit: TPredictUnit) -> None:
        """Mark the end of a step."""
        self.profiler.step()

    def on_predict_end(self, state: State, unit: TPredictUnit) -> None:
        """Stop profiling (this flushes the last trace)."""
        self._stop()

    def on_exception(self, state: State, unit: object, exc: BaseException) -> None:
        """Stop profiling if the run started it: the end hooks will not run, and a profiler
        left on would slow (and profile) whatever the process does next."""
        if self._running:
            self._stop()
