"""A dataloader that combines several named dataloaders under one iteration strategy."""

import collections.abc
import logging
from typing import Any, Dict, Iterable, Iterator, Optional, Type

from torchtnt.utils.data.iterators import (
    DataIterationStrategy,
    DataIterationStrategyRegistry,
    MultiIterator,
)
from torchtnt.utils.stateful import Stateful

__all__ = ["MultiDataLoader"]

logger: logging.Logger = logging.getLogger(__name__)

_ITERATOR_STATE_KEY = "iterator_state"


class MultiDataLoader:
    """Iterates over several dataloaders as one, yielding ``{loader_name: batch}`` dicts.

    How batches are drawn (round robin, all at once, at random, one loader after the
    other) and when iteration ends is set by ``iteration_strategy``.

    Each loader is probed once at construction (``next(iter(loader))``) to catch empty
    ones early, so one-shot iterables (generators) lose their first item: pass
    re-iterable loaders.

    The state dict holds the state of every stateful loader plus the position of the
    current multi-iterator, so a restored ``MultiDataLoader`` continues where the saved
    one stopped.

    Args:
        individual_dataloaders: the loaders by name.
        iteration_strategy: how to iterate over them.
        iterator_cls: the iterator to use instead of the one registered for
            ``iteration_strategy``.
        ignore_empty_data: warn about empty loaders instead of raising.

    Raises:
        ValueError: if ``individual_dataloaders`` is empty, or a loader yields no data
            and ``ignore_empty_data`` is False.
        TypeError: if ``iteration_strategy`` is not a :class:`~torchtnt.utils.data.iterators.DataIterationStrategy`.
        NotImplementedError: if the iterator does not support the stopping mechanism (an
            unregistered strategy without ``iterator_cls`` fails at ``iter()`` instead).

    Whatever the iterator's ``check_config`` rejects (unknown names in
    ``iteration_order``, ``weights`` not naming exactly the loaders, ...) is raised here,
    before any data is read.
    """

    def __init__(
        self,
        individual_dataloaders: Dict[str, Iterable],
        iteration_strategy: DataIterationStrategy,
        iterator_cls: Optional[Type[MultiIterator]] = None,
        ignore_empty_data: bool = False,
    ) -> None:
        _check_arguments(individual_dataloaders, iteration_strategy)
        self.individual_dataloaders = individual_dataloaders
        self.iteration_strategy = iteration_strategy
        self.iterator_cls = iterator_cls
        self.ignore_empty_data = ignore_empty_data
        self.current_iterator: Optional[MultiIterator] = None
        self._iterator_state: Optional[Dict[str, Any]] = None
        self._check_iterator_config()
        for name, dataloader in individual_dataloaders.items():
            self._probe(name, dataloader)

    def _check_iterator_config(self) -> None:
        """Reject a configuration the iterator cannot run now, not at the first batch."""
        try:
            iterator_cls = self._iterator_class()
        except NotImplementedError:
            return  # no iterator for this strategy: iter() says so, as documented
        check_config = getattr(iterator_cls, "check_config", None)
        if check_config is not None:
            check_config(self.individual_dataloaders, self.iteration_strategy)

    def _iterator_class(self) -> Type[MultiIterator]:
        return self.iterator_cls or DataIterationStrategyRegistry.get(self.iteration_strategy)

    def _probe(self, name: str, dataloader: Iterable) -> None:
        try:
            next(iter(dataloader))
        except StopIteration:
            if not self.ignore_empty_data:
                raise ValueError(f"Dataloader '{name}' contains no data.") from None
            logger.warning(
                f"Dataloader '{name}' contains no data; it will be treated as exhausted "
                "(ignore_empty_data=True)."
            )

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        """Start a new pass over the loaders and return its iterator.

        A state loaded with :meth:`load_state_dict` is applied to this new iterator.
        """
        self.current_iterator = self._iterator_class()(
            individual_dataloaders=self.individual_dataloaders,
            iteration_strategy=self.iteration_strategy,
        )
        if self._iterator_state is not None:
            self.current_iterator.load_state_dict(self._iterator_state)
            self._iterator_state = None
        return self.current_iterator

    def state_dict(self) -> Dict[str, Any]:
        """Return the state of each stateful loader, by name, plus the iterator position.

        The iterator position is stored under ``"iterator_state"`` when the current
        iterator has a non-empty state.
        """
        state: Dict[str, Any] = {
            name: dl.state_dict()
            for name, dl in self.individual_dataloaders.items()
            if isinstance(dl, Stateful)
        }
        if self.current_iterator is not None:
            iterator_state = self.current_iterator.state_dict()
            if iterator_state:
                state[_ITERATOR_STATE_KEY] = iterator_state
        return state

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore each stateful loader and remember the iterator position.

        The position is applied by the next call to ``iter()``. Stateful loaders with no
        entry in ``state_dict`` are skipped with a warning.

        Args:
            state_dict: a dict returned by :meth:`state_dict`.
        """
        for name, dl in self.individual_dataloaders.items():
            if not isinstance(dl, Stateful):
                continue
            if name not in state_dict:
                logger.warning(
                    f"Not restoring dataloader '{name}': the state dict has no entry for it "
                    f"(it has {sorted(state_dict)})."
                )
                continue
            dl.load_state_dict(state_dict[name])
        self._iterator_state = state_dict.get(_ITERATOR_STATE_KEY)


def _check_arguments(
    individual_dataloaders: Dict[str, Iterable], iteration_strategy: DataIterationStrategy
) -> None:
    if not isinstance(individual_dataloaders, collections.abc.Mapping):
        raise TypeError(
            f"individual_dataloaders={type(individual_dataloaders).__name__} is invalid: "
            "expected a dict {name: dataloader}"
        )
    if len(individual_dataloaders) == 0:
        raise ValueError(
            "individual_dataloaders={} is invalid: expected at least one {name: dataloader} entry"
        )
    if not isinstance(iteration_strategy, DataIterationStrategy):
        raise TypeError(
            f"iteration_strategy={iteration_strategy!r} is invalid: expected an instance of "
            "a DataIterationStrategy subclass such as RoundRobin(), InOrder(), "
            "AllDatasetBatches() or RandomizedBatchSampler()"
        )
