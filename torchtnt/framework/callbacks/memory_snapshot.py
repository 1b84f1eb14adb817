"""Step a CUDA memory-snapshot profiler along with the loop."""

from torchtnt.framework.callback import Callback
from torchtnt.framework.state import State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit, TTrainUnit
from torchtnt.utils.memory_snapshot_profiler import MemorySnapshotProfilerBase

__all__ = ["MemorySnapshot"]


class MemorySnapshot(Callback):
    """Call ``memory_snapshot_profiler.step()`` after every train, eval and predict step.

    The profiler decides from its own step count when to start recording CUDA memory
    history and when to write a snapshot (see
    :class:`torchtnt.utils.memory_snapshot_profiler.MemorySnapshotProfiler`). Without CUDA
    that profiler records nothing, so this callback only counts steps.

    Args:
        memory_snapshot_profiler: the profiler to drive.

    Raises:
        TypeError: if the profiler has no ``step()`` method.
    """

    def __init__(self, *, memory_snapshot_profiler: MemorySnapshotProfilerBase) -> None:
        if not callable(getattr(memory_snapshot_profiler, "step", None)):
            raise TypeError(
                f"memory_snapshot_profiler={memory_snapshot_profiler!r} is invalid: expected a "
                "MemorySnapshotProfilerBase (an object with a step() method)"
            )
        self.memory_snapshot_profiler: MemorySnapshotProfilerBase = memory_snapshot_profiler

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Advance the profiler by one step."""
        self.memory_snapshot_profiler.step()

    def on_eval_step_end(self, state: State, unit: TEvalUnit) -> None:
        """Advance the profiler by one step."""
        self.memory_snapshot_profiler.step()

    def on_predict_step_end(self, state: State, unit: TPredictUnit) -> None:
        """Advance the profiler by one step."""
        self.memory_snapshot_profiler.step()
