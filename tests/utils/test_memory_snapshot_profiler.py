"""MemorySnapshotProfiler: parameter validation, step schedule, CPU no-op and real CUDA dumps.

The schedule tests stand in for CUDA (unavailable on CPU machines) by patching
``torch.cuda.is_available`` and the history-recording call, and record the snapshot calls.
"""

import logging
import os
from typing import Any, List, Tuple

import pytest
import torch

from torchtnt.utils import memory_snapshot_profiler as msp
from torchtnt.utils.memory_snapshot_profiler import (
    MemorySnapshotParams,
    MemorySnapshotProfiler,
    MemorySnapshotProfilerBase,
)


@pytest.mark.parametrize(
    "params, message",
    [
        (MemorySnapshotParams(start_step=-1, stop_step=0), "start_step must be nonnegative"),
        (
            MemorySnapshotParams(start_step=1, stop_step=None),
            "stop_step must be specified when start_step is set",
        ),
        (MemorySnapshotParams(start_step=3, stop_step=3), "start_step must be < stop_step"),
        (MemorySnapshotParams(stop_step=0), "stop_step must be positive"),
        (
            MemorySnapshotParams(stop_step=2, enable_oom_observer=False),
            "stop_step is enabled, but start_step is not set and oom observer is not enabled",
        ),
        (
            MemorySnapshotParams(stop_step=None, enable_oom_observer=False),
            "At least one of start_step/stop_step or enable_oom_observer must be set",
        ),
    ],
)
def test_validation(params: MemorySnapshotParams, message: str, tmp_path: Any) -> None:
    with pytest.raises(ValueError, match=message):
        MemorySnapshotProfiler(output_dir=str(tmp_path), memory_snapshot_params=params)


def test_defaults() -> None:
    params = MemorySnapshotParams()
    assert (params.start_step, params.stop_step) == (None, 2)
    assert (params.max_entries, params.enable_oom_observer) == (100000, True)
    assert issubclass(MemorySnapshotProfiler, MemorySnapshotProfilerBase)


class _FakeCuda:
    """Records what the profiler asks of CUDA and of the snapshot helpers."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: List[Tuple[str, Any]] = []
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda.memory, "_record_memory_history", self._record)
        monkeypatch.setattr(msp, "log_memory_snapshot", self._snapshot)
        monkeypatch.setattr(msp, "attach_oom_observer", self._observer)

    def _record(self, enabled: Any = "all", max_entries: int = 0, **kwargs: Any) -> None:
        self.calls.append(("record", max_entries) if enabled else ("stop", None))

    def _snapshot(self, output_dir: str, file_prefix: str) -> None:
        self.calls.append(("snapshot", (output_dir, file_prefix)))

    def _observer(self, output_dir: str, trace_max_entries: int) -> None:
        self.calls.append(("observer", (output_dir, trace_max_entries)))


def test_step_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeCuda(monkeypatch)
    params = MemorySnapshotParams(
        start_step=2, stop_step=4, max_entries=50, enable_oom_observer=False
    )
    profiler = MemorySnapshotProfiler(output_dir="/snapshots", memory_snapshot_params=params)
    assert (profiler.output_dir, profiler.params, profiler.step_num) == ("/snapshots", params, 0)
    started = []
    for _ in range(5):
        profiler.step()
        started.append(profiler.is_started)
    assert profiler.step_num == 5
    assert started == [False, True, True, False, False]
    assert fake.calls == [
        ("record", 50),
        ("snapshot", ("/snapshots", "step_4")),
        ("stop", None),
    ]


def test_start_step_zero_and_oom_observer(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeCuda(monkeypatch)
    params = MemorySnapshotParams(start_step=0, stop_step=1, max_entries=7)
    profiler = MemorySnapshotProfiler(output_dir="/out", memory_snapshot_params=params)
    assert profiler.is_started
    assert fake.calls == [("observer", ("/out", 7)), ("record", 7)]
    profiler.start()  # already started: no second call
    profiler.step()
    assert fake.calls[2:] == [("snapshot", ("/out", "step_1")), ("stop", None)]


def test_default_params_stop_at_step_two(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeCuda(monkeypatch)
    profiler = MemorySnapshotProfiler(output_dir="/out")
    profiler.step()
    profiler.step()
    profiler.step()
    assert fake.calls == [
        ("observer", ("/out", 100000)),
        ("snapshot", ("/out", "step_2")),
        ("stop", None),
    ]


def test_context_manager_starts_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeCuda(monkeypatch)
    params = MemorySnapshotParams(start_step=5, stop_step=6, enable_oom_observer=False)
    with MemorySnapshotProfiler("/out", params) as profiler:
        assert profiler.is_started
    assert not profiler.is_started
    assert fake.calls == [("record", 100000), ("stop", None)]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_cpu_only_is_a_warning_no_op(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    params = MemorySnapshotParams(start_step=0, stop_step=2)
    with caplog.at_level(logging.WARNING, logger=msp.__name__):
        profiler = MemorySnapshotProfiler(str(tmp_path), params)
        profiler.step()
        profiler.step()
    assert not profiler.is_started
    assert profiler.step_num == 2
    assert "CUDA is not available" in caplog.text
    assert os.listdir(tmp_path) == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_writes_snapshot_at_stop_step_gpu(tmp_path: Any) -> None:
    params = MemorySnapshotParams(start_step=0, stop_step=2, enable_oom_observer=False)
    profiler = MemorySnapshotProfiler(str(tmp_path), params)
    tensors = [torch.ones(1024, device="cuda") for _ in range(3)]
    profiler.step()
    assert profiler.is_started
    profiler.step()
    assert not profiler.is_started
    files = os.listdir(os.path.join(tmp_path, "step_2_rank0"))
    assert sorted(files) == ["segment_plot.html", "snapshot.pickle", "trace_plot.html"]
    del tensors
