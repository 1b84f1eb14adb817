"""AutoUnit and AutoPredictUnit: units that write the training step for you.

Subclasses of :class:`AutoUnit` implement two methods, ``compute_loss`` (the forward pass and
the loss) and ``configure_optimizers_and_lr_scheduler``; the unit does the rest of a step:
moving (and prefetching) batches to the device, autocast, gradient accumulation with
gradient sync skipped on non-final micro-steps, loss scaling for fp16, gradient clipping, the
optimizer and LR-scheduler steps, and weight averaging (SWA/EMA). The module is prepared
(device move, DDP/FSDP/FSDP2/TP, activation checkpointing, ``torch.compile``) by
:func:`torchtnt.utils.prepare_module.prepare_module`.

The per-step path does only what the configuration asks for: timing regions are entered only
when the run has a timer or the PyTorch profiler is on, and context managers that would be
no-ops (autocast for fp32, anomaly mode, loss parallel, compiled autograd) are skipped.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from abc import ABCMeta, abstractmethod
from typing import (
    Any,
    Callable,
    ContextManager,
    Iterator,
    Literal,
    Optional,
    Tuple,
    Union,
)

import torch
import torch.autograd.profiler as _autograd_profiler
from torch.nn.parallel import DistributedDataParallel as DDP

from torchtnt.framework.state import EntryPoint, State
from torchtnt.framework.unit import EvalUnit, PredictUnit, TrainUnit
from torchtnt.utils.lr_scheduler import TLRScheduler
from torchtnt.utils.precision import (
    get_grad_scaler_from_precision,
)
from torchtnt.utils.prepare_module import (
    ActivationCheckpointParams,
    FSDP2Strategy,
    FSDPStrategy,
    Strategy,
    TorchCompileParams,
    _fsdp_namespace,
    _is_fsdp1_module,
    _is_fsdp2_module,
    convert_str_to_strategy,
    prepare_fsdp,
    prepare_fsdp2,
    prepare_module,
)
from torchtnt.utils.swa import AveragedModel

__all__ = ["AutoPredictUnit", "AutoUnit", "SWALRParams", "SWAParams", "TrainStepResults"]

logger: logging.Logger = logging.getLogger(__name__)

from torchtnt.framework._auto_unit_base import (  # noqa: E402  (re-exported public names)
    _NULL,
    SWALRParams,
    SWAParams,
    TData,
    TrainStepResults,
    _AutoUnitMixin,
    _region,
    _validate_auto_unit_args,
)


class AutoPredictUnit(_AutoUnitMixin[TData], PredictUnit[TData]):
    """A predict unit that runs ``self.module(batch)`` for you.

    Batches are moved to the device (and optionally prefetched); the forward pass runs under
    autocast for ``precision``. Override :meth:`on_predict_step_end` to collect outputs.

    Args:
        module: the model; it is prepared with ``prepare_module`` and stored as ``module``.
        device: the device (or its name); defaults to ``init_from_env()``.
        strategy: a Strategy or one of "ddp", "fsdp", "fsdp2", "noop".
        precision: "fp32", "fp16", "bf16" or a torch dtype (autocast).
        torch_compile_params: compile the module with these settings.
        detect_anomaly: run the forward pass under ``torch.autograd.set_detect_anomaly``.
        enable_prefetch: fetch and move the next batch while the current one is processed.
        global_mesh: device mesh for FSDP2 / tensor parallelism.

    Raises:
        ValueError: for an unknown precision or strategy string, or invalid strategy settings.
    """

    def __init__(
        self,
        *,
        module: torch.nn.Module,
        device: Optional[torch.device] = None,
        strategy: Optional[Union[Strategy, str]] = None,
        precision: Optional[Union[str, torch.dtype]] = None,
        torch_compile_params: Optional[TorchCompileParams] = None,
        detect_anomaly: Optional[bool] = None,
        enable_prefetch: bool = False,
        global_mesh: Optional[Any] = None,
    ) -> None:
        super().__init__(
            module=module,
            device=device,
            precision=precision,
            detect_anomaly=detect_anomaly,
            torch_compile_params=torch_compile_params,
            enable_prefetch=enable_prefetch,
        )
        self.module: torch.nn.Module = prepare_module(
            module,
            self.device,
            strategy=strategy,
            torch_compile_params=torch_compile_params,
            global_mesh=global_mesh,
        )

    def predict_step(self, state: State, data: TData) -> Any:
        """Run the module on the batch (passed as one positional argument) and return its
        outputs, after calling :meth:`on_predict_step_end`."""
        with self._anomaly_context(), _region(state, self, "forward"):
            if self._use_autocast:
                with self.maybe_autocast_precision:
                    outputs = self.module(data)
            else:
                outputs = self.module(data)
        self.on_predict_step_end(state, data, self.predict_progress.num_steps_completed, outputs)
        return outputs

    def on_predict_step_end(self, state: State, data: TData, step: int, outputs: Any) -> None:
        """Called after every predict step; ``step`` is the 0-based index of this step."""

    def get_next_predict_batch(
        self, state: State, data_iter: Iterator[object]
    ) -> Union[Iterator[TData], TData]:
        """The next batch moved to the device, or the iterator itself if ``predict_step``
        takes an iterator."""
        return self._batch_for_step(state, data_iter, self._predict_step_requires_iterator)


class _ConfigureOptimizersCaller(ABCMeta):
    """Builds the optimizer and LR scheduler once the *whole* constructor has run, including
    the subclass's ``__init__``, so ``configure_optimizers_and_lr_scheduler`` may use
    attributes the subclass sets and sees the prepared module."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        unit = super().__call__(*args, **kwargs)
        unit._configure_optimizers()
        return unit


class AutoUnit(
    _AutoUnitMixin[TData],
    TrainUnit[TData],
    EvalUnit[TData],
    PredictUnit[TData],
    metaclass=_ConfigureOptimizersCaller,
):
    """A unit for train / evaluate / predict / fit that writes the step for you.

    Implement :meth:`compute_loss` and :meth:`configure_optimizers_and_lr_scheduler`. A train
    step runs ``compute_loss`` under autocast, divides the loss by
    ``gradient_accumulation_steps`` and back-propagates it (scaled for fp16); every
    ``gradient_accumulation_steps`` micro-steps (and on the last batch of an epoch when
    prefetching) it unscales, clips, steps the optimizer, zeroes the gradients and steps the
    LR scheduler (``step_lr_interval="step"``; otherwise at epoch end). Non-final micro-steps
    skip gradient synchronization (DDP/FSDP1 ``no_sync``, FSDP2
    ``set_requires_gradient_sync(False)``).

    The optimizer and scheduler are created after the subclass's ``__init__`` returns, on the
    prepared module, and tracked as ``"optimizer"`` / ``"lr_scheduler"``; the module is
    tracked as ``"module"``.

    Args:
        module: the model; prepared with ``prepare_module`` and stored as ``module``.
        device: the device; defaults to ``init_from_env()``.
        strategy: a Strategy or one of "ddp", "fsdp", "fsdp2", "noop".
        step_lr_interval: step the LR scheduler (and count SWA) per "step" or per "epoch".
        precision: "fp32", "fp16" (with a GradScaler), "bf16" or a torch dtype.
        gradient_accumulation_steps: micro-batches per optimizer step (>= 1).
        detect_anomaly: run forward and backward under ``set_detect_anomaly``; when True, a
            non-finite loss or an anomaly in backward raises an error naming the step.
        clip_grad_norm: clip the total gradient norm to this value (0 or None: no clipping).
        clip_grad_value: clip each gradient element to ``[-value, value]`` (0 or None: no
            clipping).
        swa_params: keep a weight average (SWA or EMA) in ``swa_model``.
        torch_compile_params: compile the module with these settings.
        activation_checkpoint_params: apply activation checkpointing.
        training: if False, no optimizer, scheduler or weight average are created.
        enable_compiled_autograd: compile the backward pass too.
        loss_backward_retain_graph: ``retain_graph`` of the backward call.
        enable_prefetch: fetch and move the next batch while the current step runs.
        zero_grad_at_train_step_start: zero gradients at the start of the step following an
            update instead of right after the optimizer step (keeps them inspectable).
        global_mesh: device mesh for FSDP2 / tensor parallelism.
        enable_loss_parallel: compute the loss under tensor-parallel ``loss_parallel``.

    Raises:
        TypeError: for an argument of the wrong type (e.g. a ``module`` that is not an
            ``nn.Module``, a non-int ``gradient_accumulation_steps``); the message names it.
        ValueError: for invalid arguments (each message names the argument and the accepted
            values), e.g. ``gradient_accumulation_steps <= 0``, an unknown precision or
            strategy string, negative clip values, ``enable_loss_parallel`` without
            TPStrategy.
        RuntimeError: for a distributed strategy without an initialized process group.
    """

    def __init__(
        self,
        *,
        module: torch.nn.Module,
        device: Optional[torch.device] = None,
        strategy: Optional[Union[Strategy, str]] = None,
        step_lr_interval: Literal["step", "epoch"] = "epoch",
        precision: Optional[Union[str, torch.dtype]] = None,
        gradient_accumulation_steps: int = 1,
        detect_anomaly: Optional[bool] = None,
        clip_grad_norm: Optional[float] = None,
        clip_grad_value: Optional[float] = None,
        swa_params: Optional[SWAParams] = None,
        torch_compile_params: Optional[TorchCompileParams] = None,
        activation_checkpoint_params: Optional[ActivationCheckpointParams] = None,
        training: bool = True,
        enable_compiled_autograd: bool = False,
        loss_backward_retain_graph: Optional[bool] = None,
        enable_prefetch: bool = True,
        zero_grad_at_train_step_start: bool = False,
        global_mesh: Optional[Any] = None,
        enable_loss_parallel: bool = False,
    ) -> None:
        super().__init__(
            module=module,
            device=device,
            precision=precision,
            detect_anomaly=detect_anomaly,
            torch_compile_params=torch_compile_params,
            enable_prefetch=enable_prefetch,
        )
        _validate_auto_unit_args(
            strategy=strategy,
            step_lr_interval=step_lr_interval,
            gradient_accumulation_steps=gradient_accumulation_steps,
            clip_grad_norm=clip_grad_norm,
            clip_grad_value=clip_grad_value,
            swa_params=swa_params,
            enable_loss_parallel=enable_loss_parallel,
        )

        self.swa_params = swa_params
        if swa_params is not None and training and step_lr_interval == "step":
            _warn_if_average_never_updates(swa_params, gradient_accumulation_steps)
        self.swa_model: Optional[AveragedModel] = None
        if swa_params is not None and training:
            self.swa_model = self._build_swa_model(module, strategy, swa_params, global_mesh)

        self.module: torch.nn.Module = prepare_module(
            module,
            self.device,
            strategy=strategy,
            torch_compile_params=torch_compile_params,
            activation_checkpoint_params=activation_checkpoint_params,
            enable_compiled_autograd=enable_compiled_autograd,
            global_mesh=global_mesh,
        )

        self.grad_scaler: Optional[Any] = None
        if self.precision:
            # FSDP2 shards gradients too: only the sharded scaler makes every rank agree on
            # skipping a step whose gradients overflowed somewhere (TorchTNT: FSDP1 only).
            sharded = _is_fsdp1_module(self.module) or _is_fsdp2_module(self.module)
            self.grad_scaler = get_grad_scaler_from_precision(
                self.precision, is_fsdp1_module=sharded
            )

        self.step_lr_interval = step_lr_interval
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.clip_grad_norm = clip_grad_norm
        self.clip_grad_value = clip_grad_value
        self.enable_compiled_autograd = enable_compiled_autograd
        self.training = training
        self.loss_backward_retain_graph = loss_backward_retain_graph
        self.zero_grad_at_train_step_start = zero_grad_at_train_step_start
        self.optimizer: Optional[torch.optim.Optimizer] = None
        self.lr_scheduler: Optional[TLRScheduler] = None
        self.swa_scheduler: Optional[TLRScheduler] = None
        self._weight_updated_in_prev_step = False

        self.enable_loss_parallel = enable_loss_parallel
        if enable_loss_parallel:
            from torch.distributed.tensor.parallel import loss_parallel

            self.maybe_loss_parallel: Callable[[], ContextManager[Any]] = loss_parallel
        else:
            self.maybe_loss_parallel = contextlib.nullcontext

    # -- construction helpers ---------------------------------------------------------------

    def _build_swa_model(
        self,
        module: torch.nn.Module,
        strategy: Optional[Union[Strategy, str]],
        swa_params: SWAParams,
        global_mesh: Optional[Any],
    ) -> AveragedModel:
        # The average is taken from the module before it is wrapped, so its state-dict keys
        # are the plain ones. Sharded training needs a copy sharded the same way, so that
        # each rank averages its own shards (a name such as "fsdp" counts as its strategy).
        if isinstance(strategy, str):
            strategy = convert_str_to_strategy(strategy)
        skip_deepcopy = False
        module_for_swa = module
        if isinstance(strategy, FSDPStrategy):
            module_for_swa = prepare_fsdp(copy.deepcopy(module), self.device, strategy)
            skip_deepcopy = True
        elif isinstance(strategy, FSDP2Strategy):
            module_for_swa = prepare_fsdp2(
                copy.deepcopy(module), self.device, strategy, global_mesh=global_mesh
            )
            skip_deepcopy = True
        return AveragedModel(
            module_for_swa,
            device=self.device,
            use_buffers=swa_params.use_buffers,
            averaging_method=swa_params.averaging_method,
            ema_decay=swa_params.ema_decay,
            skip_deepcopy=skip_deepcopy,
            use_lit=swa_params.use_lit,
        )

    def _configure_optimizers(self) -> None:
        """Post-init step run by the metaclass: create optimizer, scheduler and SWALR."""
        self.optimizer = None
        self.lr_scheduler = None
        self.swa_scheduler = None
        if not self.training:
            return
        self.optimizer, self.lr_scheduler = self.configure_optimizers_and_lr_scheduler(self.module)
        swalr_params = self.swa_params.swalr_params if self.swa_params is not None else None
        if swalr_params is not None:
            from torch.optim.swa_utils import SWALR

            self.swa_scheduler = SWALR(
                optimizer=self.optimizer,
                swa_lr=swalr_params.swa_lrs,
                anneal_epochs=swalr_params.anneal_steps_or_epochs,
                anneal_strategy=swalr_params.anneal_strategy,  # type: ignore[arg-type]
            )

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, torch.nn.Module):
            self._check_module_assignment(name, value)
        super().__setattr__(name, value)

    def _check_module_assignment(self, name: str, value: torch.nn.Module) -> None:
        tracked = self.__dict__.get("_modules")
        current = tracked.get("module") if tracked is not None else None
        if current is None:
            return
        if name == "module":
            logger.warning(
                "self.module is the prepared (device-moved / wrapped) module managed by "
                "AutoUnit; reassigning it is allowed but bypasses prepare_module"
            )
            return
        inner = current.module if isinstance(current, DDP) or _is_fsdp1_root(current) else None
        if value is current or (inner is not None and value is inner):
            logger.error(
                f"self.{name} is the same object as self.module: assigning the managed module "
                "to another attribute tracks it twice (e.g. it is saved twice in checkpoints); "
                "use self.module instead"
            )

    # -- user-implemented -------------------------------------------------------------------

    @abstractmethod
    def configure_optimizers_and_lr_scheduler(
        self, module: torch.nn.Module
    ) -> Tuple[torch.optim.Optimizer, Optional[TLRScheduler]]:
        """Return the optimizer for the prepared ``module`` and an LR scheduler (or None)."""

    @abstractmethod
    def compute_loss(self, state: State, data: TData) -> Tuple[torch.Tensor, Any]:
        """Run the forward pass on a batch and return ``(loss, outputs)``."""

    # -- user hooks -------------------------------------------------------------------------

    def on_train_step_end(
        self, state: State, data: TData, step: int, results: TrainStepResults
    ) -> None:
        """Called at the end of every train step; ``step`` is its 0-based index."""

    def on_eval_step_end(
        self, state: State, data: TData, step: int, loss: torch.Tensor, outputs: Any
    ) -> None:
        """Called after every eval step; ``step`` counts train steps during fit, eval steps
        otherwise (0-based)."""

    def on_predict_step_end(self, state: State, data: TData, step: int, outputs: Any) -> None:
        """Called after every predict step; ``step`` is its 0-based index."""

    # -- batches ----------------------------------------------------------------------------

    def get_next_train_batch(
        self, state: State, data_iter: Iterator[object]
    ) -> Union[Iterator[TData], TData]:
        """The next batch on the device, or the iterator if ``train_step`` takes one."""
        return self._batch_for_step(state, data_iter, self._train_step_requires_iterator)

    def get_next_eval_batch(
        self, state: State, data_iter: Iterator[object]
    ) -> Union[Iterator[TData], TData]:
        """The next batch on the device, or the iterator if ``eval_step`` takes one."""
        return self._batch_for_step(state, data_iter, self._eval_step_requires_iterator)

    def get_next_predict_batch(
        self, state: State, data_iter: Iterator[object]
    ) -> Union[Iterator[TData], TData]:
        """The next batch on the device, or the iterator if ``predict_step`` takes one."""
        return self._batch_for_step(state, data_iter, self._predict_step_requires_iterator)

    # -- train ------------------------------------------------------------------------------

    def train_step(self, state: State, data: TData) -> Tuple[torch.Tensor, Any]:
        """Forward, backward and (on the last micro-step of an accumulation window) the
        weight update. Returns ``(loss, outputs)`` with the loss divided by
        ``gradient_accumulation_steps``."""
        progress = self.train_progress
        accumulation = self.gradient_accumulation_steps
        # Private attributes on this per-step path: property calls add up (see bench/).
        should_update = (
            accumulation == 1
            or self._is_last_batch
            or (progress._num_steps_completed_in_epoch + 1) % accumulation == 0
        )
        if self.zero_grad_at_train_step_start and self._weight_updated_in_prev_step:
            self.zero_grad(state)
            self._weight_updated_in_prev_step = False

        if should_update:
            if accumulation > 1 and _is_fsdp2_module(self.module):
                _set_requires_gradient_sync(self.module, True)
            loss, outputs = self._forward_backward(state, data)
            total_grad_norm = self._update_weights(state)
        else:
            with self._skip_grad_sync(self.module):
                loss, outputs = self._forward_backward(state, data)
            total_grad_norm = None
        on_step_end = self.on_train_step_end
        if getattr(on_step_end, "__func__", None) is not _BASE_ON_TRAIN_STEP_END:
            # overridden or patched (the base hook does nothing: skip building its arguments)
            on_step_end(
                state,
                data,
                progress._num_steps_completed,
                TrainStepResults(loss, total_grad_norm, outputs),
            )
        return loss, outputs

    def _skip_grad_sync(self, module: torch.nn.Module) -> ContextManager[Any]:
        """Turn off gradient synchronization for a non-final micro-step."""
        if isinstance(module, DDP) or _is_fsdp1_root(module):
            return module.no_sync()  # type: ignore[operator]
        if _is_fsdp2_module(module):
            _set_requires_gradient_sync(module, False)
        return _NULL

    def _forward_backward(self, state: State, data: TData) -> Tuple[torch.Tensor, Any]:
        if (
            self.detect_anomaly is None
            and not self.enable_loss_parallel
            and not self.enable_compiled_autograd
            and state._timer is None
            and not _autograd_profiler._is_profiler_enabled
        ):
            # The common configuration, without any (null) context managers.
            if self._use_autocast:
                with self.maybe_autocast_precision:
                    loss, outputs = self.compute_loss(state, data)
            else:
                loss, outputs = self.compute_loss(state, data)
            if self.gradient_accumulation_steps != 1:
                loss = loss / self.gradient_accumulation_steps
            if self.grad_scaler is not None:
                self.grad_scaler.scale(loss).backward(retain_graph=self.loss_backward_retain_graph)
            else:
                loss.backward(retain_graph=self.loss_backward_retain_graph)
            return loss, outputs
        if self.detect_anomaly:
            try:
                with torch.autograd.set_detect_anomaly(True):
                    return self._forward_backward_body(state, data, check_loss=True)
            except RuntimeError as err:
                if isinstance(err, _AnomalyError):
                    raise
                if _BACKWARD_NAN_MESSAGE in str(err):
                    raise _AnomalyError(
                        f"detect_anomaly: anomaly in the backward pass of {self._step_name()}: "
                        f"{err}"
                    ) from err
                # Any other error (a shape bug, an out-of-memory error) keeps its type, so
                # code catching it still does; the note only says where it happened.
                if hasattr(err, "add_note"):  # Python 3.11+
                    err.add_note(f"(raised with detect_anomaly=True in {self._step_name()})")
                raise
        with self._anomaly_context():
            return self._forward_backward_body(state, data, check_loss=False)

    def _step_name(self) -> str:
        progress = self.train_progress
        return (
            f"train step {progress.num_steps_completed} (0-based; epoch "
            f"{progress.num_epochs_completed}, step {progress.num_steps_completed_in_epoch} "
            "in epoch)"
        )

    def _forward_backward_body(
        self, state: State, data: TData, check_loss: bool
    ) -> Tuple[torch.Tensor, Any]:
        loss_parallel = self.maybe_loss_parallel() if self.enable_loss_parallel else _NULL
        with loss_parallel:
            with _region(state, self, "compute_loss"):
                if self._use_autocast:
                    with self.maybe_autocast_precision:
                        loss, outputs = self.compute_loss(state, data)
                else:
                    loss, outputs = self.compute_loss(state, data)
            if check_loss and not bool(torch.isfinite(loss.detach()).all()):
                raise _AnomalyError(
                    f"detect_anomaly: compute_loss returned a non-finite loss ({loss.detach()}) "
                    f"in {self._step_name()}"
                )
            if self.gradient_accumulation_steps != 1:
                loss = loss / self.gradient_accumulation_steps
            with _region(state, self, "backward"), self._compiled_autograd_context():
                scaler = self.grad_scaler
                retain_graph = self.loss_backward_retain_graph
                if scaler is not None:
                    scaler.scale(loss).backward(retain_graph=retain_graph)
                else:
                    loss.backward(retain_graph=retain_graph)
        return loss, outputs

    def _compiled_autograd_context(self) -> ContextManager[Any]:
        if not self.enable_compiled_autograd:
            return _NULL
        try:
            from torch._dynamo.utils import maybe_enable_compiled_autograd
        except ImportError:
            return _NULL
        return maybe_enable_compiled_autograd(True)

    def _update_weights(self, state: State) -> Optional[torch.Tensor]:
        """Unscale, clip, step the optimizer, zero the grads and maybe step the scheduler.
        Returns the total gradient norm if ``clip_grad_norm`` is set."""
        optimizer = self.optimizer
        scaler = self.grad_scaler
        clip_norm = self.clip_grad_norm
        clip_value = self.clip_grad_value
        timed = state._timer is not None or _autograd_profiler._is_profiler_enabled
        if scaler is not None and (clip_norm or clip_value):
            with _region(state, self, "grad_unscale"):
                scaler.unscale_(optimizer)

        total_grad_norm = None
        if clip_norm:
            with _region(state, self, "clip_grad_norm"):
                total_grad_norm = self._clip_grad_norm(self.module, clip_norm)
        if clip_value:
            with _region(state, self, "clip_grad_value"):
                torch.nn.utils.clip_grad_value_(self.module.parameters(), clip_value=clip_value)

        if timed:
            with _region(state, self, "optimizer_step"):
                self._step_optimizer(optimizer, scaler)
        elif scaler is None:
            optimizer.step()  # type: ignore[union-attr]
        else:
            self._step_optimizer(optimizer, scaler)

        if self.zero_grad_at_train_step_start:
            self._weight_updated_in_prev_step = True
        else:
            self.zero_grad(state)
        if self.step_lr_interval == "step":
            self._update_lr_and_swa(state, self.train_progress.num_steps_completed)
        return total_grad_norm

    @staticmethod
    def _step_optimizer(optimizer: Any, scaler: Optional[Any]) -> None:
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    @staticmethod
    def _clip_grad_norm(module: torch.nn.Module, max_norm: float) -> torch.Tensor:
        if _is_fsdp1_root(module):
            total = module.clip_grad_norm_(max_norm=max_norm)  # type: ignore[operator]
        else:
            total = torch.nn.utils.clip_grad_norm_(
                parameters=module.parameters(), max_norm=max_norm
            )
        full_tensor = getattr(total, "full_tensor", None)  # a DTensor under FSDP2 / TP
        return full_tensor() if full_tensor is not None else total

    def zero_grad(self, state: State) -> None:
        """Zero the gradients (``optimizer.zero_grad(set_to_none=True)``); override to
        customize."""
        if state._timer is None and not _autograd_profiler._is_profiler_enabled:
            self.optimizer.zero_grad(set_to_none=True)  # type: ignore[union-attr]
            return
        with _region(state, self, "optimizer_zero_grad"):
            self.optimizer.zero_grad(set_to_none=True)  # type: ignore[union-attr]

    def step_lr_scheduler(self) -> None:
        """Step the LR scheduler; override to pass arguments (e.g. a metric)."""
        self.lr_scheduler.step()  # type: ignore[union-attr]

    def on_train_epoch_end(self, state: State) -> None:
        """Step the LR scheduler / weight average per epoch. Overrides must call super()."""
        if self.step_lr_interval == "epoch":
            self._update_lr_and_swa(state, self.train_progress.num_epochs_completed - 1)
        self._is_last_batch = False

    def _should_update_swa(self) -> bool:
        swa_params = self.swa_params
        if swa_params is None:
            return False
        progress = self.train_progress
        if self.step_lr_interval == "step":
            current = progress.num_steps_completed
        else:
            current = progress.num_epochs_completed - 1
        warmup = swa_params.warmup_steps_or_epochs
        return current >= warmup and (current - warmup) % swa_params.step_or_epoch_update_freq == 0

    def _update_lr_and_swa(self, state: State, number_of_steps_or_epochs: int) -> None:
        if self._should_update_swa():
            with _region(state, self, "stochastic_weight_avg_update"):
                self.swa_model.update_parameters(self.module)  # type: ignore[union-attr]
        swa_scheduler = self.swa_scheduler
        if (
            swa_scheduler is not None
            and self.swa_params is not None
            and number_of_steps_or_epochs >= self.swa_params.warmup_steps_or_epochs
        ):
            with _region(state, self, "swa_lr_scheduler_step"):
                swa_scheduler.step()
        elif self.lr_scheduler is not None:
            with _region(state, self, "lr_scheduler_step"):
                self.step_lr_scheduler()

    # -- evaluate / predict -----------------------------------------------------------------

    def eval_step(self, state: State, data: TData) -> Tuple[torch.Tensor, Any]:
        """Compute the loss on a batch (no backward) and return ``(loss, outputs)``."""
        with _region(state, self, "compute_loss"):
            if self._use_autocast:
                with self.maybe_autocast_precision:
                    loss, outputs = self.compute_loss(state, data)
            else:
                loss, outputs = self.compute_loss(state, data)
        if state.entry_point == EntryPoint.FIT:
            step = self.train_progress.num_steps_completed
        else:
            step = self.eval_progress.num_steps_completed
        self.on_eval_step_end(state, data, step, loss, outputs)
        return loss, outputs

    def predict_step(self, state: State, data: TData) -> Any:
        """Run ``self.module(data)`` and return the outputs."""
        with _region(state, self, "forward"):
            if self._use_autocast:
                with self.maybe_autocast_precision:
                    outputs = self.module(data)
            else:
                outputs = self.module(data)
        with _region(state, self, "on_predict_step_end"):
            self.on_predict_step_end(
                state, data, self.predict_progress.num_steps_completed, outputs
            )
        return outputs


def _warn_if_average_never_updates(swa_params: SWAParams, accumulation: int) -> None:
    """Warn when per-step weight averaging can never fire under gradient accumulation.

    The average is updated after optimizer steps whose 0-based step count ``c`` satisfies
    ``c >= warmup and (c - warmup) % freq == 0``; with accumulation those counts are
    ``k * accumulation - 1``, and for some settings none of them qualifies.
    """
    warmup, freq = swa_params.warmup_steps_or_epochs, swa_params.step_or_epoch_update_freq
    if accumulation == 1 or any(
        (k * accumulation - 1 - warmup) % freq == 0 for k in range(1, freq + 1)
    ):
        return
    logger.warning(
        f"swa_params.step_or_epoch_update_freq={freq} with warmup_steps_or_epochs={warmup} "
        f"and gradient_accumulation_steps={accumulation}: the weight average is updated only "
        f"after optimizer steps, whose 0-based step counts are {accumulation - 1}, "
        f"{2 * accumulation - 1}, ...; none of them minus {warmup} is a multiple of {freq}, so "
        "swa_model would never be updated (only an epoch's last, incomplete accumulation "
        "could). Pick a frequency or warmup that lines up with the optimizer steps."
    )


class _AnomalyError(RuntimeError):
    """Raised by ``detect_anomaly=True`` with the failing step named in the message."""


# What autograd's anomaly mode says when a backward function produced NaN.
_BACKWARD_NAN_MESSAGE = "returned nan values"


# The hook as defined here, kept aside so that a patched class attribute (a test's mock)
# still counts as an override.
_BASE_ON_TRAIN_STEP_END = AutoUnit.on_train_step_end


def _set_requires_gradient_sync(module: torch.nn.Module, requires: bool) -> None:
    """Turn FSDP2 gradient reduction on or off for ``module``: through the root when it was
    sharded itself (the call recurses), else on each sharded submodule."""
    setter = getattr(module, "set_requires_gradient_sync", None)
    if callable(setter):
        setter(requires)
        return
    for submodule in module.modules():
        setter = getattr(submodule, "set_requires_gradient_sync", None)
        if callable(setter):
            setter(requires, recurse=False)


def _is_fsdp1_root(module: torch.nn.Module) -> bool:
    fsdp = _fsdp_namespace()
    return fsdp is not None and isinstance(module, fsdp.FullyShardedDataParallel)
