import logging
import subprocess
import sys
from collections import OrderedDict, defaultdict, namedtuple
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from unittest import mock

import pytest
import torch

from torchtnt.utils import device as tnt_device
from torchtnt.utils.device import (
    CPUStats,
    GPUStats,
    collect_system_stats,
    copy_data_to_device,
    get_device_from_env,
    get_nvidia_smi_gpu_stats,
    get_psutil_cpu_stats,
    record_data_in_stream,
    set_float32_precision,
)

META = torch.device("meta")


class Pair(NamedTuple):
    first: Any
    second: Any


LegacyPair = namedtuple("LegacyPair", ["a", "b"])


class TaggedList(list):
    pass


class TaggedDict(dict):
    pass


@dataclass
class Batch:
    inputs: Any
    label: str
    cache: Any = field(init=False, default=None)


@dataclass(frozen=True)
class FrozenBatch:
    x: Any
    derived: Any = field(init=False, default=None)


class Movable:
    """Not a tensor, but has ``to``/``record_stream`` like one."""

    def __init__(self) -> None:
        self.to_calls: list[tuple[Any, ...]] = []
        self.recorded: list[Any] = []

    def to(self, *args: Any, **kwargs: Any) -> "Movable":
        self.to_calls.append((args, kwargs))
        return self

    def record_stream(self, stream: Any) -> None:
        self.recorded.append(stream)


def test_get_device_from_env_on_cpu() -> None:
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("needs a machine without accelerators")
    assert get_device_from_env() == torch.device("cpu")


def test_get_device_from_env_rejects_local_rank_beyond_gpu_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # CUDA cannot exist here, so pretend there is exactly one GPU.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(RuntimeError, match="LOCAL_RANK=1 but only 1 GPU"):
        get_device_from_env()


def test_copy_tensors_in_nested_containers_keeps_exact_types() -> None:
    factory = list
    data = {
        "dd": defaultdict(factory, {"t": torch.ones(2)}),
        "od": OrderedDict([("b", torch.zeros(1)), ("a", torch.ones(1))]),
        "custom_dict": TaggedDict(t=torch.ones(1)),
        "list": [torch.ones(1), [torch.ones(2)]],
        "tagged": TaggedList([torch.ones(1)]),
        "pair": Pair(torch.ones(1), (torch.ones(1), "keep")),
        "legacy": LegacyPair(a=torch.ones(1), b=3),
        "tuple": (torch.ones(1), None),
        "scalars": ("text", 1, 2.5, None),
    }
    out = copy_data_to_device(data, META)

    assert type(out) is dict and list(out) == list(data)
    assert type(out["dd"]) is defaultdict and out["dd"].default_factory is factory
    assert out["dd"]["t"].device == META
    assert out["dd"]["missing"] == []
    assert type(out["od"]) is OrderedDict and list(out["od"]) == ["b", "a"]
    assert type(out["custom_dict"]) is TaggedDict and out["custom_dict"]["t"].device == META
    assert type(out["list"]) is list and type(out["list"][1]) is list
    assert out["list"][1][0].device == META
    assert type(out["tagged"]) is TaggedList and out["tagged"][0].device == META
    assert type(out["pair"]) is Pair and type(out["pair"].second) is tuple
    assert out["pair"].first.device == META and out["pair"].second[0].device == META
    assert out["pair"].second[1] == "keep"
    assert type(out["legacy"]) is LegacyPair and out["legacy"].b == 3
    assert out["legacy"].a.device == META
    assert type(out["tuple"]) is tuple and out["tuple"][1] is None
    assert out["scalars"] == ("text", 1, 2.5, None)
    # The input is left untouched.
    assert data["list"][0].device == torch.device("cpu")


def test_copy_dataclasses_rebuilds_init_and_non_init_fields() -> None:
    batch = Batch(inputs={"x": torch.ones(2)}, label="cat")
    batch.cache = [torch.zeros(1)]
    out = copy_data_to_device(batch, META)
    assert type(out) is Batch and out is not batch
    assert out.label == "cat"
    assert out.inputs["x"].device == META
    assert type(out.cache) is list and out.cache[0].device == META

    frozen = FrozenBatch(x=torch.ones(1))
    object.__setattr__(frozen, "derived", torch.ones(3))
    out_frozen = copy_data_to_device(frozen, META)
    assert type(out_frozen) is FrozenBatch
    assert out_frozen.x.device == META and out_frozen.derived.shape == (3,)
    assert out_frozen.derived.device == META


def test_copy_passes_extra_arguments_to_to() -> None:
    data = [torch.arange(3, dtype=torch.int32), {"f": torch.ones(1)}]
    out = copy_data_to_device(data, torch.device("cpu"), None, dtype=torch.float64)
    assert out[0].dtype == torch.float64 and out[0].tolist() == [0.0, 1.0, 2.0]
    assert out[1]["f"].dtype == torch.float64

    movable = Movable()
    assert copy_data_to_device({"m": movable}, META, None, True, copy=False)["m"] is movable
    assert movable.to_calls == [((META, True), {"copy": False})]


def test_copy_records_moved_data_on_the_given_stream() -> None:
    stream = object()
    top, nested = Movable(), Movable()
    copy_data_to_device(top, META, stream)
    copy_data_to_device({"a": [nested]}, META, stream)
    assert top.recorded == [stream]
    assert nested.recorded == [stream]
    untouched = Movable()
    copy_data_to_device(untouched, META)
    assert untouched.recorded == []


def test_copy_returns_unknown_objects_unchanged() -> None:
    obj = object()
    assert copy_data_to_device(obj, META) is obj
    assert copy_data_to_device("abc", META) == "abc"


def test_record_data_in_stream_visits_every_container() -> None:
    stream = object()
    items = [Movable() for _ in range(6)]
    batch = Batch(inputs=items[4], label="x")
    batch.cache = items[5]
    data = {
        "pair": Pair(items[0], [items[1]]),
        "tuple": (items[2], "skip", 3),
        "nested": OrderedDict(k=items[3]),
        "batch": batch,
    }
    record_data_in_stream(data, stream)
    assert [m.recorded for m in items] == [[stream]] * 6


def _fake_nvidia_smi(stdout: str) -> mock.Mock:
    return mock.Mock(return_value=subprocess.CompletedProcess(args=[], returncode=0, stdout=stdout))


def test_get_nvidia_smi_gpu_stats_parses_output(monkeypatch: pytest.MonkeyPatch) -> None:
    # nvidia-smi cannot exist on this machine: fake its location and its output.
    monkeypatch.setattr(tnt_device.shutil, "which", lambda name: f"/usr/bin/{name}")
    run = _fake_nvidia_smi("12, 34, [N/A], 1000, 15000, 45, [Not Supported]\n")
    monkeypatch.setattr("torchtnt.utils.device.subprocess.run", run)

    stats = get_nvidia_smi_gpu_stats(torch.device("cuda:2"))

    assert stats == {
        "utilization_gpu_percent": 12.0,
        "utilization_memory_percent": 34.0,
        "fan_speed_percent": 0.0,
        "memory_used_mb": 1000.0,
        "memory_free_mb": 15000.0,
        "temperature_gpu_celsius": 45.0,
        "temperature_memory_celsius": 0.0,
    }
    assert set(stats) == set(GPUStats.__annotations__)
    run.assert_called_once_with(
        [
            "/usr/bin/nvidia-smi",
            "--query-gpu=utilization.gpu,utilization.memory,fan.speed,memory.used,"
            "memory.free,temperature.gpu,temperature.memory",
            "--format=csv,nounits,noheader",
            "--id=2",
        ],
        encoding="utf-8",
        capture_output=True,
        check=True,
    )


def test_get_nvidia_smi_gpu_stats_without_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tnt_device.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="nvidia-smi"):
        get_nvidia_smi_gpu_stats(torch.device("cuda:0"))


def test_get_psutil_cpu_stats() -> None:
    stats = get_psutil_cpu_stats()
    assert set(stats) == set(CPUStats.__annotations__)
    assert 0.0 <= stats["cpu_vm_percent"] <= 100.0
    assert 0.0 <= stats["cpu_swap_percent"] <= 100.0
    assert stats["worker_rss"] > 0
    assert stats["worker_cpu_time_user"] > 0


def test_get_psutil_cpu_stats_without_psutil(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)
    with pytest.raises(ModuleNotFoundError, match="pip install psutil"):
        get_psutil_cpu_stats()


def test_collect_system_stats_on_cpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only path")
    assert set(collect_system_stats(torch.device("cpu"))) == set(CPUStats.__annotations__)


def test_collect_system_stats_warns_without_nvidia_smi(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Pretend CUDA is there; nvidia-smi is missing as it really is here.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "memory_stats", lambda: {"allocated_bytes.all.current": 7})
    monkeypatch.setattr(tnt_device.shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="torchtnt.utils.device"):
        stats = collect_system_stats(torch.device("cuda:0"))
    assert set(stats) == set(CPUStats.__annotations__) | {"allocated_bytes.all.current"}
    assert stats["allocated_bytes.all.current"] == 7
    assert "nvidia-smi was not found" in caplog.text


@pytest.fixture
def restore_precision() -> Any:
    saved = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    yield
    torch.set_float32_matmul_precision(saved[0])
    torch.backends.cudnn.allow_tf32 = saved[1]


def test_set_float32_precision_is_noop_without_cuda(restore_precision: Any) -> None:
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only path")
    torch.set_float32_matmul_precision("highest")
    set_float32_precision("medium")
    assert torch.get_float32_matmul_precision() == "highest"


@pytest.mark.parametrize(
    ("precision", "tf32"), [("high", True), ("medium", True), ("highest", False)]
)
def test_set_float32_precision_with_cuda(
    precision: str, tf32: bool, monkeypatch: pytest.MonkeyPatch, restore_precision: Any
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    torch.backends.cudnn.allow_tf32 = not tf32
    set_float32_precision(precision)
    assert torch.get_float32_matmul_precision() == precision
    assert torch.backends.cudnn.allow_tf32 is tf32
