"""The loop engine: one epoch/step loop runs the train, eval and predict phases.

A phase is described by a small record (:class:`_Phase`): which unit methods are its step and
batch fetch, which hooks fire, which progress counts it. ``train()``, ``evaluate()``,
``predict()`` and ``fit()`` all run through :func:`run_phase`.

Per step the engine fetches a batch, calls the step, bumps the progress counter, calls the
callbacks subscribed to the step hooks and compares integers. Timers and profiler labels on the
fetch are paid only when a timer was passed or the PyTorch profiler is running.
"""

import logging
import math
from contextlib import nullcontext
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Callable, ContextManager, Iterator, Optional, Tuple

import torch
import torch.autograd.profiler as _autograd_profiler

from torchtnt.framework._callback_handler import CallbackHandler
from torchtnt.framework._loop_utils import (
    RESUME_INSIDE_EVAL_ATTR,
    _is_done,
    _maybe_set_distributed_sampler_epoch,
    _reason_epoch_completed,
    _reset_module_training_mode,
    _set_module_training_mode,
)
from torchtnt.framework.state import ActivePhase, EntryPoint, PhaseState, State
from torchtnt.framework.unit import EvalUnit, PredictUnit, TrainUnit
from torchtnt.framework.utils import get_timing_context
from torchtnt.utils.progress import Progress
from torchtnt.utils.timer import get_timer_summary

_log: logging.Logger = logging.getLogger(__name__)

Hooks = Tuple[Callable[..., None], ...]


@dataclass(frozen=True)
class _Phase:
    """What distinguishes one phase from another; the loop itself is shared."""

    active: ActivePhase
    name: str  # infix of hook and method names: train / eval / predict
    timer_name: str  # prefix of timed regions: train / evaluate / predict
    training: bool  # module mode while the phase runs
    multi_epoch: bool  # train loops over epochs; eval and predict run one
    time_unit_start_hooks: bool  # predict times the unit's own start hooks
    set_sampler_epoch: bool

    def hook(self, event: str) -> str:
        return f"on_{self.name}_{event}"

    @property
    def progress_attr(self) -> str:
        return f"{self.name}_progress"

    @property
    def state_attr(self) -> str:
        return f"{self.name}_state"


TRAIN = _Phase(ActivePhase.TRAIN, "train", "train", True, True, False, True)
EVAL = _Phase(ActivePhase.EVALUATE, "eval", "evaluate", False, False, False, False)
PREDICT = _Phase(ActivePhase.PREDICT, "predict", "predict", False, False, True, False)


# The base classes' batch fetchers, captured at import so a patched class method is noticed.
_BASE_FETCHERS = {
    "train": TrainUnit.get_next_train_batch,
    "eval": EvalUnit.get_next_eval_batch,
    "predict": PredictUnit.get_next_predict_batch,
}


def _fire(hooks: Hooks, state: State, unit: object) -> None:
    for fn in hooks:
        fn(state, unit)


def _timed(state: State, name: str) -> ContextManager[Any]:
    """Timing/profiling context for a rarely run region (a null context when neither is on)."""
    if state.timer is None and not _autograd_profiler._is_profiler_enabled:
        return nullcontext()
    return get_timing_context(state, name)


def _call_unit_hook(state: State, unit: object, phase: _Phase, event: str) -> None:
    hook = getattr(unit, phase.hook(event))
    if phase.time_unit_start_hooks and state.timer is not None:
        with get_timing_context(state, f"{type(unit).__name__}.{phase.hook(event)}"):
            hook(state)
    else:
        hook(state)


def run_phase(state: State, unit: Any, handler: CallbackHandler, phase: _Phase) -> None:
    """Run a whole phase: start hooks, its epoch(s), end hooks; module modes are restored."""
    state._active_phase = phase.active
    phase_state: PhaseState = getattr(state, phase.state_attr)
    modules = unit.tracked_modules()
    prior_modes = _set_module_training_mode(modules, phase.training)
    try:
        _call_unit_hook(state, unit, phase, "start")
        # Through the handler's methods: on_train_start/_end/_epoch_end emit events.
        getattr(handler, phase.hook("start"))(state, unit)
        if _resumes_inside_eval(state, unit, phase):
            run_eval_in_fit(state, unit, handler)
        if phase.multi_epoch:
            # The progress is looked up each time: a hook may replace it (e.g. on restore).
            while not (
                state.should_stop
                or _is_done(
                    getattr(unit, phase.progress_attr),
                    phase_state.max_epochs,
                    phase_state.max_steps,
                )
            ):
                run_epoch(state, unit, handler, phase)
        else:
            run_epoch(state, unit, handler, phase)
        getattr(unit, phase.hook("end"))(state)
        getattr(handler, phase.hook("end"))(state, unit)
    finally:
        _reset_module_training_mode(modules, prior_modes)


def _resumes_inside_eval(state: State, unit: Any, phase: _Phase) -> bool:
    """True when fit restarts from a checkpoint taken in the middle of an evaluation.

    That evaluation is finished first, so the resumed run sees what the uninterrupted run
    would have seen (TorchTNT would instead fold the rest into the next evaluation). Only a
    restore marks this (progress left by a failed run does not).
    """
    eval_state = state.eval_state
    if phase is not TRAIN or state.entry_point != EntryPoint.FIT or eval_state is None:
        return False
    if not getattr(unit, "__dict__", {}).pop(RESUME_INSIDE_EVAL_ATTR, False):
        return False
    evaluates = eval_state.evaluate_every_n_steps or eval_state.evaluate_every_n_epochs
    if not evaluates or eval_state.dataloader is None:
        return False  # this fit does not evaluate: nothing to finish
    eval_progress = unit.tracked_progress().get("eval_progress")
    return eval_progress is not None and eval_progress.num_steps_completed_in_epoch > 0


def _eval_cadence(state: State, phase: _Phase) -> Tuple[Optional[int], Optional[int]]:
    eval_state = state.eval_state
    if phase is not TRAIN or eval_state is None:
        return None, None
    return eval_state.evaluate_every_n_steps, eval_state.evaluate_every_n_epochs


def run_eval_in_fit(state: State, unit: Any, handler: CallbackHandler) -> None:
    """Evaluate in the middle of training, then hand the state back to the train phase."""
    with torch.no_grad():
        run_phase(state, unit, handler, EVAL)
    state._active_phase = ActivePhase.TRAIN


def run_epoch(state: State, unit: Any, handler: CallbackHandler, phase: _Phase) -> None:
    """Run one epoch of ``phase``: epoch hooks, a fresh data iterator, the step loop."""
    state._active_phase = phase.active
    phase_state: PhaseState = getattr(state, phase.state_attr)
    progress: Progress = getattr(unit, phase.progress_attr)
    hooks = handler.hooks
    every_n_steps, every_n_epochs = _eval_cadence(state, phase)

    resuming = progress.num_steps_completed_in_epoch > 0
    if not resuming:
        _call_unit_hook(state, unit, phase, "epoch_start")
        _fire(hooks[phase.hook("epoch_start")], state, unit)

    dataloader = phase_state.dataloader
    if phase.set_sampler_epoch:
        _maybe_set_distributed_sampler_epoch(dataloader, progress.num_epochs_completed)
    _fire(hooks[phase.hook("dataloader_iter_creation_start")], state, unit)
    # Resuming mid-epoch recreates an iterator the uninterrupted run made before the
    # checkpoint; making it must not advance the RNG (DataLoader draws its base seed).
    keep_rng = torch.random.fork_rng(devices=[]) if resuming else nullcontext()
    with keep_rng, _timed(state, f"{phase.timer_name}.iter(dataloader)"):
        data_iter = iter(dataloader)
    _fire(hooks[phase.hook("dataloader_iter_creation_end")], state, unit)

    steps_before = progress.num_steps_completed_in_epoch
    reached_end = _run_steps(state, unit, handler, phase, phase_state, data_iter, every_n_steps)
    phase_state._data_exhausted = reached_end

    if phase is TRAIN:
        _log.info(
            _reason_epoch_completed(
                progress, phase_state.max_steps_per_epoch, phase_state.max_steps, reached_end
            )
        )
        if progress.num_steps_completed_in_epoch == steps_before:
            _log.warning("No steps completed during train epoch!")
    progress.increment_epoch()
    getattr(unit, phase.hook("epoch_end"))(state)
    getattr(handler, phase.hook("epoch_end"))(state, unit)

    if every_n_epochs and progress.num_epochs_completed % every_n_epochs == 0:
        run_eval_in_fit(state, unit, handler)


def _fetch_batch(
    state: State, unit: Any, get_next: Callable[..., Any], data_iter: Iterator[Any], hooks: Any
) -> Any:
    before, after = hooks
    for fn in before:
        fn(state, unit)
    batch = get_next(state, data_iter)
    for fn in after:
        fn(state, unit)
    return batch


def _fetches_plainly(unit: Any, phase: _Phase) -> bool:
    """True if fetching a batch is just ``next(data_iter)``: the unit keeps the base class's
    ``get_next_<phase>_batch`` and its step takes batches, not the iterator."""
    name = f"get_next_{phase.name}_batch"
    return (
        name not in vars(unit)
        and getattr(type(unit), name, None) is _BASE_FETCHERS[phase.name]
        and not getattr(unit, f"_{phase.name}_step_requires_iterator", False)
    )


def _run_steps(
    state: State,
    unit: Any,
    handler: CallbackHandler,
    phase: _Phase,
    phase_state: PhaseState,
    data_iter: Iterator[Any],
    every_n_steps: Optional[int],
) -> bool:
    """The hot loop. Returns True if the data ran out (StopIteration), False otherwise."""
    hooks = handler.hooks
    fetch_hooks = (
        hooks[phase.hook("get_next_batch_start")],
        hooks[phase.hook("get_next_batch_end")],
    )
    fetch_hooked = any(fetch_hooks)
    plain_fetch = not fetch_hooked and _fetches_plainly(unit, phase)
    step_start_hooks = hooks[phase.hook("step_start")]
    step_end_hooks = hooks[phase.hook("step_end")]
    get_next = getattr(unit, f"get_next_{phase.name}_batch")
    step = getattr(unit, f"{phase.name}_step")
    progress: Progress = getattr(unit, phase.progress_attr)
    record = phase_state.iteration_timer._record
    iteration_key = f"{phase.name}_iteration_time"
    next_region = f"{phase.timer_name}.next(data_iter)"
    # _is_epoch_done, with "no limit" as infinity so the check is two comparisons.
    max_steps = _as_limit(phase_state.max_steps)
    max_steps_per_epoch = _as_limit(phase_state.max_steps_per_epoch)
    timer = state.timer

    # Private attributes in this loop: property calls per step add up (see bench/).
    while (
        not state._should_stop
        and progress._num_steps_completed < max_steps
        and progress._num_steps_completed_in_epoch < max_steps_per_epoch
    ):
        try:
            fetch_start = perf_counter()
            if timer is not None or _autograd_profiler._is_profiler_enabled:
                with get_timing_context(state, next_region):
                    batch = _fetch_batch(state, unit, get_next, data_iter, fetch_hooks)
            elif plain_fetch:
                batch = next(data_iter)
            elif fetch_hooked:
                batch = _fetch_batch(state, unit, get_next, data_iter, fetch_hooks)
            else:
                batch = get_next(state, data_iter)
            step_start = perf_counter()
            record("data_wait_time", step_start - fetch_start)

            for fn in step_start_hooks:
                fn(state, unit)
            phase_state._step_output = step(state, batch)
            progress.increment_step()
            for fn in step_end_hooks:
                fn(state, unit)
            phase_state._step_output = None
            record(iteration_key, perf_counter() - step_start)

            if every_n_steps and progress._num_steps_completed % every_n_steps == 0:
                run_eval_in_fit(state, unit, handler)
        except StopIteration:
            phase_state._step_output = None
            return True
    return False


def _as_limit(limit: Optional[int]) -> float:
    return math.inf if limit is None else limit


def run_entry_point(
    state: State,
    unit: Any,
    handler: CallbackHandler,
    body: Callable[[State, Any, CallbackHandler], None],
) -> None:
    """Run ``body``; on an exception fire the unit's then the callbacks' ``on_exception`` and
    re-raise it unchanged. Log the timer summary after a successful run."""
    try:
        body(state, unit, handler)
    except Exception as exc:
        _log.info(f"Exception during {state.entry_point.name.lower()}: {_progress_line(unit)}")
        unit.on_exception(state, exc)
        handler.on_exception(state, unit, exc)
        raise
    if state.timer is not None:
        _log.info(get_timer_summary(state.timer))


def _progress_line(unit: Any) -> str:
    parts = []
    tracked = getattr(unit, "__dict__", {}).get("_progress") or {}  # never raise from here
    for attr in ("train_progress", "eval_progress", "predict_progress"):
        progress = tracked.get(attr)
        if progress is not None:
            parts.append(f"{attr}: {progress.get_progress_string()}")
    return "; ".join(parts) or "no progress recorded"


__all__ = ["EntryPoint", "run_entry_point", "run_epoch", "run_phase", "run_eval_in_fit"]
