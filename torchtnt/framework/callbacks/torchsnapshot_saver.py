"""Checkpointing with the optional ``torchsnapshot`` library.

The module imports without torchsnapshot (``torchsnapshot`` and ``Snapshot`` are then None);
creating a :class:`TorchSnapshotSaver` or restoring then raises an error that says how to
install it. :class:`~torchtnt.framework.callbacks.dcp_saver.DistributedCheckpointSaver` is
the recommended checkpointer.
"""

import contextlib
import logging
from typing import Any, Dict, Iterable, Iterator, List, Optional, Set

import torch.distributed as dist

from torchtnt.framework.callbacks._checkpoint_utils import (
    _EVAL_PROGRESS_STATE_KEY,
    _PREDICT_PROGRESS_STATE_KEY,
    _TRAIN_DL_STATE_KEY,
    _TRAIN_PROGRESS_STATE_KEY,
    _prepare_app_state_for_checkpoint,
    _prepare_app_state_for_restore,
)
from torchtnt.framework.callbacks.base_checkpointer import BaseCheckpointer
from torchtnt.framework.callbacks.checkpointer_types import KnobOptions, RestoreOptions
from torchtnt.framework.state import State
from torchtnt.framework.unit import AppStateMixin, TTrainData, TTrainUnit
from torchtnt.utils.checkpoint import BestCheckpointConfig
from torchtnt.utils.optimizer import init_optim_state
from torchtnt.utils.stateful import Stateful

try:
    import torchsnapshot
    from torchsnapshot import Snapshot
except Exception:  # missing, or incompatible with this torch
    torchsnapshot = None  # type: ignore[assignment]
    Snapshot = None  # type: ignore[assignment,misc]

__all__ = ["TorchSnapshotSaver"]

logger: logging.Logger = logging.getLogger(__name__)

_RNG_STATE_KEY = "rng_state"
_RESERVED_KEYS = (_TRAIN_DL_STATE_KEY, _RNG_STATE_KEY)
_ALLOWED_HOOKS = frozenset(
    {"on_train_step_end", "on_train_epoch_end", "on_train_end", "on_eval_epoch_end"}
)
_PROGRESS_KEYS = {_TRAIN_PROGRESS_STATE_KEY, _EVAL_PROGRESS_STATE_KEY, _PREDICT_PROGRESS_STATE_KEY}


class TorchSnapshotUnavailableError(ImportError, RuntimeError):
    """torchsnapshot is not installed or does not work with the installed torch."""


def _require_torchsnapshot() -> None:
    if torchsnapshot is None:
        raise TorchSnapshotUnavailableError(
            "TorchSnapshotSaver needs the torchsnapshot library, which is not installed or "
            "cannot be imported with this torch version: `pip install torchsnapshot`, or use "
            "DistributedCheckpointSaver instead."
        )


def _exclude_progress_from_replicated(app_state: Dict[str, Any]) -> Set[str]:
    """Glob patterns marking every app-state entry except the progress counters as replicated."""
    return {f"{key}/**" for key in app_state if key not in _PROGRESS_KEYS}


@contextlib.contextmanager
def _override_knobs(knob_options: Optional[KnobOptions]) -> Iterator[None]:
    """Apply ``max_per_rank_io_concurrency`` to torchsnapshot while the block runs."""
    io = knob_options.max_per_rank_io_concurrency if knob_options else None
    if io is None:
        yield
        return
    _require_torchsnapshot()
    with torchsnapshot.knobs.override_max_per_rank_io_concurrency(io):
        yield


class TorchSnapshotSaver(BaseCheckpointer):
    """Save and restore the unit's app state with torchsnapshot (optional dependency).

    Args:
        dirpath: directory (local path or URL) for the snapshots.
        save_every_n_train_steps / save_every_n_epochs / save_every_n_eval_epochs: cadences.
        keep_last_n_checkpoints: retention limit.
        best_checkpoint_config: rank checkpoints by a unit attribute.
        process_group: group for checkpoint collectives.
        async_checkpoint: take snapshots in the background.
        replicated: glob patterns of replicated entries (``["**"]``: all but progress).
        storage_options: options for the storage plugin.
        knob_options: I/O knobs.

    Raises:
        TorchSnapshotUnavailableError (an ImportError and RuntimeError): without torchsnapshot.
    """

    metadata_fnames: List[str] = [".snapshot_metadata"]

    def __init__(
        self,
        dirpath: str,
        *,
        save_every_n_train_steps: Optional[int] = None,
        save_every_n_epochs: Optional[int] = None,
        save_every_n_eval_epochs: Optional[int] = None,
        keep_last_n_checkpoints: Optional[int] = None,
        best_checkpoint_config: Optional[BestCheckpointConfig] = None,
        process_group: Optional[dist.ProcessGroup] = None,
        async_checkpoint: bool = True,
        replicated: Optional[List[str]] = None,
        storage_options: Optional[Dict[str, Any]] = None,
        knob_options: Optional[KnobOptions] = None,
    ) -> None:
        _require_torchsnapshot()
        super().__init__(
            dirpath=dirpath,
            save_every_n_train_steps=save_every_n_train_steps,
            save_every_n_epochs=save_every_n_epochs,
            save_every_n_eval_epochs=save_every_n_eval_epochs,
            keep_last_n_checkpoints=keep_last_n_checkpoints,
            best_checkpoint_config=best_checkpoint_config,
            process_group=process_group,
        )
        self._async_checkpoint = async_checkpoint
        self._replicated: Set[str] = set(replicated or [])
        self._storage_options = storage_options
        self._knob_options = knob_options or KnobOptions()
        self._prev_snapshot: Any = None

    def on_train_start(self, state: State, unit: TTrainUnit) -> None:
        """Reject app-state names the snapshot reserves, then prune surplus checkpoints."""
        for key in _RESERVED_KEYS:
            if key in unit.app_state():
                raise RuntimeError(
                    f"Found {key!r} in the unit's app state; this name is reserved by "
                    "TorchSnapshotSaver, please rename the attribute."
                )
        super().on_train_start(state, unit)

    def _checkpoint_impl(
        self, state: State, unit: AppStateMixin, *, checkpoint_id: str, hook: str
    ) -> bool:
        if hook not in _ALLOWED_HOOKS:
            raise RuntimeError(f"Unexpected hook encountered '{hook}'")
        app_state = _prepare_app_state_for_checkpoint(state, unit, hook == "on_train_step_end")
        app_state[_RNG_STATE_KEY] = torchsnapshot.RNGState()
        replicated = self._replicated
        if replicated == {"**"}:
            replicated = _exclude_progress_from_replicated(app_state)
        with _override_knobs(self._knob_options):
            if not self._async_checkpoint:
                Snapshot.take(
                    str(checkpoint_id),
                    app_state=app_state,
                    pg=self._process_group,
                    replicated=list(replicated),
                    storage_options=self._storage_options,
                )
                return True
            pending = self._prev_snapshot
            if pending is not None and pending.path == checkpoint_id:
                return False
            self._wait()
            self._prev_snapshot = Snapshot.async_take(
                str(checkpoint_id),
                app_state=app_state,
                pg=self._process_group,
                replicated=list(replicated),
                storage_options=self._storage_options,
            )
        if hook == "on_train_end":
            self._wait()
        return True

    def _wait(self) -> None:
        if self._prev_snapshot is not None:
            self._prev_snapshot.wait()
            self._prev_snapshot = None

    def on_exception(self, state: State, unit: Any, exc: BaseException) -> None:
        """Let a pending snapshot finish."""
        self._wait()
        super().on_exception(state, unit, exc)

    @staticmethod
    def restore(
        path: str,
        unit: AppStateMixin,
        *,
        train_dataloader: Optional[Iterable[TTrainData]] = None,
        process_group: Optional[dist.ProcessGroup] = None,
        restore_options: Optional[RestoreOptions] = None,
        storage_options: Optional[Dict[str, Any]] = None,
        knob_options: Optional[KnobOptions] = None,
        strict: bool = True,
        **kwargs: Any,
    ) -> None:
        """Restore the snapshot at ``path`` into ``unit``. Note: collective.

        Raises:
            TorchSnapshotUnavailableError: without torchsnapshot.
            RuntimeError: if the unit uses a reserved app-state name.
        """
        _require_torchsnapshot()
        for optimizer in unit.tracked_optimizers().values():
            init_optim_state(optimizer)
        options = restore_options or RestoreOptions()
        app_state = _prepare_app_state_for_restore(unit, options)
        for key in _RESERVED_KEYS:
            if key in app_state:
                raise RuntimeError(f"Found {key!r} in the unit's app state; the name is reserved.")
        app_state[_RNG_STATE_KEY] = torchsnapshot.RNGState()
        snapshot = Snapshot(path, pg=process_group, storage_options=storage_options)
        manifest = snapshot.get_manifest()
        if isinstance(train_dataloader, Stateful) and any(
            f"/{_TRAIN_DL_STATE_KEY}/" in k for k in manifest
        ):
            app_state[_TRAIN_DL_STATE_KEY] = train_dataloader
        if not strict:
            for key in list(app_state):
                if not any(f"/{key}/" in k for k in manifest):
                    app_state.pop(key)
        with _override_knobs(knob_options):
            snapshot.restore(app_state, strict=options.strict)
