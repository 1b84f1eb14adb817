from typing import Any, Dict

import pytest
import torch

from torchtnt.utils.progress import Progress
from torchtnt.utils.stateful import DictStateful, MetricStateful, MultiStateful, Stateful


class _Counter:
    def __init__(self, value: int = 0) -> None:
        self.value = value

    def state_dict(self) -> Dict[str, Any]:
        return {"value": self.value}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.value = state_dict["value"]


class _Mean:
    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, value: float) -> None:
        self.total += value
        self.count += 1

    def compute(self) -> float:
        return self.total / self.count

    def state_dict(self) -> Dict[str, Any]:
        return {"total": self.total, "count": self.count}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.total, self.count = state_dict["total"], state_dict["count"]


def test_stateful_protocol_is_structural() -> None:
    assert isinstance(_Counter(), Stateful)
    assert isinstance(torch.nn.Linear(1, 1), Stateful)
    assert isinstance(Progress(), Stateful)
    assert not isinstance(object(), Stateful)
    assert not isinstance({"a": 1}, Stateful)


def test_metric_stateful_needs_update_and_compute() -> None:
    assert isinstance(_Mean(), MetricStateful)
    assert not isinstance(_Counter(), MetricStateful)


def test_multi_stateful_state_dict_nests_each_object() -> None:
    multi = MultiStateful({"a": _Counter(1), "b": _Counter(2), "p": Progress(3, 4, 5)})
    assert multi.state_dict() == {
        "a": {"value": 1},
        "b": {"value": 2},
        "p": {
            "num_epochs_completed": 3,
            "num_steps_completed": 4,
            "num_steps_completed_in_epoch": 5,
        },
    }


def test_multi_stateful_round_trip() -> None:
    source = MultiStateful({"a": _Counter(7), "m": _Mean()})
    source.stateful_objs["m"].update(2.0)
    source.stateful_objs["m"].update(4.0)
    saved = source.state_dict()

    target = MultiStateful({"a": _Counter(), "m": _Mean()})
    target.load_state_dict(saved)
    assert target.stateful_objs["a"].value == 7
    assert target.stateful_objs["m"].compute() == 3.0
    assert target.state_dict() == saved


def test_multi_stateful_loads_only_keys_present_in_state_dict() -> None:
    a, b = _Counter(1), _Counter(2)
    MultiStateful({"a": a, "b": b}).load_state_dict({"b": {"value": 20}})
    assert (a.value, b.value) == (1, 20)


def test_multi_stateful_unknown_key_raises_key_error() -> None:
    with pytest.raises(KeyError):
        MultiStateful({"a": _Counter()}).load_state_dict({"missing": {"value": 1}})


def test_dict_stateful_is_a_dict_and_stateful() -> None:
    d = DictStateful(x=1, y=[2])
    assert isinstance(d, dict)
    assert isinstance(d, Stateful)
    assert d["x"] == 1


def test_dict_stateful_state_dict_is_a_copy() -> None:
    d = DictStateful(x=1)
    sd = d.state_dict()
    assert sd == {"x": 1}
    sd["x"] = 100
    sd["new"] = 2
    assert d == {"x": 1}


def test_dict_stateful_load_replaces_contents() -> None:
    d = DictStateful(old=1, kept=2)
    d.load_state_dict({"kept": 20, "new": 3})
    assert d == {"kept": 20, "new": 3}

    restored = DictStateful()
    restored.load_state_dict(d.state_dict())
    assert restored == d
