import copy
import itertools
import logging
from typing import Any, Dict, Iterator, List

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from torchtnt.utils.data.iterators import (
    AllDatasetBatches,
    DataIterationStrategy,
    InOrder,
    InOrderIterator,
    MultiIterator,
    RandomizedBatchSampler,
    RoundRobin,
    RoundRobinIterator,
    StoppingMechanism,
)
from torchtnt.utils.data.multi_dataloader import MultiDataLoader


class ResumableList:
    """A stateful loader: a new iterator starts where the restored state says."""

    def __init__(self, items: List[int]) -> None:
        self.items = items
        self.pos = 0
        self._resume_at = 0

    def __iter__(self) -> Iterator[int]:
        start, self._resume_at = self._resume_at, 0
        self.pos = start
        return self._generate(start)

    def _generate(self, start: int) -> Iterator[int]:
        for item in self.items[start:]:
            self.pos += 1
            yield item

    def state_dict(self) -> Dict[str, Any]:
        return {"pos": self.pos}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self._resume_at = state_dict["pos"]


def resumable_loaders() -> Dict[str, ResumableList]:
    return {"a": ResumableList([1, 2, 3, 4]), "b": ResumableList([10, 20]), "c": ResumableList([7])}


def test_yields_dicts_from_plain_lists() -> None:
    mdl = MultiDataLoader({"a": [1, 2], "b": [3]}, RoundRobin())
    assert list(mdl) == [{"a": 1}, {"b": 3}, {"a": 2}]
    assert isinstance(mdl.current_iterator, RoundRobinIterator)
    # Every iter() is a fresh pass.
    assert list(mdl) == [{"a": 1}, {"b": 3}, {"a": 2}]


def test_works_with_torch_dataloaders() -> None:
    first = DataLoader(TensorDataset(torch.arange(4.0)), batch_size=2)
    second = DataLoader(TensorDataset(torch.arange(10.0, 13.0)), batch_size=2)
    batches = list(MultiDataLoader({"x": first, "y": second}, AllDatasetBatches()))
    assert len(batches) == 2
    torch.testing.assert_close(batches[0]["x"][0], torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(batches[0]["y"][0], torch.tensor([10.0, 11.0]))
    torch.testing.assert_close(batches[1]["x"][0], torch.tensor([2.0, 3.0]))
    torch.testing.assert_close(batches[1]["y"][0], torch.tensor([12.0]))


def test_empty_loader_is_rejected_with_exact_message() -> None:
    with pytest.raises(ValueError, match=r"^Dataloader 'b' contains no data\.$"):
        MultiDataLoader({"a": [1], "b": []}, RoundRobin())


def test_empty_loader_is_allowed_with_ignore_empty_data(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        mdl = MultiDataLoader({"a": [1, 2], "b": []}, RoundRobin(), ignore_empty_data=True)
    assert "Dataloader 'b' contains no data" in caplog.text
    assert list(mdl) == [{"a": 1}, {"a": 2}]


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"individual_dataloaders=\{\} is invalid"):
        MultiDataLoader({}, RoundRobin())
    with pytest.raises(TypeError, match="iteration_strategy='round_robin' is invalid"):
        MultiDataLoader({"a": [1]}, "round_robin")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"individual_dataloaders=list is invalid: expected a dict"):
        MultiDataLoader([[1, 2]], RoundRobin())  # type: ignore[arg-type]


def test_unregistered_strategy_fails_on_iter_unless_iterator_cls_given() -> None:
    class Custom(DataIterationStrategy):
        pass

    class FirstOnly(MultiIterator):
        def __init__(self, individual_dataloaders, iteration_strategy) -> None:
            super().__init__(individual_dataloaders, iteration_strategy)
            self._done = False

        def __next__(self) -> Dict[str, Any]:
            if self._done:
                raise StopIteration
            self._done = True
            return {name: next(iter(dl)) for name, dl in self.individual_dataloaders.items()}

    with pytest.raises(NotImplementedError, match="is not supported"):
        iter(MultiDataLoader({"a": [1]}, Custom()))
    mdl = MultiDataLoader({"a": [1, 2], "b": [3]}, Custom(), iterator_cls=FirstOnly)
    assert list(mdl) == [{"a": 1, "b": 3}]
    assert isinstance(mdl.current_iterator, FirstOnly)


def test_state_dict_contents() -> None:
    mdl = MultiDataLoader(resumable_loaders(), RoundRobin())
    it = iter(mdl)
    assert [next(it) for _ in range(4)] == [{"a": 1}, {"b": 10}, {"c": 7}, {"a": 2}]
    assert mdl.state_dict() == {
        "a": {"pos": 2},
        "b": {"pos": 1},
        "c": {"pos": 1},
        "iterator_state": {"finished_dataloaders": [], "cur_dataloader": "b"},
    }


def test_state_dict_without_stateful_loaders_or_iterator_state() -> None:
    mdl = MultiDataLoader({"a": [1, 2]}, AllDatasetBatches())
    assert mdl.state_dict() == {}
    iter(mdl)
    # AllDatasetBatchesIterator has an empty state, so no "iterator_state" key.
    assert mdl.state_dict() == {}


RESUMABLE_STRATEGIES = [
    RoundRobin(),
    RoundRobin(stopping_mechanism=StoppingMechanism.SMALLEST_DATASET_EXHAUSTED),
    RoundRobin(iteration_order=["c", "b", "a"]),
    InOrder(),
    InOrder(iteration_order=["b", "a", "c"]),
    AllDatasetBatches(),
    AllDatasetBatches(stopping_mechanism=StoppingMechanism.SMALLEST_DATASET_EXHAUSTED),
]


@pytest.mark.parametrize("strategy", RESUMABLE_STRATEGIES, ids=str)
def test_resume_continues_exactly_where_it_stopped(strategy: DataIterationStrategy) -> None:
    full = list(MultiDataLoader(resumable_loaders(), strategy))
    assert full
    for stop_after in range(len(full) + 1):
        saved = MultiDataLoader(resumable_loaders(), strategy)
        head = list(itertools.islice(iter(saved), stop_after))
        state = copy.deepcopy(saved.state_dict())

        restored = MultiDataLoader(resumable_loaders(), strategy)
        restored.load_state_dict(state)
        tail = list(restored)
        assert head + tail == full, f"stopped after {stop_after}"


def test_pending_iterator_state_is_applied_only_once() -> None:
    mdl = MultiDataLoader({"a": [1, 2], "b": [3, 4]}, InOrder())
    mdl.load_state_dict({"iterator_state": {"iterators_finished": 1, "cur_iterator": "b"}})
    assert list(mdl) == [{"b": 3}, {"b": 4}]
    assert isinstance(mdl.current_iterator, InOrderIterator)
    assert list(mdl) == [{"a": 1}, {"a": 2}, {"b": 3}, {"b": 4}]


def test_load_state_dict_warns_about_missing_loader_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dls = resumable_loaders()
    mdl = MultiDataLoader(dls, InOrder())
    with caplog.at_level(logging.WARNING):
        mdl.load_state_dict({"a": {"pos": 3}})
    assert "Not restoring dataloader 'b'" in caplog.text
    assert "Not restoring dataloader 'c'" in caplog.text
    assert list(mdl) == [{"a": 4}, {"b": 10}, {"b": 20}, {"c": 7}]


def test_randomized_sampler_through_multi_dataloader() -> None:
    strategy = RandomizedBatchSampler(weights={"a": 1e12, "b": 1.0})
    got = list(MultiDataLoader({"a": [1, 2], "b": [3]}, strategy))
    assert got == [{"a": 1}, {"a": 2}, {"b": 3}]


@pytest.mark.parametrize(
    "strategy, error, message",
    [
        (
            RoundRobin(stopping_mechanism=StoppingMechanism.WRAP_AROUND_UNTIL_KILLED),
            NotImplementedError,
            "RoundRobinIterator does not support stopping_mechanism=WRAP_AROUND_UNTIL_KILLED",
        ),
        (
            AllDatasetBatches(stopping_mechanism=StoppingMechanism.WRAP_AROUND_UNTIL_KILLED),
            NotImplementedError,
            "AllDatasetBatchesIterator does not support",
        ),
        (
            RandomizedBatchSampler(weights={"a": 1.0, "z": 2.0}),
            ValueError,
            r"weights has keys \['a', 'z'\]: expected exactly one weight for each dataloader "
            r"name \['a', 'b'\]",
        ),
        (
            RoundRobin(iteration_order=["b", "nope"]),
            ValueError,
            r"names unknown dataloaders \['nope'\]",
        ),
        (InOrder(iteration_order=["x"]), ValueError, r"names unknown dataloaders \['x'\]"),
    ],
)
def test_bad_strategy_config_fails_at_construction_before_reading_data(
    strategy: DataIterationStrategy, error: type, message: str
) -> None:
    reads: List[str] = []

    class Recording:
        def __init__(self, name: str) -> None:
            self.name = name

        def __iter__(self) -> Iterator[int]:
            reads.append(self.name)
            return iter([1, 2])

    with pytest.raises(error, match=message):
        MultiDataLoader({"a": Recording("a"), "b": Recording("b")}, strategy)
    assert reads == []  # rejected before any loader was touched
