"""Strategies for drawing batches from several dataloaders as one stream.

A :class:`DataIterationStrategy` is a small config object (which loaders, in what order,
when to stop); each strategy is paired with a :class:`MultiIterator` subclass that does
the iterating. :class:`~torchtnt.utils.data.multi_dataloader.MultiDataLoader` looks the
iterator up in :class:`DataIterationStrategyRegistry`.

Every iterator yields ``{loader_name: batch}`` dicts.
"""

import enum
import itertools
import logging
import math
import random
import sys
import warnings
from abc import abstractmethod
from dataclasses import dataclass
from numbers import Real
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Type

import torch

from torchtnt.utils._errors import AssertedValueError

__all__ = [
    "AllDatasetBatches",
    "AllDatasetBatchesIterator",
    "DataIterationStrategy",
    "DataIterationStrategyRegistry",
    "InOrder",
    "InOrderIterator",
    "MultiIterator",
    "RandomizedBatchSampler",
    "RandomizedBatchSamplerIterator",
    "RoundRobin",
    "RoundRobinIterator",
    "StoppingMechanism",
]

logger: logging.Logger = logging.getLogger(__name__)

if sys.version_info >= (3, 11):
    _StrEnum = enum.StrEnum
else:  # pragma: no cover - exercised on Python 3.10 only

    class _StrEnum(str, enum.Enum):
        def __str__(self) -> str:
            return str(self.value)


class StoppingMechanism(_StrEnum):
    """When a multi-loader iteration ends.

    - ``ALL_DATASETS_EXHAUSTED``: when every loader has run out.
    - ``SMALLEST_DATASET_EXHAUSTED``: as soon as any loader runs out.
    - ``RESTART_UNTIL_ALL_DATASETS_EXHAUSTED``: loaders that run out start over, until
      each one has run out at least once.
    - ``WRAP_AROUND_UNTIL_KILLED``: loaders that run out start over, forever.
    """

    ALL_DATASETS_EXHAUSTED = "ALL_DATASETS_EXHAUSTED"
    SMALLEST_DATASET_EXHAUSTED = "SMALLEST_DATASET_EXHAUSTED"
    RESTART_UNTIL_ALL_DATASETS_EXHAUSTED = "RESTART_UNTIL_ALL_DATASETS_EXHAUSTED"
    WRAP_AROUND_UNTIL_KILLED = "WRAP_AROUND_UNTIL_KILLED"


def _to_stopping_mechanism(value: object) -> StoppingMechanism:
    try:
        return StoppingMechanism(value)
    except ValueError:
        accepted = [m.value for m in StoppingMechanism]
        raise ValueError(
            f"stopping_mechanism={value!r} is invalid: expected a StoppingMechanism, one of "
            f"{accepted}"
        ) from None


def _check_iteration_order(iteration_order: Optional[List[str]]) -> None:
    if iteration_order is None:
        return
    if isinstance(iteration_order, str) or not isinstance(iteration_order, Sequence):
        raise TypeError(
            f"iteration_order={iteration_order!r} is invalid: expected a list of dataloader "
            "names or None"
        )
    if len(iteration_order) == 0:
        raise ValueError("iteration_order=[] is invalid: expected at least one dataloader name")
    duplicates = sorted({n for n in iteration_order if iteration_order.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"iteration_order={list(iteration_order)!r} is invalid: {duplicates} appear more "
            "than once; expected each dataloader name at most once"
        )


@dataclass
class DataIterationStrategy:
    """Base class of the configs that say how to iterate over several dataloaders."""


@dataclass
class RoundRobin(DataIterationStrategy):
    """Take one batch from each loader in turn.

    Args:
        stopping_mechanism: when to stop; ``WRAP_AROUND_UNTIL_KILLED`` is not supported.
        iteration_order: loader names in the order to visit them (default: the order of
            the dataloader dict). Loaders left out are never visited.

    Raises:
        ValueError: on an unknown stopping mechanism or a name repeated in
            ``iteration_order``.
    """

    stopping_mechanism: StoppingMechanism = StoppingMechanism.ALL_DATASETS_EXHAUSTED
    iteration_order: Optional[List[str]] = None

    def __post_init__(self) -> None:
        self.stopping_mechanism = _to_stopping_mechanism(self.stopping_mechanism)
        _check_iteration_order(self.iteration_order)


@dataclass
class AllDatasetBatches(DataIterationStrategy):
    """Take one batch from every loader at each step.

    Args:
        stopping_mechanism: when to stop; ``WRAP_AROUND_UNTIL_KILLED`` is not supported.

    Raises:
        ValueError: on an unknown stopping mechanism.
    """

    stopping_mechanism: StoppingMechanism = StoppingMechanism.ALL_DATASETS_EXHAUSTED

    def __post_init__(self) -> None:
        self.stopping_mechanism = _to_stopping_mechanism(self.stopping_mechanism)


@dataclass
class RandomizedBatchSampler(DataIterationStrategy):
    """Pick a loader at random for each batch, in proportion to its weight.

    Args:
        weights: a positive weight for every loader name (default: all equal).
        stopping_mechanism: when to stop.
        enforce_same_loader_across_ranks: broadcast rank 0's pick so every rank draws
            from the same loader at each step. Creating the iterator is then collective
            (all ranks must do it) when a process group is initialized; loaders should be
            equally long on every rank, or ranks stop at different steps and hang.

    Raises:
        ValueError: on an unknown stopping mechanism or a weight that is not a finite
            number > 0.
    """

    weights: Optional[Dict[str, float]] = None
    stopping_mechanism: StoppingMechanism = StoppingMechanism.ALL_DATASETS_EXHAUSTED
    enforce_same_loader_across_ranks: bool = False

    def __post_init__(self) -> None:
        self.stopping_mechanism = _to_stopping_mechanism(self.stopping_mechanism)
        for name, weight in (self.weights or {}).items():
            valid = isinstance(weight, Real) and not isinstance(weight, bool)
            if not valid or not (0 < weight < math.inf):
                raise ValueError(
                    f"weights[{name!r}]={weight!r} is invalid: expected a finite number > 0 "
                    "(leave a loader out of the dataloader dict to skip it)"
                )


@dataclass
class InOrder(DataIterationStrategy):
    """Exhaust the loaders one after another.

    Args:
        iteration_order: loader names in the order to exhaust them (default: the order
            of the dataloader dict). Loaders left out are never visited.

    Raises:
        ValueError: on a name repeated in ``iteration_order``.
    """

    iteration_order: Optional[List[str]] = None

    def __post_init__(self) -> None:
        _check_iteration_order(self.iteration_order)


class MultiIterator(Iterator[Dict[str, Any]]):
    """Base class of the iterators over several dataloaders.

    Args:
        individual_dataloaders: the loaders by name.
        iteration_strategy: the config of the strategy this iterator implements.

    Raises:
        ValueError: if ``individual_dataloaders`` is empty.
    """

    def __init__(
        self,
        individual_dataloaders: Mapping[str, Iterable],
        iteration_strategy: DataIterationStrategy,
    ) -> None:
        type(self).check_config(individual_dataloaders, iteration_strategy)
        self.individual_dataloaders = individual_dataloaders
        self.iteration_strategy = iteration_strategy

    @classmethod
    def check_config(
        cls,
        individual_dataloaders: Mapping[str, Iterable],
        iteration_strategy: DataIterationStrategy,
    ) -> None:
        """Raise if this iterator cannot run ``iteration_strategy`` over these loaders.

        Called by the constructor, and by
        :class:`~torchtnt.utils.data.multi_dataloader.MultiDataLoader` when it is built, so
        a bad configuration fails before any data is read. Subclasses extend it.

        Args:
            individual_dataloaders: the loaders by name.
            iteration_strategy: the strategy config.

        Raises:
            ValueError: if ``individual_dataloaders`` is empty.
        """
        if len(individual_dataloaders) == 0:
            raise ValueError(
                "individual_dataloaders is empty: expected a mapping with at least one "
                "{name: dataloader} entry"
            )

    def __str__(self) -> str:
        return str(self.iteration_strategy)

    @abstractmethod
    def __next__(self) -> Dict[str, Any]:
        """Return the next ``{loader_name: batch}`` dict.

        Raises:
            StopIteration: when the strategy's stopping condition is met.
        """

    def state_dict(self) -> Dict[str, Any]:
        """Return the iterator's position for resuming (empty unless overridden)."""
        return {}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore a position returned by :meth:`state_dict` (no-op unless overridden).

        Args:
            state_dict: the saved position.
        """


def _resolve_order(
    iteration_order: Optional[List[str]], individual_dataloaders: Mapping[str, Iterable]
) -> List[str]:
    if iteration_order is None:
        return list(individual_dataloaders.keys())
    unknown = [name for name in iteration_order if name not in individual_dataloaders]
    if unknown:
        raise ValueError(
            f"iteration_order={list(iteration_order)!r} names unknown dataloaders {unknown}: "
            f"expected names from {list(individual_dataloaders.keys())}"
        )
    return list(iteration_order)


def _reject_wrap_around(stopping_mechanism: StoppingMechanism, iterator_name: str) -> None:
    if stopping_mechanism == StoppingMechanism.WRAP_AROUND_UNTIL_KILLED:
        raise NotImplementedError(
            f"{iterator_name} does not support stopping_mechanism={stopping_mechanism!s}; "
            "use RandomizedBatchSampler for endless iteration"
        )


class RoundRobinIterator(MultiIterator):
    """Yields one batch from each loader in turn, skipping loaders that ran out.

    With ``SMALLEST_DATASET_EXHAUSTED`` iteration ends when the loader whose turn it is
    has run out; otherwise finished loaders are skipped until all have finished.

    Args:
        individual_dataloaders: the loaders by name.
        iteration_strategy: a :class:`RoundRobin` config.

    Raises:
        NotImplementedError: for ``WRAP_AROUND_UNTIL_KILLED``.
        ValueError: if ``iteration_order`` names an unknown loader.
    """

    def __init__(
        self, individual_dataloaders: Mapping[str, Iterable], iteration_strategy: RoundRobin
    ) -> None:
        super().__init__(individual_dataloaders, iteration_strategy)
        self.stopping_mechanism: StoppingMechanism = iteration_strategy.stopping_mechanism
        self.iteration_order: List[str] = _resolve_order(
            iteration_strategy.iteration_order, individual_dataloaders
        )
        self.individual_iterators: Dict[str, Iterator[Any]] = {
            name: iter(individual_dataloaders[name]) for name in self.iteration_order
        }
        self.finished_dataloaders: List[str] = []
        self.dataloader_cycle: Iterator[str] = itertools.cycle(self.iteration_order)
        self.cur_dataloader: str = next(self.dataloader_cycle)

    @classmethod
    def check_config(
        cls, individual_dataloaders: Mapping[str, Iterable], iteration_strategy: Any
    ) -> None:
        """See :meth:`MultiIterator.check_config`; also rejects ``WRAP_AROUND_UNTIL_KILLED``
        (NotImplementedError) and unknown names in ``iteration_order`` (ValueError), and
        warns that ``RESTART_UNTIL_ALL_DATASETS_EXHAUSTED`` restarts nothing here."""
        super().check_config(individual_dataloaders, iteration_strategy)
        _reject_wrap_around(iteration_strategy.stopping_mechanism, cls.__name__)
        _resolve_order(iteration_strategy.iteration_order, individual_dataloaders)
        if (
            iteration_strategy.stopping_mechanism
            == StoppingMechanism.RESTART_UNTIL_ALL_DATASETS_EXHAUSTED
        ):
            # TorchTNT's round robin skips finished loaders whatever the mechanism. A
            # warnings.warn (not a log line) is shown once, not at every epoch's iterator.
            warnings.warn(
                "RoundRobin does not restart loaders: stopping_mechanism="
                "RESTART_UNTIL_ALL_DATASETS_EXHAUSTED runs like ALL_DATASETS_EXHAUSTED "
                "(each loader once). AllDatasetBatches and RandomizedBatchSampler restart.",
                UserWarning,
                stacklevel=2,
            )

    def _all_finished(self) -> bool:
        return len(self.finished_dataloaders) >= len(self.iteration_order)

    def __next__(self) -> Dict[str, Any]:
        while not self._all_finished():
            name = self.cur_dataloader
            if name in self.finished_dataloaders:
                self.cur_dataloader = next(self.dataloader_cycle)
                continue
            try:
                batch = next(self.individual_iterators[name])
            except StopIteration:
                if self.stopping_mechanism == StoppingMechanism.SMALLEST_DATASET_EXHAUSTED:
                    raise
                self.finished_dataloaders.append(name)
                continue
            self.cur_dataloader = next(self.dataloader_cycle)
            return {name: batch}
        raise StopIteration

    def state_dict(self) -> Dict[str, Any]:
        """Return ``{"finished_dataloaders": [...], "cur_dataloader": name}``."""
        return {
            "finished_dataloaders": list(self.finished_dataloaders),
            "cur_dataloader": self.cur_dataloader,
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Resume at the saved loader, with the saved loaders marked finished.

        The loaders themselves restart unless they are stateful and were restored
        (see :class:`~torchtnt.utils.data.multi_dataloader.MultiDataLoader`).

        Args:
            state_dict: a dict returned by :meth:`state_dict`.

        Raises:
            ValueError: if ``cur_dataloader`` is not in the iteration order.
        """
        target = state_dict["cur_dataloader"]
        if target not in self.iteration_order:
            raise ValueError(
                f"cur_dataloader={target!r} in the state dict is unknown: expected one of "
                f"{self.iteration_order}"
            )
        self.finished_dataloaders = list(state_dict["finished_dataloaders"])
        self.dataloader_cycle = itertools.cycle(self.iteration_order)
        self.cur_dataloader = next(self.dataloader_cycle)
        while self.cur_dataloader != target:
            self.cur_dataloader = next(self.dataloader_cycle)


class AllDatasetBatchesIterator(MultiIterator):
    """Yields one batch from every loader at each step.

    - ``ALL_DATASETS_EXHAUSTED``: loaders that run out drop out of the dict; iteration
      ends when none is left.
    - ``SMALLEST_DATASET_EXHAUSTED``: iteration ends when any loader runs out.
    - ``RESTART_UNTIL_ALL_DATASETS_EXHAUSTED``: a loader that runs out starts over;
      iteration ends when the last loader to do so runs out for the first time.

    Args:
        individual_dataloaders: the loaders by name.
        iteration_strategy: an :class:`AllDatasetBatches` config.

    Raises:
        NotImplementedError: for ``WRAP_AROUND_UNTIL_KILLED``.
    """

    def __init__(
        self,
        individual_dataloaders: Mapping[str, Iterable],
        iteration_strategy: AllDatasetBatches,
    ) -> None:
        super().__init__(individual_dataloaders, iteration_strategy)
        self.stopping_mechanism: StoppingMechanism = iteration_strategy.stopping_mechanism
        self.individual_iterators: Dict[str, Iterator[Any]] = {
            name: iter(dl) for name, dl in individual_dataloaders.items()
        }
        self.finished_dataloaders: List[str] = []

    @classmethod
    def check_config(
        cls, individual_dataloaders: Mapping[str, Iterable], iteration_strategy: Any
    ) -> None:
        """See :meth:`MultiIterator.check_config`; also rejects ``WRAP_AROUND_UNTIL_KILLED``
        (NotImplementedError)."""
        super().check_config(individual_dataloaders, iteration_strategy)
        _reject_wrap_around(iteration_strategy.stopping_mechanism, cls.__name__)

    def __next__(self) -> Dict[str, Any]:
        batches: Dict[str, Any] = {}
        for name in list(self.individual_iterators):
            try:
                batches[name] = next(self.individual_iterators[name])
            except StopIteration:
                self._on_exhausted(name, batches)
        if not batches:
            raise StopIteration
        return batches

    def _on_exhausted(self, name: str, batches: Dict[str, Any]) -> None:
        mechanism = self.stopping_mechanism
        if mechanism == StoppingMechanism.SMALLEST_DATASET_EXHAUSTED:
            raise StopIteration
        if mechanism == StoppingMechanism.ALL_DATASETS_EXHAUSTED:
            del self.individual_iterators[name]
            return
        if name not in self.finished_dataloaders:
            self.finished_dataloaders.append(name)
        if len(self.finished_dataloaders) == len(self.individual_dataloaders):
            raise StopIteration
        self.individual_iterators[name] = iter(self.individual_dataloaders[name])
        try:
            batches[name] = next(self.individual_iterators[name])
        except StopIteration:
            # An empty loader has nothing to restart with; it simply contributes nothing.
            pass


class RandomizedBatchSamplerIterator(MultiIterator):
    """Yields one batch at a time from a loader picked at random by weight.

    Names are sorted and picked with :func:`random.choices`, so seeding :mod:`random`
    makes the sequence reproducible.

    - ``ALL_DATASETS_EXHAUSTED``: loaders that run out are no longer picked; iteration
      ends when all have run out.
    - ``SMALLEST_DATASET_EXHAUSTED``: iteration ends when a picked loader runs out.
    - ``RESTART_UNTIL_ALL_DATASETS_EXHAUSTED``: loaders that run out start over and stay
      in the draw; iteration ends once every loader has run out at least once.
    - ``WRAP_AROUND_UNTIL_KILLED``: loaders that run out start over; never ends.

    Args:
        individual_dataloaders: the loaders by name.
        iteration_strategy: a :class:`RandomizedBatchSampler` config.

    Raises:
        ValueError: if ``weights`` does not name exactly the loaders given (the error
            is also an ``AssertionError``, for compatibility).
    """

    def __init__(
        self,
        individual_dataloaders: Mapping[str, Iterable],
        iteration_strategy: RandomizedBatchSampler,
    ) -> None:
        super().__init__(individual_dataloaders, iteration_strategy)
        self.stopping_mechanism: StoppingMechanism = iteration_strategy.stopping_mechanism
        self.dataset_names: List[str] = sorted(individual_dataloaders.keys())
        self.weights: List[float] = _resolve_weights(iteration_strategy.weights, self.dataset_names)
        self.individual_iterators: Dict[str, Iterator[Any]] = {
            name: iter(individual_dataloaders[name]) for name in self.dataset_names
        }
        self.exhausted: List[bool] = [False] * len(self.dataset_names)
        self.enforce_same_loader_across_ranks: bool = (
            iteration_strategy.enforce_same_loader_across_ranks
        )
        self.process_group: Optional[Any] = None
        if self.enforce_same_loader_across_ranks:
            self.process_group = _new_gloo_group()

    @classmethod
    def check_config(
        cls, individual_dataloaders: Mapping[str, Iterable], iteration_strategy: Any
    ) -> None:
        """See :meth:`MultiIterator.check_config`; also rejects ``weights`` that do not
        name exactly the loaders given."""
        super().check_config(individual_dataloaders, iteration_strategy)
        _resolve_weights(iteration_strategy.weights, sorted(individual_dataloaders.keys()))

    def __next__(self) -> Dict[str, Any]:
        while True:
            index = self._pick_index()
            name = self.dataset_names[index]
            try:
                return {name: next(self.individual_iterators[name])}
            except StopIteration:
                self._on_exhausted(index)

    def _on_exhausted(self, index: int) -> None:
        self.exhausted[index] = True
        mechanism = self.stopping_mechanism
        if mechanism == StoppingMechanism.SMALLEST_DATASET_EXHAUSTED or all(self.exhausted):
            if mechanism != StoppingMechanism.WRAP_AROUND_UNTIL_KILLED:
                raise StopIteration
        if mechanism == StoppingMechanism.ALL_DATASETS_EXHAUSTED:
            return
        name = self.dataset_names[index]
        self.individual_iterators[name] = iter(self.individual_dataloaders[name])

    def _draw_weights(self) -> List[float]:
        # Only loaders that will never yield again leave the draw.
        if self.stopping_mechanism != StoppingMechanism.ALL_DATASETS_EXHAUSTED:
            return self.weights
        return [0.0 if done else w for w, done in zip(self.weights, self.exhausted)]

    def _pick_index(self) -> int:
        group = self.process_group
        if group is None:
            return self._draw()
        import torch.distributed as dist

        # Only rank 0 draws, so ranks with differently seeded RNGs still agree.
        chosen = torch.tensor([self._draw() if dist.get_rank() == 0 else 0], dtype=torch.int64)
        dist.broadcast(chosen, src=0, group=group)
        return int(chosen.item())

    def _draw(self) -> int:
        population = range(len(self.dataset_names))
        return random.choices(population, weights=self._draw_weights())[0]


def _resolve_weights(weights: Optional[Dict[str, float]], names: List[str]) -> List[float]:
    if weights is None:
        return [1.0] * len(names)
    if set(weights) != set(names):
        raise AssertedValueError(
            f"weights has keys {sorted(weights)}: expected exactly one weight for each "
            f"dataloader name {names}"
        )
    return [float(weights[name]) for name in names]


def _new_gloo_group() -> Optional[Any]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        # Without a process group there is a single rank, which trivially agrees with itself.
        return None
    # A separate CPU group keeps the per-step broadcast off the (possibly NCCL) default.
    return dist.new_group(backend="gloo")


class InOrderIterator(MultiIterator):
    """Yields every batch of the first loader, then of the second, and so on.

    Every loader's iterator is created up front, so stateful loaders all start a new
    pass together and their saved states stay consistent with the iterator's position.

    Args:
        individual_dataloaders: the loaders by name.
        iteration_strategy: an :class:`InOrder` config.

    Raises:
        ValueError: if ``iteration_order`` names an unknown loader.
    """

    def __init__(
        self, individual_dataloaders: Mapping[str, Iterable], iteration_strategy: InOrder
    ) -> None:
        super().__init__(individual_dataloaders, iteration_strategy)
        self.iteration_order: List[str] = _resolve_order(
            iteration_strategy.iteration_order, individual_dataloaders
        )
        self.iterators_finished: int = 0
        self.cur_iterator: str = self.iteration_order[0]
        self.individual_iterators: Dict[str, Iterator[Any]] = {
            name: iter(individual_dataloaders[name]) for name in self.iteration_order
        }

    @classmethod
    def check_config(
        cls, individual_dataloaders: Mapping[str, Iterable], iteration_strategy: Any
    ) -> None:
        """See :meth:`MultiIterator.check_config`; also rejects unknown names in
        ``iteration_order`` (ValueError)."""
        super().check_config(individual_dataloaders, iteration_strategy)
        _resolve_order(iteration_strategy.iteration_order, individual_dataloaders)

    def __next__(self) -> Dict[str, Any]:
        while self.iterators_finished < len(self.iteration_order):
            try:
                return {self.cur_iterator: next(self.individual_iterators[self.cur_iterator])}
            except StopIteration:
                self._advance()
        raise StopIteration

    def _advance(self) -> None:
        self.iterators_finished += 1
        if self.iterators_finished < len(self.iteration_order):
            self.cur_iterator = self.iteration_order[self.iterators_finished]

    def state_dict(self) -> Dict[str, Any]:
        """Return ``{"iterators_finished": int, "cur_iterator": name}``."""
        return {"iterators_finished": self.iterators_finished, "cur_iterator": self.cur_iterator}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Resume at the saved loader; an unknown loader name is ignored with a warning.

        Args:
            state_dict: a dict returned by :meth:`state_dict`.
        """
        name = state_dict["cur_iterator"]
        if name not in self.iteration_order:
            logger.warning(
                f"Ignoring the saved InOrderIterator state: cur_iterator={name!r} is not one "
                f"of {self.iteration_order}; iteration starts from the beginning"
            )
            return
        self.iterators_finished = int(state_dict["iterators_finished"])
        self.cur_iterator = name


class DataIterationStrategyRegistry:
    """Maps each strategy config class to the iterator class that implements it."""

    REGISTRY: Dict[Type[DataIterationStrategy], Type[MultiIterator]] = {
        RoundRobin: RoundRobinIterator,
        AllDatasetBatches: AllDatasetBatchesIterator,
        RandomizedBatchSampler: RandomizedBatchSamplerIterator,
        InOrder: InOrderIterator,
    }

    @classmethod
    def get(cls, iteration_strategy: DataIterationStrategy) -> Type[MultiIterator]:
        """Return the iterator class for ``iteration_strategy``.

        Subclasses of a registered strategy use their nearest registered base's iterator.

        Args:
            iteration_strategy: a strategy config instance.

        Raises:
            NotImplementedError: if no iterator is registered for its class.
        """
        for klass in type(iteration_strategy).__mro__:
            if klass in cls.REGISTRY:
                return cls.REGISTRY[klass]
        known = [k.__name__ for k in cls.REGISTRY]
        raise NotImplementedError(
            f"iteration_strategy={iteration_strategy!r} is not supported: expected an "
            f"instance of one of {known}, or pass iterator_cls to MultiDataLoader"
        )
