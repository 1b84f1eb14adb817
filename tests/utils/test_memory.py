"""Tensor size maps over nested objects and RSS delta sampling."""

import time
from collections import namedtuple
from datetime import timedelta
from enum import Enum
from typing import List

import pytest
import torch

from torchtnt.utils.memory import RSSProfiler, get_tensor_size_bytes_map, measure_rss_deltas

Pair = namedtuple("Pair", ["left", "right"])


class Holder:
    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor
        self.name = "holder"
        self.library = torch  # a Python module must not be walked
        self.me = self  # cycles are fine


class Color(Enum):
    RED = 1


def test_tensor_size_map_over_nested_containers() -> None:
    f32 = torch.zeros(2, 3)
    f16 = torch.zeros(5, dtype=torch.float16)
    i64 = torch.zeros(4, dtype=torch.int64)
    u8 = torch.zeros(7, dtype=torch.uint8)
    scalar = torch.tensor(1.0, dtype=torch.float64)
    obj = {
        "a": [f32, (f16, "text")],
        "pair": Pair(left=i64, right={"deep": Holder(u8)}),
        "again": f32,
        "color": Color.RED,
        "set": {scalar},
    }
    sizes = get_tensor_size_bytes_map(obj)
    assert len(sizes) == 5
    assert sizes[f32] == 24
    assert sizes[f16] == 10
    assert sizes[i64] == 32
    assert sizes[u8] == 7
    assert sizes[scalar] == 8


def test_tensor_size_map_of_a_tensor_and_of_a_module() -> None:
    t = torch.ones(3, 3)
    assert get_tensor_size_bytes_map(t) == {t: 36}
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    sizes = get_tensor_size_bytes_map(model)
    assert sizes[model[0].weight] == 24
    assert sizes[model[0].bias] == 8
    assert sizes[model[1].running_mean] == 8
    assert sizes[model[1].num_batches_tracked] == 8
    assert sum(sizes.values()) == 24 + 8 + 4 * 8 + 8
    assert get_tensor_size_bytes_map({"x": "no tensors", "y": [1, 2.0, None]}) == {}


def _wait_for_samples(samples: List[int], count: int) -> None:
    deadline = time.monotonic() + 5.0
    while len(samples) < count and time.monotonic() < deadline:
        time.sleep(0.001)


def test_measure_rss_deltas_samples_and_sees_an_allocation() -> None:
    deltas: List[int] = []
    with measure_rss_deltas(deltas, interval=timedelta(milliseconds=2)):
        block = torch.ones(16 * 2**20)  # 64 MiB, every page touched
        _wait_for_samples(deltas, 2)
    assert len(deltas) >= 3  # background samples plus the one taken on exit
    assert max(deltas) >= 32 * 2**20
    assert block.numel() == 16 * 2**20


def test_rss_profiler_records_per_name_and_resets() -> None:
    profiler = RSSProfiler(interval=timedelta(milliseconds=1))
    assert profiler.interval == timedelta(milliseconds=1)
    with profiler.profile("load"):
        pass
    with profiler.profile("load"):
        pass
    with profiler.profile("step"):
        pass
    assert sorted(profiler.rss_deltas_bytes) == ["load", "step"]
    assert len(profiler.rss_deltas_bytes["load"]) >= 2
    assert all(isinstance(v, int) for v in profiler.rss_deltas_bytes["load"])
    profiler.reset()
    assert dict(profiler.rss_deltas_bytes) == {}


def test_rss_profiler_records_even_when_the_block_raises() -> None:
    profiler = RSSProfiler()
    with pytest.raises(KeyError), profiler.profile("boom"):
        raise KeyError("x")
    assert len(profiler.rss_deltas_bytes["boom"]) == 1


@pytest.mark.parametrize("interval", [timedelta(0), timedelta(seconds=-1), 0.1])
def test_bad_interval(interval: object) -> None:
    with pytest.raises(ValueError, match="interval=.*expected a positive datetime.timedelta"):
        RSSProfiler(interval=interval)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval="), measure_rss_deltas([], interval):  # type: ignore[arg-type]
        pass
