"""Helpers the checkpointers share: what goes in a checkpoint and what its name says.

Besides the names fixed by the spec this module holds :class:`_RNGStates`, the per-rank
random number generator states saved next to the app state so that a resumed run draws
the same random numbers (dropout masks, shuffles) as an uninterrupted one.
"""

import random
from typing import Any, Dict, Optional

import numpy as np
import torch

from torchtnt.framework.callbacks.checkpointer_types import RestoreOptions
from torchtnt.framework.state import ActivePhase, EntryPoint, State
from torchtnt.framework.unit import AppStateMixin
from torchtnt.utils.checkpoint import Phase
from torchtnt.utils.stateful import Stateful

_PHASE_DL_STATE_KEY_MAPPING: Dict[Phase, str] = {
    Phase.TRAIN: "train_dataloader",
    Phase.EVALUATE: "eval_dataloader",
    Phase.PREDICT: "predict_dataloader",
}
_TRAIN_DL_STATE_KEY = "train_dataloader"
_TRAIN_PROGRESS_STATE_KEY = "train_progress"
_EVAL_PROGRESS_STATE_KEY = "eval_progress"
_PREDICT_PROGRESS_STATE_KEY = "predict_progress"
# Key of the per-rank RNG states in a checkpoint's app state.
_RNG_STATE_KEY = "rng_state"
# Attribute a restore leaves on the unit so a checkpointer can re-apply the RNG states at
# the exact point of the loop where they were captured.
_PENDING_RNG_ATTR = "_tnt_pending_rng_state"


def _get_epoch(state: State, unit: AppStateMixin) -> int:
    """The epoch number a checkpoint name carries for this entry point.

    Raises:
        ValueError: for an entry point without a progress to read.
    """
    entry_point = state.entry_point
    if entry_point in (EntryPoint.TRAIN, EntryPoint.FIT):
        return unit.train_progress.num_epochs_completed  # type: ignore[attr-defined]
    if entry_point == EntryPoint.PREDICT:
        return unit.predict_progress.num_epochs_completed  # type: ignore[attr-defined]
    if entry_point == EntryPoint.EVALUATE:
        return unit.eval_progress.num_epochs_completed  # type: ignore[attr-defined]
    raise ValueError(f"Cannot name a checkpoint for entry point {entry_point!r}.")


def _get_step_phase_mapping(state: State, unit: AppStateMixin) -> Dict[Phase, int]:
    """Steps completed per phase, as put in a phase-aware checkpoint name."""
    entry_point = state.entry_point
    steps: Dict[Phase, int] = {}
    if entry_point in (EntryPoint.TRAIN, EntryPoint.FIT):
        steps[Phase.TRAIN] = unit.train_progress.num_steps_completed  # type: ignore[attr-defined]
    if entry_point in (EntryPoint.EVALUATE, EntryPoint.FIT):
        steps[Phase.EVALUATE] = unit.eval_progress.num_steps_completed  # type: ignore[attr-defined]
    if entry_point == EntryPoint.PREDICT:
        steps[Phase.PREDICT] = unit.predict_progress.num_steps_completed  # type: ignore[attr-defined]
    return steps


def _prepare_app_state(unit: AppStateMixin) -> Dict[str, Any]:
    """The unit's app state, with the optimizers of FSDP modules wrapped for saving."""
    app_state = unit.app_state()
    app_state.update(unit._construct_tracked_optimizers())
    return app_state


def _remove_app_state_keys(
    unit: AppStateMixin,
    app_state: Dict[str, Any],
    *,
    remove_modules: bool = False,
    remove_optimizers: bool = False,
    remove_lr_schedulers: bool = False,
) -> None:
    """Drop the unit's modules / optimizers / LR schedulers from ``app_state`` in place."""
    kinds = (
        (remove_modules, unit.tracked_modules()),
        (remove_optimizers, unit.tracked_optimizers()),
        (remove_lr_schedulers, unit.tracked_lr_schedulers()),
    )
    for remove, tracked in kinds:
        if remove:
            for key in tracked:
                app_state.pop(key, None)


def _prepare_app_state_for_checkpoint(
    state: State, unit: AppStateMixin, intra_epoch: bool
) -> Dict[str, Stateful]:
    """Everything a checkpoint taken now should hold.

    Evaluate and predict runs leave out modules, optimizers and LR schedulers (their
    weights do not change). A checkpoint taken in the middle of an epoch also holds the
    active phase's dataloader when it is stateful, and in fit, while evaluating in the
    middle of a train epoch, the train dataloader too.
    """
    app_state = _prepare_app_state(unit)
    if state.entry_point in (EntryPoint.EVALUATE, EntryPoint.PREDICT):
        _remove_app_state_keys(
            unit, app_state, remove_modules=True, remove_optimizers=True, remove_lr_schedulers=True
        )
    if not intra_epoch:
        return app_state
    phase = state.active_phase.into_phase()
    dataloader = state.active_phase_state().dataloader
    if isinstance(dataloader, Stateful):
        app_state[_PHASE_DL_STATE_KEY_MAPPING[phase]] = dataloader
    train_state = state.train_state
    if (
        state.entry_point == EntryPoint.FIT
        and state.active_phase == ActivePhase.EVALUATE
        and train_state is not None
        and unit.train_progress.num_steps_completed_in_epoch != 0  # type: ignore[attr-defined]
        and isinstance(train_state.dataloader, Stateful)
    ):
        app_state[_TRAIN_DL_STATE_KEY] = train_state.dataloader
    return app_state


def _add_train_dataloader_between_epochs(
    state: State, unit: AppStateMixin, app_state: Dict[str, Any]
) -> None:
    """At a train epoch boundary reached by running out of data, add the stateful train
    dataloader to ``app_state``: the next epoch's order can depend on its state (a shuffling
    sampler's generator), which a fresh dataloader would not reproduce on resume."""
    train_state = state.train_state
    if (
        state.entry_point in (EntryPoint.TRAIN, EntryPoint.FIT)
        and train_state is not None
        and train_state._data_exhausted
        and isinstance(train_state.dataloader, Stateful)
        and unit.train_progress.num_steps_completed_in_epoch == 0  # type: ignore[attr-defined]
    ):
        app_state.setdefault(_TRAIN_DL_STATE_KEY, train_state.dataloader)


def _prepare_app_state_for_restore(
    unit: AppStateMixin, restore_options: RestoreOptions
) -> Dict[str, Any]:
    """The unit's app state minus what ``restore_options`` says not to restore."""
    app_state = _prepare_app_state(unit)
    progress_keys = (
        (restore_options.restore_train_progress, _TRAIN_PROGRESS_STATE_KEY),
        (restore_options.restore_eval_progress, _EVAL_PROGRESS_STATE_KEY),
        (restore_options.restore_predict_progress, _PREDICT_PROGRESS_STATE_KEY),
    )
    for restore, key in progress_keys:
        if not restore:
            app_state.pop(key, None)
    _remove_app_state_keys(
        unit,
        app_state,
        remove_modules=not restore_options.restore_modules,
        remove_optimizers=not restore_options.restore_optimizers,
        remove_lr_schedulers=not restore_options.restore_lr_schedulers,
    )
    return app_state


def _capture_rng_state() -> Dict[str, Any]:
    """This process's torch, numpy and Python RNG states, as tensors and plain numbers."""
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    captured: Dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_keys.astype(np.int64)),
        "numpy_meta": [str(np_kind), int(np_pos), int(np_has_gauss), float(np_gauss)],
        "python_internal": torch.tensor(py_internal, dtype=torch.int64),
        "python_meta": [int(py_version), py_gauss],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        captured["cuda"] = torch.cuda.get_rng_state()
    return captured


def _apply_rng_state(captured: Dict[str, Any]) -> None:
    """Set this process's RNGs to a state returned by :func:`_capture_rng_state`."""
    torch.set_rng_state(captured["torch"])
    np_kind, np_pos, np_has_gauss, np_gauss = captured["numpy_meta"]
    np_keys = captured["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state((np_kind, np_keys, int(np_pos), int(np_has_gauss), float(np_gauss)))
    py_version, py_gauss = captured["python_meta"]
    py_internal = tuple(int(v) for v in captured["python_internal"].tolist())
    random.setstate((int(py_version), py_internal, py_gauss))
    if "cuda" in captured and torch.cuda.is_available():
        torch.cuda.set_rng_state(captured["cuda"])


class _RNGStates:
    """Stateful view of the RNG states of this rank, stored under a rank-specific key.

    Each rank saves under ``rank_{rank}`` so ranks never overwrite each other's state in a
    shared checkpoint; loading applies the entry of this rank and also leaves it on
    ``unit`` (when given) so a checkpointer can re-apply it right before the next batch.

    Args:
        rank: this process's rank in the checkpoint's process group.
        unit: the unit being restored, if any.
    """

    def __init__(self, rank: int, unit: Optional[AppStateMixin] = None) -> None:
        self._key = f"rank_{rank}"
        self._unit = unit

    @property
    def key(self) -> str:
        """The key of this rank's entry."""
        return self._key

    def state_dict(self) -> Dict[str, Any]:
        """Return ``{"rank_{rank}": <captured states>}``."""
        return {self._key: _capture_rng_state()}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Apply this rank's entry of ``state_dict`` (missing entry: nothing happens)."""
        captured = state_dict.get(self._key)
        if captured is None:
            return
        _apply_rng_state(captured)
        if self._unit is not None:
            object.__setattr__(self._unit, _PENDING_RNG_ATTR, captured)


def _apply_pending_rng_state(unit: AppStateMixin) -> None:
    """Re-apply RNG states left by a restore, once, at the point they were captured."""
    captured = unit.__dict__.pop(_PENDING_RNG_ATTR, None)
    if captured is not None:
        _apply_rng_state(captured)


class _SignalFlag:
    """Records that a signal arrived; the handler only sets a flag (safe at any point).

    Installed for the duration of a run and then the previous handler is put back. Only
    the main thread may install signal handlers, elsewhere :meth:`install` does nothing.

    Args:
        signum: the signal to watch (e.g. ``signal.SIGTERM``).
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.raised = False
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        """Start watching (idempotent)."""
        import signal
        import threading

        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        self._previous = signal.signal(self.signum, self._handle)
        self._installed = True

    def _handle(self, signum: int, frame: Any) -> None:
        self.raised = True

    def uninstall(self) -> None:
        """Put the previous handler back (idempotent)."""
        import signal

        if not self._installed:
            return
        signal.signal(self.signum, self._previous)
        self._installed = False


# Resume offsets are stored under this key: {dataloader key: batches to skip on restore}.
_DL_SKIP_STATE_KEY = "dataloader_resume_offsets"


class _FrozenState:
    """A Stateful that returns a state dict captured earlier (loading is a no-op)."""

    def __init__(self, captured: Dict[str, Any]) -> None:
        self._captured = captured

    def state_dict(self) -> Dict[str, Any]:
        return self._captured

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self._captured = state_dict


def _advance_stateful_dataloader(dataloader: Any, num_batches: int) -> None:
    """Move a restored stateful dataloader ``num_batches`` batches forward.

    Consumes the batches from a temporary iterator and stores the resulting position as
    the one the next ``iter()`` resumes from.
    """
    if num_batches <= 0:
        return
    data_iter = iter(dataloader)
    for _ in range(num_batches):
        next(data_iter, None)
    dataloader.load_state_dict(dataloader.state_dict())


class _PerRankStateful:
    """Stores an object's state under ``rank_{rank}`` so ranks keep distinct states.

    DCP treats equal keys on different ranks as one replicated value and writes a single
    copy; dataloader positions and sampler RNGs differ per rank, so they need their own key.

    Args:
        obj: the stateful object (e.g. a stateful dataloader).
        rank: this process's rank.
    """

    def __init__(self, obj: Any, rank: int) -> None:
        self._obj = obj
        self._key = f"rank_{rank}"

    def state_dict(self) -> Dict[str, Any]:
        return {self._key: self._obj.state_dict()}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self._obj.load_state_dict(state_dict[self._key])
