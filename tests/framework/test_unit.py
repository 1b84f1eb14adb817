import copy
import pickle
from typing import Any, Dict, Iterator
from unittest.mock import Mock

import pytest
import torch

from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyFitUnit,
    DummyMeanMetric,
    DummyMultiOptimUnit,
    DummyPredictUnit,
    DummyStatefulConfig,
    DummyTrainUnit,
)
from torchtnt.framework.state import State
from torchtnt.framework.unit import AppStateMixin, EvalUnit, PredictUnit, TrainUnit
from torchtnt.utils.progress import Progress
from torchtnt.utils.stateful import Stateful


class Tracker(AppStateMixin):
    pass


class StatefulThing:
    def __init__(self) -> None:
        self.value = 1

    def state_dict(self) -> Dict[str, Any]:
        return {"value": self.value}

    def load_state_dict(self, sd: Dict[str, Any]) -> None:
        self.value = sd["value"]


class MetricModule(torch.nn.Module):
    """A metric that is also a module: must be tracked as a metric."""

    def update(self, x: Any) -> None: ...

    def compute(self) -> int:
        return 0


def test_attributes_are_classified_by_kind() -> None:
    t = Tracker()
    t.module = torch.nn.Linear(2, 2)
    t.optimizer = torch.optim.SGD(t.module.parameters(), lr=0.1)
    t.lr_scheduler = torch.optim.lr_scheduler.StepLR(t.optimizer, step_size=1)
    t.progress = Progress()
    t.metric = DummyMeanMetric()
    t.metric_module = MetricModule()
    t.thing = StatefulThing()
    t.stateful_class = StatefulThing  # a class is never tracked
    t.number = 3
    t.tensor = torch.ones(1)

    assert list(t.tracked_modules()) == ["module"]
    assert list(t.tracked_optimizers()) == ["optimizer"]
    assert list(t.tracked_lr_schedulers()) == ["lr_scheduler"]
    assert list(t.tracked_progress()) == ["progress"]
    assert list(t.tracked_metrics()) == ["metric", "metric_module"]
    assert list(t.tracked_misc_statefuls()) == ["thing"]
    assert t.stateful_class is StatefulThing and t.number == 3
    for name in ("module", "optimizer", "lr_scheduler", "progress", "metric", "thing"):
        assert getattr(t, name) is t.app_state()[name]
    assert list(t.app_state()) == [
        "module",
        "optimizer",
        "lr_scheduler",
        "progress",
        "thing",
        "metric",
        "metric_module",
    ]


def test_values_without_state_dict_stay_plain_and_instance_statefuls_are_tracked() -> None:
    import dataclasses
    import types

    import numpy as np

    @dataclasses.dataclass
    class Record:
        loss: float = 0.0

    t = Tracker()
    for value in (np.float64(1.5), Record(), torch.nn.Parameter(torch.ones(1)), None):
        t.last = value
    assert t.app_state() == {}
    # state_dict / load_state_dict set on the instance, not the class: still a stateful
    t.ns = types.SimpleNamespace(state_dict=lambda: {}, load_state_dict=lambda sd: None)

    class Proxy:  # hands every attribute of the object it wraps through __getattr__
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

    t.proxy = Proxy(StatefulThing())
    t.mock = Mock(spec=Stateful)
    assert list(t.tracked_misc_statefuls()) == ["ns", "proxy", "mock"]


def test_accessors_return_live_dicts() -> None:
    t = Tracker()
    t.tracked_modules()["extra"] = torch.nn.ReLU()
    assert isinstance(t.extra, torch.nn.ReLU)


def test_tracked_attribute_reads_are_plain_attribute_reads() -> None:
    t = Tracker()
    t.module = torch.nn.Linear(1, 1)
    assert t.__dict__["module"] is t.tracked_modules()["module"]
    t.module = torch.nn.Linear(2, 2)  # re-assigning updates both
    assert t.__dict__["module"] is t.tracked_modules()["module"]
    del t.module
    assert "module" not in t.__dict__ and "module" not in t.tracked_modules()


def test_reassigning_moves_between_kinds_and_none_untracks() -> None:
    t = Tracker()
    t.x = torch.nn.Linear(1, 1)
    t.x = StatefulThing()
    assert "x" not in t.tracked_modules() and "x" in t.tracked_misc_statefuls()
    t.x = 5
    assert t.x == 5  # plain attribute shadows nothing: the tracked one stays until None
    t.y = torch.nn.Linear(1, 1)
    t.y = None
    assert "y" not in t.tracked_modules()
    assert t.y is None


def test_none_does_not_untrack_progress() -> None:
    t = Tracker()
    t.p = Progress()
    t.p = None
    assert "p" in t.tracked_progress()
    assert t.__dict__["p"] is None


def test_delattr() -> None:
    t = Tracker()
    t.m = torch.nn.Linear(1, 1)
    t.plain = 1
    del t.m
    del t.plain
    assert t.tracked_modules() == {}
    with pytest.raises(AttributeError):
        _ = t.m
    with pytest.raises(AttributeError):
        del t.never_set


def test_missing_super_init() -> None:
    class Forgetful(AppStateMixin):
        def __init__(self) -> None:
            pass

    f = Forgetful()
    f.plain = 1
    assert f.plain == 1
    with pytest.raises(AttributeError) as info:
        f.module = torch.nn.Linear(1, 1)
    assert str(info.value) == "Please call super().__init__() before setting attributes."
    with pytest.raises(AttributeError):
        f.other = None


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError):
        _ = Tracker().nope


def test_units_survive_pickle_and_deepcopy() -> None:
    unit = DummyTrainUnit(2)
    for clone in (pickle.loads(pickle.dumps(unit)), copy.deepcopy(unit)):
        assert list(clone.tracked_modules()) == ["module", "loss_fn"]
        assert torch.equal(clone.module.weight, unit.module.weight)
        assert clone.module is not unit.module


def test_unit_progress_and_hooks() -> None:
    unit = DummyFitUnit(2)
    assert set(unit.tracked_progress()) == {"train_progress", "eval_progress"}
    assert isinstance(unit, TrainUnit) and isinstance(unit, EvalUnit)
    assert list(DummyPredictUnit(2).tracked_progress()) == ["predict_progress"]
    assert list(DummyEvalUnit(2).tracked_progress()) == ["eval_progress"]
    state = State.__new__(State)
    for hook in (
        "on_train_start",
        "on_train_epoch_start",
        "on_train_epoch_end",
        "on_train_end",
        "on_exception",
    ):
        args = (state, RuntimeError()) if hook == "on_exception" else (state,)
        assert getattr(unit, hook)(*args) is None
    assert unit.on_checkpoint_save(state, "ckpt") is None


def test_abstract_step_is_required() -> None:
    class NoStep(TrainUnit[int]):
        pass

    with pytest.raises(TypeError):
        NoStep()  # type: ignore[abstract]


def test_get_next_batch_returns_batch_or_iterator() -> None:
    class Batchy(PredictUnit[int]):
        def predict_step(self, state: State, data: int) -> int:
            return data

    class Itery(PredictUnit[Iterator[int]]):
        def predict_step(self, state: State, data: Iterator[int]) -> int:
            return next(data)

    it = iter([1, 2])
    assert Batchy().get_next_predict_batch(None, it) == 1  # type: ignore[arg-type]
    assert Itery().get_next_predict_batch(None, it) is it  # type: ignore[arg-type]
    with pytest.raises(StopIteration):
        Batchy().get_next_predict_batch(None, iter([]))  # type: ignore[arg-type]


def test_multi_optim_unit_tracks_optimizers_but_not_module_list() -> None:
    unit = DummyMultiOptimUnit(3)
    assert unit.tracked_modules() == {"loss_fn": unit.loss_fn}
    assert list(unit.tracked_optimizers()) == [
        "optimizer_SGD",
        "optimizer_Adam",
        "optimizer_AdamW",
        "optimizer_Adadelta",
        "optimizer_NAdam",
        "optimizer_RMSprop",
    ]


def test_construct_tracked_optimizers_without_fsdp() -> None:
    unit = DummyTrainUnit(2)
    unit.lr_scheduler = torch.optim.lr_scheduler.StepLR(unit.optimizer, step_size=1)
    assert unit._construct_tracked_optimizers() == {"optimizer": unit.optimizer}
    combined = unit._construct_tracked_optimizers_and_schedulers()
    assert list(combined) == ["optimizer", "lr_scheduler"]


def test_construct_tracked_optimizers_wraps_fsdp_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchtnt.framework.unit as unit_module
    import torchtnt.utils.prepare_module as prepare_module

    class FakeWrapper:
        def __init__(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
            self.module, self.optimizer = module, optimizer

    t = Tracker()
    t.sharded = torch.nn.Linear(2, 2)
    t.plain = torch.nn.Linear(2, 2)
    t.opt_sharded = torch.optim.SGD(t.sharded.parameters(), lr=0.1)
    t.opt_plain = torch.optim.SGD(t.plain.parameters(), lr=0.1)
    monkeypatch.setattr(unit_module, "_is_fsdp_module", lambda m: m is t.sharded)
    monkeypatch.setattr(unit_module, "_is_fsdp2_module", lambda m: m is t.sharded)
    monkeypatch.setattr(prepare_module, "FSDP2OptimizerWrapper", FakeWrapper, raising=False)
    optimizers = t._construct_tracked_optimizers()
    assert list(optimizers) == ["opt_plain", "opt_sharded"]
    assert isinstance(optimizers["opt_sharded"], FakeWrapper)
    assert optimizers["opt_sharded"].optimizer is t.opt_sharded


def test_stateful_config_round_trip() -> None:
    config = DummyStatefulConfig("/tmp/x", True, 2, 512)
    other = DummyStatefulConfig("", False, 0, 0)
    other.load_state_dict(config.state_dict())
    assert other.state_dict() == config.state_dict()
    assert config.state_dict()["data"]["train"]["dynamic_batch_config"] == {"max_batch_length": 512}


def test_progress_round_trip_through_app_state() -> None:
    unit = DummyTrainUnit(2)
    unit.train_progress.increment_step()
    unit.train_progress.increment_epoch()
    saved = {k: v.state_dict() for k, v in unit.app_state().items() if hasattr(v, "state_dict")}
    fresh = DummyTrainUnit(2)
    for name, sd in saved.items():
        fresh.app_state()[name].load_state_dict(sd)
    assert fresh.train_progress.state_dict() == {
        "num_epochs_completed": 1,
        "num_steps_completed": 1,
        "num_steps_completed_in_epoch": 0,
    }
    assert torch.equal(fresh.module.weight, unit.module.weight)


def test_dummy_auto_unit_is_a_module_level_class_that_pickles() -> None:
    import pickle

    from torchtnt.framework import _test_utils
    from torchtnt.framework.auto_unit import AutoUnit

    cls = _test_utils.DummyAutoUnit
    assert issubclass(cls, AutoUnit)
    assert (cls.__module__, cls.__qualname__) == ("torchtnt.framework._test_utils", "DummyAutoUnit")
    assert pickle.loads(pickle.dumps(cls)) is cls
    unit = cls(module=torch.nn.Linear(2, 2), device=torch.device("cpu"))
    copy = pickle.loads(pickle.dumps(unit))
    assert type(copy) is cls
    assert torch.equal(copy.module.weight, unit.module.weight)
