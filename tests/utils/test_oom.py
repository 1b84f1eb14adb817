"""Out-of-memory error recognition, byte formatting and CUDA snapshot dumping."""

import logging
import os

import pytest
import torch

from torchtnt.utils.oom import (
    _bytes_to_mb_gb,
    attach_oom_observer,
    is_out_of_cpu_memory,
    is_out_of_cuda_memory,
    is_out_of_memory_error,
    log_memory_snapshot,
)

_CPU_MSG = (
    "[enforce fail at alloc_cpu.cpp:75] err == 0. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate 1099511627776 bytes. Error code 12 (Cannot allocate memory)"
)
_CUDA_MSG = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity)"
_LEGACY_CUDA_MSG = "RuntimeError: cuda runtime error (2) : out of memory at /src/THC.cu:66"


@pytest.mark.parametrize(
    "exception, cpu, cuda",
    [
        (RuntimeError(_CPU_MSG), True, False),
        (RuntimeError(_CUDA_MSG), False, True),
        (torch.cuda.OutOfMemoryError(_CUDA_MSG), False, True),
        (RuntimeError(_LEGACY_CUDA_MSG), False, True),
        (RuntimeError("some other failure"), False, False),
        (RuntimeError(_CPU_MSG, "extra arg"), False, False),
        (RuntimeError(), False, False),
        (RuntimeError(12), False, False),
        (ValueError(_CUDA_MSG), False, False),
        (MemoryError(_CPU_MSG), False, False),
    ],
)
def test_classifies_crafted_exceptions(exception: BaseException, cpu: bool, cuda: bool) -> None:
    assert is_out_of_cpu_memory(exception) is cpu
    assert is_out_of_cuda_memory(exception) is cuda
    assert is_out_of_memory_error(exception) is (cpu or cuda)


@pytest.mark.parametrize(
    "num_bytes, expected",
    [
        (0, "0.0 MB"),
        (512 * 1024, "0.5 MB"),
        (2**20 - 1, "1.0 MB"),
        (2**20, "0.0 GB"),
        (int(1.5 * 2**30), "1.5 GB"),
        (3 * 2**30 + 5 * 2**20, "3.0 GB"),
    ],
)
def test_bytes_to_mb_gb(num_bytes: int, expected: str) -> None:
    assert _bytes_to_mb_gb(num_bytes) == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_cpu_only_snapshot_and_observer_are_no_ops(
    tmp_path: "os.PathLike[str]", caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="torchtnt.utils.oom"):
        log_memory_snapshot(str(tmp_path), file_prefix="step_3")
        attach_oom_observer(str(tmp_path))
    assert os.listdir(tmp_path) == []
    assert "CUDA is not available" in caplog.text


@pytest.mark.parametrize("entries", [0, -5, 2.5, True])
def test_attach_oom_observer_rejects_bad_trace_max_entries(entries: object) -> None:
    with pytest.raises(ValueError, match="trace_max_entries=.*expected an int >= 1"):
        attach_oom_observer("/tmp/unused", trace_max_entries=entries)  # type: ignore[arg-type]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_log_memory_snapshot_writes_files_gpu(tmp_path: "os.PathLike[str]") -> None:
    torch.cuda.memory._record_memory_history(max_entries=1000)
    try:
        keep = torch.ones(1024, device="cuda")
        log_memory_snapshot(str(tmp_path), file_prefix="step_3")
    finally:
        torch.cuda.memory._record_memory_history(enabled=None)
    snapshot_dir = os.path.join(tmp_path, "step_3_rank0")
    assert sorted(os.listdir(snapshot_dir)) == [
        "segment_plot.html",
        "snapshot.pickle",
        "trace_plot.html",
    ]
    assert os.path.getsize(os.path.join(snapshot_dir, "snapshot.pickle")) > 0
    del keep
    log_memory_snapshot(str(tmp_path))
    assert os.path.isdir(os.path.join(tmp_path, "memory_snapshot_rank0"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_oom_observer_dumps_snapshot_on_cuda_oom_gpu(tmp_path: "os.PathLike[str]") -> None:
    attach_oom_observer(str(tmp_path), trace_max_entries=1000)
    try:
        free_bytes, _ = torch.cuda.mem_get_info()
        with pytest.raises(torch.cuda.OutOfMemoryError) as info:
            torch.empty(free_bytes * 4, dtype=torch.uint8, device="cuda")
        assert is_out_of_cuda_memory(info.value)
    finally:
        torch.cuda.memory._record_memory_history(enabled=None)
    assert "snapshot.pickle" in os.listdir(os.path.join(tmp_path, "oom_rank0"))
