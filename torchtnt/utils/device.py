"""Device selection, moving nested data between devices, and system statistics."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
from collections import defaultdict
from typing import Any, Optional, TypedDict, TypeVar

import torch

from torchtnt.utils.distributed import get_local_rank

logger: logging.Logger = logging.getLogger(__name__)

T = TypeVar("T")


def get_device_from_env() -> torch.device:
    """Pick the device this process should use.

    With CUDA, returns ``cuda:<LOCAL_RANK>`` (``LOCAL_RANK`` defaults to 0) and makes it the
    current CUDA device; otherwise MPS when available; otherwise the CPU.

    Raises:
        RuntimeError: if ``LOCAL_RANK`` is not smaller than the number of visible GPUs.
    """
    if torch.cuda.is_available():
        local_rank = get_local_rank()
        num_gpus = torch.cuda.device_count()
        if local_rank >= num_gpus:
            raise RuntimeError(
                f"LOCAL_RANK={local_rank} but only {num_gpus} GPU(s) are visible: launch at "
                "most one process per GPU or check CUDA_VISIBLE_DEVICES"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        return device
    if torch.backends.mps.is_built() and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _is_namedtuple(data: Any) -> bool:
    return isinstance(data, tuple) and hasattr(data, "_asdict") and hasattr(data, "_fields")


def _is_mapping_like(data: Any) -> bool:
    return all(hasattr(data, attr) for attr in ("items", "__getitem__", "__iter__"))


def _is_dataclass_instance(data: Any) -> bool:
    return dataclasses.is_dataclass(data) and not isinstance(data, type)


def _rebuild_dataclass(data: Any, convert: Any) -> Any:
    fields = dataclasses.fields(data)
    init_values = {f.name: convert(getattr(data, f.name)) for f in fields if f.init}
    rebuilt = type(data)(**init_values)
    for f in fields:
        if not f.init:
            # object.__setattr__ also works for frozen dataclasses.
            object.__setattr__(rebuilt, f.name, convert(getattr(data, f.name)))
    return rebuilt


def copy_data_to_device(
    data: T,
    device: torch.device,
    stream_to_record: Optional[torch.cuda.Stream] = None,
    *args: Any,
    **kwargs: Any,
) -> T:
    """Move every tensor (or other object with ``.to``) inside ``data`` to ``device``.

    Containers are rebuilt with their own type: defaultdicts (keeping ``default_factory``),
    other mappings, lists (and subclasses), namedtuples, tuples and dataclasses. Objects
    with a ``to`` method are moved with ``obj.to(device, *args, **kwargs)``; anything else
    is returned unchanged.

    Args:
        data: the (possibly nested) data to move.
        device: the target device.
        stream_to_record: if given, each moved tensor is recorded on this CUDA stream
            (``record_stream``) so its memory is not reused while the stream still needs it.
        args, kwargs: extra arguments for ``.to`` (e.g. ``non_blocking=True``).

    Returns:
        A copy of ``data`` with the same structure, on ``device``.
    """

    def convert(item: Any) -> Any:
        return copy_data_to_device(item, device, stream_to_record, *args, **kwargs)

    if isinstance(data, defaultdict):
        return type(data)(data.default_factory, {k: convert(v) for k, v in data.items()})
    if _is_mapping_like(data):
        return type(data)({k: convert(v) for k, v in data.items()})  # type: ignore[attr-defined]
    if isinstance(data, list):
        return type(data)(convert(item) for item in data)
    if _is_namedtuple(data):
        return type(data)(**{k: convert(v) for k, v in data._asdict().items()})  # type: ignore[attr-defined]
    if isinstance(data, tuple):
        return type(data)(convert(item) for item in data)
    if _is_dataclass_instance(data):
        return _rebuild_dataclass(data, convert)
    if hasattr(data, "to"):
        moved = data.to(device, *args, **kwargs)  # type: ignore[attr-defined]
        if stream_to_record is not None and hasattr(moved, "record_stream"):
            moved.record_stream(stream_to_record)
        return moved
    return data


def record_data_in_stream(data: T, stream: torch.cuda.streams.Stream) -> None:
    """Call ``record_stream(stream)`` on every tensor inside (possibly nested) ``data``.

    Use it after handing data produced on one CUDA stream to another, so the caching
    allocator does not reuse the memory before ``stream`` is done with it. Recurses into
    namedtuples, lists, tuples, mappings and dataclass instances.
    """
    if hasattr(data, "record_stream"):
        data.record_stream(stream)  # type: ignore[attr-defined]
    elif _is_namedtuple(data):
        for item in data._asdict().values():  # type: ignore[attr-defined]
            record_data_in_stream(item, stream)
    elif isinstance(data, (list, tuple)):
        for item in data:
            record_data_in_stream(item, stream)
    elif _is_mapping_like(data):
        for item in data.values():  # type: ignore[attr-defined]
            record_data_in_stream(item, stream)
    elif _is_dataclass_instance(data):
        for f in dataclasses.fields(data):  # type: ignore[arg-type]
            record_data_in_stream(getattr(data, f.name), stream)


class GPUStats(TypedDict):
    """GPU statistics as reported by ``nvidia-smi``."""

    utilization_gpu_percent: float
    utilization_memory_percent: float
    fan_speed_percent: float
    memory_used_mb: float
    memory_free_mb: float
    temperature_gpu_celsius: float
    temperature_memory_celsius: float


_NVIDIA_SMI_QUERY = (
    "--query-gpu=utilization.gpu,utilization.memory,fan.speed,memory.used,memory.free,"
    "temperature.gpu,temperature.memory"
)


def _to_float(text: str) -> float:
    # nvidia-smi prints e.g. "[N/A]" or "[Not Supported]" for unavailable sensors.
    try:
        return float(text)
    except ValueError:
        return 0.0


def get_nvidia_smi_gpu_stats(device: torch.device) -> GPUStats:
    """Query utilization, memory, fan and temperature of ``device``'s GPU via nvidia-smi.

    Values nvidia-smi cannot report are returned as 0.0.

    Raises:
        FileNotFoundError: if ``nvidia-smi`` is not on the ``PATH``.
        subprocess.CalledProcessError: if nvidia-smi fails.
    """
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        raise FileNotFoundError("nvidia-smi: command not found; install the NVIDIA driver tools")
    gpu_index = device.index if device.index is not None else 0
    result = subprocess.run(
        [
            nvidia_smi,
            _NVIDIA_SMI_QUERY,
            "--format=csv,nounits,noheader",
            f"--id={gpu_index}",
        ],
        encoding="utf-8",
        capture_output=True,
        check=True,
    )
    values = [_to_float(v) for v in result.stdout.strip().split(", ")]
    values += [0.0] * (len(GPUStats.__annotations__) - len(values))
    return GPUStats(**dict(zip(GPUStats.__annotations__, values)))  # type: ignore[typeddict-item]


class CPUStats(TypedDict):
    """Host and current-process CPU and memory statistics."""

    cpu_vm_percent: float
    cpu_percent: float
    cpu_swap_percent: float
    worker_cpu_time_user: float
    worker_cpu_time_system: float
    worker_rss: float


def get_psutil_cpu_stats() -> CPUStats:
    """Return host memory/CPU usage and this process's CPU times and resident memory.

    Raises:
        ModuleNotFoundError: if ``psutil`` is not installed.
    """
    try:
        import psutil
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError("get_psutil_cpu_stats needs psutil: `pip install psutil`") from e
    process = psutil.Process()
    cpu_times = process.cpu_times()
    return CPUStats(
        cpu_vm_percent=psutil.virtual_memory().percent,
        cpu_percent=psutil.cpu_percent(),
        cpu_swap_percent=psutil.swap_memory().percent,
        worker_cpu_time_user=cpu_times.user,
        worker_cpu_time_system=cpu_times.system,
        worker_rss=process.memory_info().rss,
    )


def collect_system_stats(device: torch.device) -> dict[str, Any]:
    """Gather CPU statistics and, with CUDA, nvidia-smi and CUDA allocator statistics.

    A missing nvidia-smi only logs a warning.
    """
    stats: dict[str, Any] = dict(get_psutil_cpu_stats())
    if torch.cuda.is_available():
        try:
            stats.update(get_nvidia_smi_gpu_stats(device))
        except FileNotFoundError:
            logger.warning("nvidia-smi was not found; GPU utilization stats are skipped")
        stats.update(torch.cuda.memory_stats())
    return stats


def set_float32_precision(precision: str = "high") -> None:
    """Set the float32 matmul precision and cuDNN TF32 use; a no-op without CUDA.

    Args:
        precision: "highest" (no TF32), "high" or "medium", as in
            ``torch.set_float32_matmul_precision``; TF32 in cuDNN is allowed unless
            "highest".
    """
    if not torch.cuda.is_available():
        return
    torch.set_float32_matmul_precision(precision)
    torch.backends.cudnn.allow_tf32 = precision != "highest"
