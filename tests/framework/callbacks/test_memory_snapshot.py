import os
import pickle
from typing import List, Tuple

import pytest
import torch

from torchtnt.framework._test_utils import (
    Batch,
    DummyEvalUnit,
    DummyFitUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.memory_snapshot import MemorySnapshot
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.state import State
from torchtnt.framework.train import train
from torchtnt.utils.memory_snapshot_profiler import (
    MemorySnapshotParams,
    MemorySnapshotProfiler,
    MemorySnapshotProfilerBase,
)


class CountingProfiler(MemorySnapshotProfilerBase):
    """A profiler that only counts its calls."""

    def __init__(self) -> None:
        self.calls: List[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")

    def step(self) -> None:
        self.calls.append("step")


def _data(num_batches: int):
    return generate_random_dataloader(num_samples=2 * num_batches, input_dim=2, batch_size=2)


def test_steps_profiler_once_per_step_in_every_phase() -> None:
    profiler = CountingProfiler()
    callback = MemorySnapshot(memory_snapshot_profiler=profiler)
    assert callback.memory_snapshot_profiler is profiler
    train(DummyTrainUnit(2), _data(3), max_epochs=2, callbacks=[callback])
    assert profiler.calls == ["step"] * 6
    evaluate(DummyEvalUnit(2), _data(2), callbacks=[callback])
    predict(DummyPredictUnit(2), _data(4), callbacks=[callback])
    fit(DummyFitUnit(2), _data(2), _data(1), max_epochs=1, callbacks=[callback])
    assert profiler.calls == ["step"] * (6 + 2 + 4 + 3)


def test_real_profiler_counts_steps_and_records_nothing_on_cpu(tmp_path: str) -> None:
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only behaviour")
    params = MemorySnapshotParams(start_step=1, stop_step=3, enable_oom_observer=False)
    profiler = MemorySnapshotProfiler(output_dir=str(tmp_path), memory_snapshot_params=params)
    train(
        DummyTrainUnit(2),
        _data(4),
        max_epochs=1,
        callbacks=[MemorySnapshot(memory_snapshot_profiler=profiler)],
    )
    assert profiler.step_num == 4
    assert not profiler.is_started
    assert os.listdir(tmp_path) == []


def test_rejects_object_without_step() -> None:
    with pytest.raises(TypeError, match="memory_snapshot_profiler=.* is invalid"):
        MemorySnapshot(memory_snapshot_profiler=object())  # type: ignore[arg-type]


class CudaUnit(DummyTrainUnit):
    """Keeps a growing list of small CUDA tensors, so every step allocates."""

    def __init__(self) -> None:
        super().__init__(input_dim=2)
        self.kept: List[torch.Tensor] = []

    def train_step(self, state: State, data: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
        self.kept.append(torch.ones(1024, device="cuda"))
        return super().train_step(state, data)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_snapshot_written_at_stop_step_on_cuda(tmp_path: str) -> None:
    params = MemorySnapshotParams(start_step=1, stop_step=3, enable_oom_observer=False)
    profiler = MemorySnapshotProfiler(output_dir=str(tmp_path), memory_snapshot_params=params)
    unit = CudaUnit()
    train(
        unit, _data(5), max_epochs=1, callbacks=[MemorySnapshot(memory_snapshot_profiler=profiler)]
    )
    assert profiler.step_num == 5
    assert not profiler.is_started
    snapshot_dir = os.path.join(tmp_path, "step_3_rank0")
    assert sorted(os.listdir(snapshot_dir)) == [
        "segment_plot.html",
        "snapshot.pickle",
        "trace_plot.html",
    ]
    with open(os.path.join(snapshot_dir, "snapshot.pickle"), "rb") as f:
        snapshot = pickle.load(f)
    # Recording ran during steps 2 and 3, so their allocations carry history entries.
    traces = [entry for device_trace in snapshot["device_traces"] for entry in device_trace]
    assert any(entry["action"] == "alloc" and entry["size"] >= 4096 for entry in traces)
