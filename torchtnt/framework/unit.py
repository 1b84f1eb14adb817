"""Units: where users put their model code for training, evaluation and prediction.

A unit tracks its stateful attributes (modules, optimizers, LR schedulers, progress, metrics
and any other object with ``state_dict``/``load_state_dict``) as they are assigned, so that
checkpointers can save and restore them without being told what they are.
"""

import logging
from abc import ABC, abstractmethod
from typing import Any, Dict, Generic, Iterator, TypeVar, Union

import torch

from torchtnt.framework._unit_utils import _find_optimizers_for_module, _step_requires_iterator
from torchtnt.framework.state import State
from torchtnt.utils.lr_scheduler import TLRScheduler
from torchtnt.utils.prepare_module import _is_fsdp2_module, _is_fsdp_module
from torchtnt.utils.progress import Progress
from torchtnt.utils.stateful import MetricStateful, Stateful

__all__ = [
    "AppStateMixin",
    "EvalUnit",
    "PredictUnit",
    "TrainUnit",
    "TEvalData",
    "TEvalUnit",
    "TPredictData",
    "TPredictUnit",
    "TTrainData",
    "TTrainUnit",
]

_log: logging.Logger = logging.getLogger(__name__)

_MODULES = "_modules"
_OPTIMIZERS = "_optimizers"
_LR_SCHEDULERS = "_lr_schedulers"
_PROGRESS = "_progress"
_METRICS = "_metrics"
_MISC_STATEFULS = "_misc_statefuls"
# Lookup order of __getattr__ and __delattr__ (metrics before misc statefuls).
_LOOKUP_ORDER = (_MODULES, _OPTIMIZERS, _LR_SCHEDULERS, _PROGRESS, _METRICS, _MISC_STATEFULS)
# Assigning None removes the name from these (progress is deliberately kept).
_CLEARED_BY_NONE = (_MODULES, _OPTIMIZERS, _LR_SCHEDULERS, _METRICS, _MISC_STATEFULS)

# Values of these exact types are never tracked; skipping the protocol checks for them keeps
# attribute assignment in a step cheap.
_PLAIN_TYPES = frozenset(
    {int, float, bool, str, bytes, complex, tuple, list, dict, set, frozenset, torch.Tensor}
)


def _tracking_dict_for(value: Any) -> Union[str, None]:
    """Name of the tracking dict ``value`` belongs in, or None for a plain attribute."""
    kind = type(value)
    if kind in _PLAIN_TYPES or value is None:
        return None
    # Every tracked kind has a state_dict (modules, optimizers, schedulers, progress,
    # metrics, statefuls); checking for it first spares the slow protocol isinstance
    # checks for the values most often assigned in a step (NumPy scalars, records, ...).
    # On the value itself: a proxy's __getattr__ or a mock may supply it.
    if not hasattr(value, "state_dict"):
        return None
    # Metrics first: some metric classes are also nn.Modules.
    if isinstance(value, MetricStateful):
        return _METRICS
    if isinstance(value, torch.nn.Module):
        return _MODULES
    if isinstance(value, torch.optim.Optimizer):
        return _OPTIMIZERS
    if isinstance(value, TLRScheduler):
        return _LR_SCHEDULERS
    if isinstance(value, Progress):
        return _PROGRESS
    if isinstance(value, Stateful) and not isinstance(value, type):
        return _MISC_STATEFULS
    return None


class AppStateMixin:
    """Tracks stateful attributes by kind as they are assigned.

    ``self.model = nn.Linear(2, 2)`` stores the module under ``"model"`` in
    :meth:`tracked_modules`; re-assigning a name moves it to the dict of the new kind;
    assigning ``None`` stops tracking it. Change tracked objects by assigning attributes:
    the returned dicts are live, but replacing or deleting their entries directly does not
    update the attribute of the same name.
    """

    def __init__(self) -> None:
        self._modules: Dict[str, torch.nn.Module] = {}
        self._optimizers: Dict[str, torch.optim.Optimizer] = {}
        self._lr_schedulers: Dict[str, TLRScheduler] = {}
        self._progress: Dict[str, Progress] = {}
        self._metrics: Dict[str, MetricStateful] = {}
        self._misc_statefuls: Dict[str, Any] = {}

    def tracked_modules(self) -> Dict[str, torch.nn.Module]:
        """The tracked modules (the live dict)."""
        return self._modules

    def tracked_optimizers(self) -> Dict[str, torch.optim.Optimizer]:
        """The tracked optimizers (the live dict)."""
        return self._optimizers

    def tracked_lr_schedulers(self) -> Dict[str, TLRScheduler]:
        """The tracked LR schedulers (the live dict)."""
        return self._lr_schedulers

    def tracked_progress(self) -> Dict[str, Progress]:
        """The tracked Progress objects (the live dict)."""
        return self._progress

    def tracked_metrics(self) -> Dict[str, MetricStateful]:
        """The tracked metrics (the live dict)."""
        return self._metrics

    def tracked_misc_statefuls(self) -> Dict[str, Any]:
        """Other tracked stateful objects (the live dict)."""
        return self._misc_statefuls

    def app_state(self) -> Dict[str, Any]:
        """Return all tracked objects in one new dict.

        Later kinds win on a name clash, in this order: modules, optimizers, LR schedulers,
        progress, misc statefuls, metrics.
        """
        return {
            **self._modules,
            **self._optimizers,
            **self._lr_schedulers,
            **self._progress,
            **self._misc_statefuls,
            **self._metrics,
        }

    def _construct_tracked_optimizers(self) -> Dict[str, Any]:
        """Tracked optimizers, those of FSDP modules wrapped so their state can be saved.

        Unwrapped optimizers come first, in tracking order, then the wrapped ones.
        """
        wrapped: Dict[str, Any] = {}
        for module in self._modules.values():
            if not _is_fsdp_module(module):
                continue
            from torchtnt.utils import prepare_module

            wrapper = (
                prepare_module.FSDP2OptimizerWrapper
                if _is_fsdp2_module(module)
                else prepare_module.FSDPOptimizerWrapper
            )
            for name, optimizer in _find_optimizers_for_module(module, self._optimizers):
                wrapped[name] = wrapper(module, optimizer)
        plain = {k: v for k, v in self._optimizers.items() if k not in wrapped}
        return {**plain, **wrapped}

    def _construct_tracked_optimizers_and_schedulers(self) -> Dict[str, Any]:
        """:meth:`_construct_tracked_optimizers` plus the LR schedulers (schedulers win)."""
        combined = self._construct_tracked_optimizers()
        for name, scheduler in self._lr_schedulers.items():
            if name in combined:
                _log.warning(
                    f"an optimizer and an LR scheduler are both tracked as {name!r}; "
                    "keeping the LR scheduler"
                )
            combined[name] = scheduler
        return combined

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails, i.e. for tracked objects.
        attrs = self.__dict__
        for dict_name in _LOOKUP_ORDER:
            tracked = attrs.get(dict_name)
            if tracked is not None and name in tracked:
                return tracked[name]
        return object.__getattribute__(self, name)

    def __setattr__(self, name: str, value: Any) -> None:
        dict_name = _tracking_dict_for(value)
        attrs = self.__dict__
        if dict_name is None:
            if value is None:
                attrs.pop(name, None)
                for cleared in _CLEARED_BY_NONE:
                    if cleared not in attrs:
                        raise AttributeError(
                            f"{type(self).__name__!r} object has no attribute {cleared!r}"
                        )
                    attrs[cleared].pop(name, None)
            object.__setattr__(self, name, value)
            return
        if dict_name not in attrs:
            raise AttributeError("Please call super().__init__() before setting attributes.")
        for tracked in _LOOKUP_ORDER:
            attrs[tracked].pop(name, None)
        attrs[dict_name][name] = value
        # Mirror into the instance dict so reading ``self.<name>`` in a step takes Python's
        # fast attribute path instead of a failed lookup plus __getattr__ (~0.5 us each).
        attrs[name] = value

    def __delattr__(self, name: str) -> None:
        attrs = self.__dict__
        for dict_name in _LOOKUP_ORDER:
            tracked = attrs.get(dict_name)
            if tracked is not None and name in tracked:
                del tracked[name]
                attrs.pop(name, None)
                return
        object.__delattr__(self, name)


class _OnExceptionMixin:
    def on_exception(self, state: State, exc: BaseException) -> None:
        """Called when the run raises, before the callbacks' ``on_exception``."""


TTrainData = TypeVar("TTrainData")
TEvalData = TypeVar("TEvalData")
TPredictData = TypeVar("TPredictData")


class TrainUnit(AppStateMixin, _OnExceptionMixin, Generic[TTrainData], ABC):
    """Base class for training code: implement :meth:`train_step`.

    Its progress is tracked as ``train_progress``. If ``train_step``'s ``data`` parameter is
    annotated ``Iterator[...]``, the step receives the epoch's data iterator instead of a batch.
    """

    def __init__(self) -> None:
        super().__init__()
        self.train_progress = Progress()
        self._train_step_requires_iterator = _step_requires_iterator(self.train_step)

    def on_train_start(self, state: State) -> None:
        """Called when training starts, before the callbacks' hook."""

    def on_train_epoch_start(self, state: State) -> None:
        """Called when a train epoch starts (not when resuming mid-epoch)."""

    @abstractmethod
    def train_step(self, state: State, data: TTrainData) -> Any:
        """Run one training step on ``data``; the return value is the step output."""

    def on_train_epoch_end(self, state: State) -> None:
        """Called after a train epoch, once ``train_progress`` counts it."""

    def on_train_end(self, state: State) -> None:
        """Called when training ends, before the callbacks' hook."""

    def on_checkpoint_save(self, state: State, checkpoint_id: str) -> None:
        """Called by checkpointers after a checkpoint was saved at ``checkpoint_id``."""

    def get_next_train_batch(
        self, state: State, data_iter: Iterator[object]
    ) -> Union[Iterator[TTrainData], TTrainData]:
        """Return the next batch, or the iterator itself if the step takes an iterator.

        Raises:
            StopIteration: when the data is exhausted (this ends the epoch).
        """
        if self._train_step_requires_iterator:
            return data_iter  # type: ignore[return-value]
        return next(data_iter)  # type: ignore[return-value]


class EvalUnit(AppStateMixin, _OnExceptionMixin, Generic[TEvalData], ABC):
    """Base class for evaluation code: implement :meth:`eval_step`.

    Its progress is tracked as ``eval_progress``; gradients are disabled while it runs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.eval_progress = Progress()
        self._eval_step_requires_iterator = _step_requires_iterator(self.eval_step)

    def on_eval_start(self, state: State) -> None:
        """Called when an evaluation starts, before the callbacks' hook."""

    def on_eval_epoch_start(self, state: State) -> None:
        """Called when an eval epoch starts (not when resuming mid-epoch)."""

    @abstractmethod
    def eval_step(self, state: State, data: TEvalData) -> Any:
        """Run one evaluation step on ``data``; the return value is the step output."""

    def on_eval_epoch_end(self, state: State) -> None:
        """Called after the eval epoch, once ``eval_progress`` counts it."""

    def on_eval_end(self, state: State) -> None:
        """Called when an evaluation ends, before the callbacks' hook."""

    def on_checkpoint_save(self, state: State, checkpoint_id: str) -> None:
        """Called by checkpointers after a checkpoint was saved at ``checkpoint_id``."""

    def get_next_eval_batch(
        self, state: State, data_iter: Iterator[object]
    ) -> Union[Iterator[TEvalData], TEvalData]:
        """Return the next batch, or the iterator itself if the step takes an iterator."""
        if self._eval_step_requires_iterator:
            return data_iter  # type: ignore[return-value]
        return next(data_iter)  # type: ignore[return-value]


class PredictUnit(AppStateMixin, _OnExceptionMixin, Generic[TPredictData], ABC):
    """Base class for inference code: implement :meth:`predict_step`.

    Its progress is tracked as ``predict_progress``; it runs under inference mode.
    """

    def __init__(self) -> None:
        super().__init__()
        self.predict_progress = Progress()
        self._predict_step_requires_iterator = _step_requires_iterator(self.predict_step)

    def on_predict_start(self, state: State) -> None:
        """Called when prediction starts, before the callbacks' hook."""

    def on_predict_epoch_start(self, state: State) -> None:
        """Called when the predict epoch starts (not when resuming mid-epoch)."""

    @abstractmethod
    def predict_step(self, state: State, data: TPredictData) -> Any:
        """Run one prediction step on ``data``; the return value is the step output."""

    def on_predict_epoch_end(self, state: State) -> None:
        """Called after the predict epoch, once ``predict_progress`` counts it."""

    def on_predict_end(self, state: State) -> None:
        """Called when prediction ends, before the callbacks' hook."""

    def on_checkpoint_save(self, state: State, checkpoint_id: str) -> None:
        """Called by checkpointers after a checkpoint was saved at ``checkpoint_id``."""

    def get_next_predict_batch(
        self, state: State, data_iter: Iterator[object]
    ) -> Union[Iterator[TPredictData], TPredictData]:
        """Return the next batch, or the iterator itself if the step takes an iterator."""
        if self._predict_step_requires_iterator:
            return data_iter  # type: ignore[return-value]
        return next(data_iter)  # type: ignore[return-value]


TTrainUnit = TrainUnit[TTrainData]
TEvalUnit = EvalUnit[TEvalData]
TPredictUnit = PredictUnit[TPredictData]
