"""Pieces shared by AutoUnit and AutoPredictUnit: their parameter records, and the mixin
that owns the device, precision and batch prefetching.

Users import these names from :mod:`torchtnt.framework.auto_unit`.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
from dataclasses import dataclass
from typing import (
    Any,
    ContextManager,
    Dict,
    Generic,
    Iterator,
    List,
    Literal,
    Optional,
    TypeVar,
    Union,
)

import torch
import torch.autograd.profiler as _autograd_profiler

from torchtnt.framework.state import ActivePhase, State
from torchtnt.framework.utils import get_timing_context
from torchtnt.utils.device import copy_data_to_device
from torchtnt.utils.env import init_from_env
from torchtnt.utils.precision import convert_precision_str_to_dtype
from torchtnt.utils.prepare_module import (
    Strategy,
    TorchCompileParams,
    TPStrategy,
    _check_params_types,
)

TData = TypeVar("TData")

# The same logger as auto_unit's, so records read the same wherever they come from.
logger: logging.Logger = logging.getLogger("torchtnt.framework.auto_unit")

_NULL: ContextManager[None] = contextlib.nullcontext()
_NOT_FETCHED = object()  # sentinel: no batch stored yet for a phase


@dataclass
class SWALRParams:
    """Learning-rate schedule (``torch.optim.swa_utils.SWALR``) used once averaging starts.

    Attributes:
        anneal_steps_or_epochs: length of the annealing towards ``swa_lrs``.
        anneal_strategy: ``"linear"`` or ``"cos"``.
        swa_lrs: the target learning rate, one per param group or one for all.
    """

    anneal_steps_or_epochs: int
    anneal_strategy: str = "linear"
    swa_lrs: Union[List[float], float] = 0.05


@dataclass
class SWAParams:
    """Stochastic weight averaging / exponential moving average of the model's weights.

    Whether the numbers count steps or epochs follows the AutoUnit's ``step_lr_interval``.

    Attributes:
        warmup_steps_or_epochs: no averaging before this many steps/epochs.
        step_or_epoch_update_freq: average every this many steps/epochs after the warm-up.
        use_buffers: average buffers (e.g. BatchNorm statistics) too.
        averaging_method: ``"ema"`` or ``"swa"``.
        ema_decay: EMA decay in [0, 1].
        use_lit: warm the EMA decay up (see :class:`torchtnt.utils.swa.AveragedModel`).
        swalr_params: switch to an SWA learning-rate schedule after the warm-up.
    """

    warmup_steps_or_epochs: int
    step_or_epoch_update_freq: int
    use_buffers: bool = True
    averaging_method: Literal["ema", "swa"] = "ema"
    ema_decay: float = 0.999
    use_lit: bool = False
    swalr_params: Optional[SWALRParams] = None


@dataclass
class TrainStepResults:
    """What ``on_train_step_end`` receives about a train step.

    Attributes:
        loss: the loss, already divided by ``gradient_accumulation_steps``.
        total_grad_norm: the gradient norm before clipping when ``clip_grad_norm`` is set and
            the weights were updated in this step, else None.
        outputs: the second value returned by ``compute_loss``.
    """

    loss: torch.Tensor
    total_grad_norm: Optional[torch.Tensor]
    outputs: Any


def _region(state: State, unit: object, suffix: str) -> ContextManager[Any]:
    """The timing/profiling region ``<UnitClass>.<suffix>``, or a null context when neither a
    timer nor the profiler is on (the common case pays no timing cost)."""
    if state.timer is None and not _autograd_profiler._is_profiler_enabled:
        return _NULL
    return get_timing_context(state, f"{type(unit).__name__}.{suffix}")


def _resolve_device(device: Optional[Union[torch.device, str, int]]) -> torch.device:
    """``device``, or this process's device from the environment when None; a name such as
    ``"cuda:1"`` (or a CUDA index) is accepted too."""
    if device is None:
        return init_from_env()
    if isinstance(device, torch.device):
        return device
    if isinstance(device, (str, int)) and not isinstance(device, bool):
        try:
            return torch.device(device)
        except RuntimeError as err:
            raise ValueError(f"device={device!r} is invalid: {err}") from None
    raise TypeError(f"device={device!r} is invalid: expected a torch.device, a name or None")


def _resolve_precision(precision: Optional[Union[str, torch.dtype]]) -> Optional[torch.dtype]:
    if precision is None or isinstance(precision, torch.dtype):
        return precision
    if isinstance(precision, str):
        return convert_precision_str_to_dtype(precision)
    raise TypeError(
        f"precision={precision!r} is invalid: expected None, 'fp32', 'fp16', 'bf16' or a "
        "torch.dtype"
    )


def _make_autocast(device: torch.device, precision: Optional[torch.dtype]) -> torch.autocast:
    # float32 "autocast" means full precision: keep the context disabled instead of letting
    # torch warn about an unsupported autocast dtype.
    enabled = precision is not None and precision != torch.float32
    context = torch.autocast(device_type=device.type, dtype=precision, enabled=enabled)
    if enabled and not getattr(context, "_enabled", True):
        raise ValueError(
            f"precision={precision} is not supported by autocast on device {device}: use "
            "'bf16', 'fp16' or 'fp32' on a device that supports it"
        )
    return context


def _move_flat_batch(
    data: Any, device: torch.device, non_blocking: bool, stream: Optional[torch.cuda.Stream]
) -> Any:
    """Fast path of ``copy_data_to_device`` for the most common batches: a tensor, or a plain
    tuple/list of tensors. Returns None for anything else (the general path handles it)."""
    kind = type(data)
    if kind is torch.Tensor:
        moved_tensor = data.to(device, non_blocking=non_blocking)
        if stream is not None:
            moved_tensor.record_stream(stream)
        return moved_tensor
    if kind is not tuple and kind is not list:
        return None
    moved = []  # a plain loop: a comprehension would cost a frame per batch
    for x in data:
        if type(x) is not torch.Tensor:
            return None
        moved.append(x.to(device, non_blocking=non_blocking))
    if stream is not None:
        for x in moved:
            x.record_stream(stream)
    return moved if kind is list else tuple(moved)


class _AutoUnitMixin(Generic[TData]):
    """What AutoUnit and AutoPredictUnit share: device, precision, anomaly mode and moving
    (optionally prefetching) batches to the device."""

    def __init__(
        self,
        *,
        module: torch.nn.Module,
        device: Optional[torch.device] = None,
        precision: Optional[Union[str, torch.dtype]] = None,
        detect_anomaly: Optional[bool] = None,
        torch_compile_params: Optional[TorchCompileParams] = None,
        enable_prefetch: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"module={module!r} is invalid: expected a torch.nn.Module")
        _check_params_types(torch_compile_params, None)
        self.device: torch.device = _resolve_device(device)
        self.precision: Optional[torch.dtype] = _resolve_precision(precision)
        self.detect_anomaly = detect_anomaly
        if torch_compile_params is not None and not torch_compile_params.disable:
            if detect_anomaly is not None:
                logger.warning(
                    "detect_anomaly is not supported together with torch.compile: ignoring "
                    f"detect_anomaly={detect_anomaly}"
                )
            self.detect_anomaly = None
        self.maybe_autocast_precision = _make_autocast(self.device, self.precision)
        self._use_autocast: bool = self.precision is not None and self.precision != torch.float32

        self._enable_prefetch = enable_prefetch
        if self.device.type == "cuda" and enable_prefetch:
            self._default_stream: Optional[torch.cuda.Stream] = torch.cuda.current_stream()
            self._prefetch_stream: Optional[torch.cuda.Stream] = torch.cuda.Stream()
        else:
            self._default_stream = None
            self._prefetch_stream = None
        self._phase_to_next_batch: Dict[ActivePhase, Optional[TData]] = {}
        self._phase_to_prefetched: Dict[ActivePhase, bool] = {}
        # The epoch in which a phase's iterator ran out (its stored batch is None).
        self._phase_to_end_epoch: Dict[ActivePhase, int] = {}
        # The dataloader each phase's read-ahead came from.
        self._phase_to_source: Dict[ActivePhase, Any] = {}
        self._is_last_batch = False

    def move_data_to_device(self, state: State, data: TData, non_blocking: bool) -> TData:
        """Move a batch to ``self.device``; override for batches ``copy_data_to_device`` cannot
        handle.

        Args:
            state: the run state.
            data: the batch.
            non_blocking: whether the copy may be asynchronous (CUDA).
        """
        moved = _move_flat_batch(data, self.device, non_blocking, self._default_stream)
        if moved is not None:
            return moved
        return copy_data_to_device(
            data, self.device, non_blocking=non_blocking, stream_to_record=self._default_stream
        )

    def _batch_for_step(
        self, state: State, data_iter: Iterator[Any], step_takes_iterator: bool
    ) -> Any:
        """The iterator itself for a step that takes one, else the next batch on the device."""
        if step_takes_iterator:
            return data_iter
        return self._get_next_batch(state, data_iter)

    def _get_next_batch(self, state: State, data_iter: Iterator[TData]) -> TData:
        """Return the next batch on the device; with prefetching, also start fetching the one
        after it. Raises StopIteration when the data is exhausted."""
        if not self._enable_prefetch:
            batch = self._next_from(state, data_iter)
            return self.move_data_to_device(state, batch, non_blocking=True)

        # Private attributes on this per-step path: property calls add up (see bench/).
        phase = state._active_phase
        # A stored entry means "prefetched"; _phase_to_prefetched mirrors it for inspection.
        batch = self._phase_to_next_batch.get(phase, _NOT_FETCHED)
        if batch is _NOT_FETCHED:
            self._prefetch_next_batch(state, data_iter, phase, first=True)
            batch = self._phase_to_next_batch[phase]
        if self._prefetch_stream is not None:
            with _region(state, self, "wait_stream"):
                torch.cuda.current_stream().wait_stream(self._prefetch_stream)
        if batch is None:
            # The iterator is exhausted; the next epoch starts prefetching afresh.
            stale = self._read_ahead_is_stale_end(phase)
            self._forget_read_ahead(phase)
            if not stale:
                raise StopIteration
            # The end was read ahead while the last epoch stopped on a step limit: it
            # belongs to that epoch's iterator, not to this one (which would otherwise
            # yield an empty epoch).
            return self._get_next_batch(state, data_iter)
        self._prefetch_next_batch(state, data_iter, phase, first=False)
        return batch

    def _forget_read_ahead(self, phase: ActivePhase) -> None:
        del self._phase_to_next_batch[phase]
        self._phase_to_prefetched[phase] = False
        self._phase_to_end_epoch.pop(phase, None)
        if phase == ActivePhase.TRAIN:
            self._is_last_batch = False

    def _read_ahead_is_stale_end(self, phase: ActivePhase) -> bool:
        """True if what ``phase`` read ahead is the end of an earlier epoch's data."""
        ended_in = self._phase_to_end_epoch.get(phase)
        return ended_in is not None and ended_in < self._epochs_completed(phase)

    def on_train_start(self, state: State) -> None:
        """Drop a batch read ahead from another dataloader. Overrides should call super()."""
        self._start_phase(state)

    def on_eval_start(self, state: State) -> None:
        """Drop a batch read ahead from another dataloader. Overrides should call super()."""
        self._start_phase(state)

    def on_predict_start(self, state: State) -> None:
        """Drop a batch read ahead from another dataloader. Overrides should call super()."""
        self._start_phase(state)

    def _start_phase(self, state: State) -> None:
        # A batch read ahead when the last epoch stopped on a step limit opens the phase's
        # next epoch; but not when this run reads another dataloader (e.g. evaluate() on
        # the test set after evaluate() on the validation set), whose data it is not.
        phase = state._active_phase
        if phase not in self._phase_to_next_batch:
            return
        if self._phase_to_source.get(phase) is not state.active_phase_state().dataloader:
            self._forget_read_ahead(phase)

    def _epochs_completed(self, phase: ActivePhase) -> int:
        progress = getattr(self, f"{phase}_progress", None)
        return progress.num_epochs_completed if progress is not None else 0

    def _holds_prefetched_batch(self, phase: ActivePhase) -> bool:
        """Whether the next fetch of ``phase`` returns what was read ahead (a batch, or the
        end of the current epoch's data) instead of reading two batches."""
        return self._phase_to_prefetched.get(phase, False) and not self._read_ahead_is_stale_end(
            phase
        )

    def _next_from(self, state: State, data_iter: Iterator[TData]) -> TData:
        if state._timer is None and not _autograd_profiler._is_profiler_enabled:
            return next(data_iter)
        with _region(state, self, f"{state.active_phase.name.lower()}.next(data_iter)"):
            return next(data_iter)

    def _prefetch_next_batch(
        self, state: State, data_iter: Iterator[TData], phase: ActivePhase, first: bool
    ) -> None:
        """Fetch the following batch and start moving it to the device (on the prefetch
        stream on CUDA); remember None when the iterator is exhausted. ``first`` is True when
        the phase had nothing prefetched yet."""
        if first:
            self._phase_to_prefetched[phase] = True
            self._phase_to_source[phase] = state.active_phase_state().dataloader
        untimed = state._timer is None and not _autograd_profiler._is_profiler_enabled
        try:
            next_batch = next(data_iter) if untimed else self._next_from(state, data_iter)
        except StopIteration:
            self._phase_to_next_batch[phase] = None
            self._phase_to_end_epoch[phase] = self._epochs_completed(phase)
            if phase == ActivePhase.TRAIN:  # the flag drives gradient accumulation only
                self._is_last_batch = True
            return
        prefetch_stream = self._prefetch_stream
        if untimed:
            if prefetch_stream is None:  # CPU: the "prefetch" is synchronous
                self._phase_to_next_batch[phase] = self.move_data_to_device(
                    state, next_batch, False
                )
                return
            region: ContextManager[Any] = _NULL
        else:
            region = _region(state, self, f"{phase.name.lower()}.move_data_to_device")
        non_blocking = self.device.type == "cuda" and not first
        with region:
            if prefetch_stream is not None:
                with torch.cuda.stream(prefetch_stream):
                    next_batch = self.move_data_to_device(state, next_batch, non_blocking)
            else:
                next_batch = self.move_data_to_device(state, next_batch, non_blocking)
        self._phase_to_next_batch[phase] = next_batch

    def _anomaly_context(self) -> ContextManager[Any]:
        if self.detect_anomaly is None:
            return _NULL
        return torch.autograd.set_detect_anomaly(self.detect_anomaly)


def _validate_auto_unit_args(
    *,
    strategy: Optional[Union[Strategy, str]],
    step_lr_interval: str,
    gradient_accumulation_steps: int,
    clip_grad_norm: Optional[float],
    clip_grad_value: Optional[float],
    swa_params: Optional[SWAParams],
    enable_loss_parallel: bool,
) -> None:
    if isinstance(gradient_accumulation_steps, bool) or not isinstance(
        gradient_accumulation_steps, numbers.Integral
    ):
        raise TypeError(
            f"gradient_accumulation_steps={gradient_accumulation_steps!r} is invalid: expected "
            "an int > 0"
        )
    if gradient_accumulation_steps <= 0:
        raise ValueError(
            f"gradient_accumulation_steps must be > 0. Got {gradient_accumulation_steps}"
        )
    if step_lr_interval not in ("step", "epoch"):
        raise ValueError(
            f"step_lr_interval={step_lr_interval!r} is invalid: expected 'step' or 'epoch'"
        )
    for name, value in (("clip_grad_norm", clip_grad_norm), ("clip_grad_value", clip_grad_value)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name}={value!r} is invalid: expected a number >= 0 or None")
        # 0 turns clipping off, as in TorchTNT (which tests the value's truth).
        if not value >= 0:
            raise ValueError(
                f"{name}={value} is invalid: expected a number >= 0 (0 or None: no clipping)"
            )
    if swa_params is not None and not isinstance(swa_params, SWAParams):
        raise TypeError(f"swa_params={swa_params!r} is invalid: expected a SWAParams or None")
    if swa_params is not None:
        if swa_params.warmup_steps_or_epochs < 0:
            raise ValueError(
                f"swa_params.warmup_steps_or_epochs={swa_params.warmup_steps_or_epochs} is "
                "invalid: expected an int >= 0"
            )
        if swa_params.step_or_epoch_update_freq < 1:
            raise ValueError(
                f"swa_params.step_or_epoch_update_freq={swa_params.step_or_epoch_update_freq} "
                "is invalid: expected an int >= 1"
            )
    if enable_loss_parallel and not isinstance(strategy, TPStrategy):
        raise ValueError("enable_loss_parallel is only supported with TPStrategy")
