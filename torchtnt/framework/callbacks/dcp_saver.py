"""Checkpointing on ``torch.distributed.checkpoint`` (DCP), local or remote through fsspec.

Every rank writes its share of the state; rank 0 writes the ``.metadata`` file last, after
all ranks finished, so a directory holding ``.metadata`` is a complete checkpoint and any
other is ignored by listing, latest/best lookup and retention. Async saves copy the state
to CPU memory before returning, so training that continues cannot change what is written.
"""

import contextlib
import logging
import warnings
from concurrent.futures import Future
from typing import Any, Dict, Iterable, Iterator, List, Optional, Set

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint._fsspec_filesystem import FsspecReader, FsspecWriter
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner, DefaultSavePlanner
from torch.distributed.checkpoint.planner import LoadPlanner, SavePlanner
from torch.distributed.checkpoint.state_dict import _init_optim_state
from torch.distributed.checkpoint.storage import StorageReader, StorageWriter

from torchtnt.framework._loop_utils import RESUME_INSIDE_EVAL_ATTR
from torchtnt.framework.callbacks._checkpoint_utils import (
    _DL_SKIP_STATE_KEY,
    _EVAL_PROGRESS_STATE_KEY,
    _PHASE_DL_STATE_KEY_MAPPING,
    _PREDICT_PROGRESS_STATE_KEY,
    _RNG_STATE_KEY,
    _TRAIN_PROGRESS_STATE_KEY,
    _add_train_dataloader_between_epochs,
    _advance_stateful_dataloader,
    _apply_pending_rng_state,
    _FrozenState,
    _PerRankStateful,
    _prepare_app_state_for_checkpoint,
    _prepare_app_state_for_restore,
    _RNGStates,
)
from torchtnt.framework.callbacks._staging import _ReusableStager
from torchtnt.framework.callbacks.base_checkpointer import BaseCheckpointer
from torchtnt.framework.callbacks.checkpointer_types import KnobOptions, RestoreOptions
from torchtnt.framework.state import EntryPoint, State
from torchtnt.framework.unit import AppStateMixin, TEvalData, TPredictData, TTrainData
from torchtnt.framework.utils import get_timing_context
from torchtnt.utils.checkpoint import BestCheckpointConfig, CheckpointPath, Phase
from torchtnt.utils.distributed import get_or_create_gloo_pg
from torchtnt.utils.stateful import MultiStateful, Stateful

__all__ = ["DistributedCheckpointSaver"]

logger: logging.Logger = logging.getLogger(__name__)

_ALLOWED_HOOKS = frozenset(
    {
        "on_train_step_end",
        "on_train_epoch_end",
        "on_train_end",
        "on_eval_epoch_end",
        "on_eval_step_end",
        "on_predict_step_end",
        "on_predict_end",
    }
)
_METADATA_FNAME = ".metadata"


@contextlib.contextmanager
def _single_process_quiet() -> Iterator[None]:
    """Silence DCP's "assuming the intent is to save/load in a single process" warning, which
    only repeats what a run without a process group already means."""
    if dist.is_available() and dist.is_initialized():
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled, unavailable")
        yield


class DistributedCheckpointSaver(BaseCheckpointer):
    """Save and restore the unit's app state with ``torch.distributed.checkpoint``.

    Checkpoints hold ``{"app_state": ...}`` with every tracked object of the unit (modules,
    optimizers, LR schedulers, progress, ...), the dataloader when saved mid-epoch and it
    is stateful, and each rank's RNG states (key ``rng_state``).

    Args:
        dirpath: directory (local path or fsspec URL such as ``s3://bucket/run``).
        save_every_n_train_steps / save_every_n_epochs / save_every_n_eval_steps /
            save_every_n_eval_epochs / save_every_n_predict_steps: save cadences.
        keep_last_n_checkpoints: retention limit (see :class:`BaseCheckpointer`).
        best_checkpoint_config: rank checkpoints by a unit attribute.
        process_group: group for checkpoint collectives.
        async_checkpoint: copy the state to CPU memory, then write it in a background
            thread while training goes on; the next checkpoint operation waits for it to
            finish. The copy goes into buffers kept for the whole run (one extra copy of
            the checkpointed state in host memory, pinned for CUDA tensors), released at
            the end of training or prediction.
        knob_options: I/O knobs; ``max_per_rank_io_concurrency`` sets the writer threads.
        save_on_preemption: on SIGTERM, finish the step, save and stop (opt-in).

    Raises:
        TypeError / ValueError: for an invalid argument (the message names it).

    Note: collective when distributed, construct and use it on all ranks.
    """

    metadata_fnames: List[str] = [_METADATA_FNAME]

    def __init__(
        self,
        dirpath: str,
        *,
        save_every_n_train_steps: Optional[int] = None,
        save_every_n_epochs: Optional[int] = None,
        save_every_n_eval_steps: Optional[int] = None,
        save_every_n_eval_epochs: Optional[int] = None,
        save_every_n_predict_steps: Optional[int] = None,
        keep_last_n_checkpoints: Optional[int] = None,
        best_checkpoint_config: Optional[BestCheckpointConfig] = None,
        process_group: Optional[dist.ProcessGroup] = None,
        async_checkpoint: bool = False,
        knob_options: Optional[KnobOptions] = None,
        save_on_preemption: bool = False,
    ) -> None:
        if not isinstance(async_checkpoint, bool):
            raise TypeError(f"async_checkpoint={async_checkpoint!r} is invalid: expected a bool")
        self._knob_options: KnobOptions = _check_knob_options(knob_options)
        self._async_checkpoint = async_checkpoint
        super().__init__(
            dirpath=dirpath,
            save_every_n_train_steps=save_every_n_train_steps,
            save_every_n_epochs=save_every_n_epochs,
            save_every_n_eval_steps=save_every_n_eval_steps,
            save_every_n_eval_epochs=save_every_n_eval_epochs,
            save_every_n_predict_steps=save_every_n_predict_steps,
            keep_last_n_checkpoints=keep_last_n_checkpoints,
            best_checkpoint_config=best_checkpoint_config,
            process_group=process_group,
            save_on_preemption=save_on_preemption,
        )
        thread_count = self._knob_options.max_per_rank_io_concurrency or 16
        self.default_writer_options: Dict[str, Any] = {
            "thread_count": thread_count,
            "sync_files": False,
            "overwrite": True,
        }
        if thread_count > 1:
            self.default_writer_options["single_file_per_rank"] = False
        self._prev_snapshot: Optional[Future] = None
        self._pending_path: Optional[CheckpointPath] = None
        self._stager = _ReusableStager()

    def _needs_own_group(self) -> bool:
        # A background save runs collectives while training runs its own; they must not
        # share a group or their messages could interleave.
        return self._async_checkpoint

    # ----------------------------------------------------------------------------------
    # saving
    # ----------------------------------------------------------------------------------

    def _checkpoint_impl(
        self,
        state: State,
        unit: AppStateMixin,
        *,
        checkpoint_id: str,
        hook: str,
        planner: Optional[SavePlanner] = None,
        storage_writer: Optional[StorageWriter] = None,
        stager: Optional[Any] = None,
    ) -> bool:
        """Write the checkpoint (or schedule it when async). Note: collective.

        Raises:
            RuntimeError: for a hook that never saves.
        """
        if hook not in _ALLOWED_HOOKS:
            raise RuntimeError(f"Unexpected hook encountered '{hook}'")
        intra_epoch = "step_end" in hook or (
            hook == "on_eval_epoch_end" and state.entry_point == EntryPoint.FIT
        )
        app_state = _prepare_app_state_for_checkpoint(state, unit, intra_epoch)
        if intra_epoch:
            self._use_dataloader_snapshots(state, unit, app_state)
        _add_train_dataloader_between_epochs(state, unit, app_state)
        _separate_dataloader_states_per_rank(app_state)
        if _RNG_STATE_KEY not in app_state:
            app_state[_RNG_STATE_KEY] = _RNGStates(_global_rank())
        planner = planner if planner is not None else DefaultSavePlanner()
        if storage_writer is None:
            storage_writer = FsspecWriter(checkpoint_id, **self.default_writer_options)
        state_dict = {"app_state": MultiStateful(app_state)}
        region = f"{type(self).__name__}.{'async_save' if self._async_checkpoint else 'save'}"
        if not self._async_checkpoint:
            with _single_process_quiet(), get_timing_context(state, region):
                dcp.save(
                    state_dict=state_dict,
                    checkpoint_id=checkpoint_id,
                    process_group=self._process_group,
                    storage_writer=storage_writer,
                    planner=planner,
                )
            return True
        self._wait()
        with get_timing_context(state, region):
            self._prev_snapshot = dcp.async_save(
                state_dict=state_dict,
                checkpoint_id=checkpoint_id,
                process_group=self._process_group,
                storage_writer=storage_writer,
                planner=planner,
                async_stager=stager if stager is not None else self._stager,
            )
        if hook in ("on_train_end", "on_predict_end"):
            self._wait()
        return True

    def _generate_checkpoint_and_upkeep(self, state: State, unit: AppStateMixin, hook: str) -> bool:
        self._wait()
        return super()._generate_checkpoint_and_upkeep(state, unit, hook)

    def _track_checkpoint(self, path: CheckpointPath) -> None:
        if self._prev_snapshot is not None:
            # Still being written: track it (and let retention delete anything) only once
            # it is complete.
            self._pending_path = path
            return
        super()._track_checkpoint(path)

    def _wait(self) -> None:
        """Block until the pending async save completes, then track it.

        Raises:
            Exception: whatever made the background save fail (it is then not tracked).
        """
        future, self._prev_snapshot = self._prev_snapshot, None
        path, self._pending_path = self._pending_path, None
        if future is not None:
            # dcp.async_save returns the upload future, or a response holding it.
            upload = getattr(future, "upload_completion", future)
            upload.result()
        if path is not None:
            super()._track_checkpoint(path)

    def _wait_for_pending_save(self) -> None:
        self._wait()

    def _release_async_resources(self) -> None:
        """Free the staging buffers and their copy threads, once no save is pending."""
        if self._prev_snapshot is None:
            self._stager.close()

    def on_train_end(self, state: State, unit: Any) -> None:
        """Save the final checkpoint, then free the async staging buffers."""
        super().on_train_end(state, unit)
        self._release_async_resources()

    def on_predict_end(self, state: State, unit: Any) -> None:
        """Save the final checkpoint, then free the async staging buffers."""
        super().on_predict_end(state, unit)
        self._release_async_resources()

    def on_eval_end(self, state: State, unit: Any) -> None:
        """At the end of a standalone evaluation, let a pending async save complete."""
        if state.entry_point == EntryPoint.EVALUATE:
            self._wait()
            self._release_async_resources()
        super().on_eval_end(state, unit)

    def on_exception(self, state: State, unit: Any, exc: BaseException) -> None:
        """Let a pending async save finish before the run's exception propagates."""
        try:
            self._wait()
        except Exception as e:
            logger.error(f"The pending async checkpoint failed as well: {e!r}")
        self._release_async_resources()
        super().on_exception(state, unit, exc)

    # ----------------------------------------------------------------------------------
    # restoring
    # ----------------------------------------------------------------------------------

    @staticmethod
    def restore(
        path: str,
        unit: AppStateMixin,
        *,
        train_dataloader: Optional[Iterable[TTrainData]] = None,
        eval_dataloader: Optional[Iterable[TEvalData]] = None,
        predict_dataloader: Optional[Iterable[TPredictData]] = None,
        process_group: Optional[dist.ProcessGroup] = None,
        restore_options: Optional[RestoreOptions] = None,
        knob_options: Optional[KnobOptions] = None,
        planner: Optional[LoadPlanner] = None,
        storage_reader: Optional[StorageReader] = None,
        **kwargs: Any,
    ) -> None:
        """Load the checkpoint at ``path`` into ``unit`` (and the stateful dataloaders).

        See :meth:`restore_with_id`. Note: collective, call on all ranks.
        """
        DistributedCheckpointSaver.restore_with_id(
            path,
            unit,
            train_dataloader=train_dataloader,
            eval_dataloader=eval_dataloader,
            predict_dataloader=predict_dataloader,
            process_group=process_group,
            restore_options=restore_options,
            knob_options=knob_options,
            planner=planner,
            storage_reader=storage_reader,
        )

    @staticmethod
    def restore_with_id(
        checkpoint_id: Any,
        unit: AppStateMixin,
        *,
        train_dataloader: Optional[Iterable[TTrainData]] = None,
        eval_dataloader: Optional[Iterable[TEvalData]] = None,
        predict_dataloader: Optional[Iterable[TPredictData]] = None,
        process_group: Optional[dist.ProcessGroup] = None,
        restore_options: Optional[RestoreOptions] = None,
        knob_options: Optional[KnobOptions] = None,
        planner: Optional[LoadPlanner] = None,
        storage_reader: Optional[StorageReader] = None,
        **kwargs: Any,
    ) -> None:
        """Load checkpoint ``checkpoint_id`` into ``unit``.

        Eval and predict checkpoints never restore modules, optimizers or LR schedulers
        (the given ``restore_options`` object is changed accordingly). Stateful dataloaders
        are restored when the checkpoint has their state; RNG states when it has this
        rank's. Nothing is changed if the checkpoint lacks a requested part.

        Raises:
            FileNotFoundError: if ``checkpoint_id`` is not a complete checkpoint.
            ValueError: if ``restore_options`` asks (strictly) for a part it lacks.

        Note: collective, call on all ranks.
        """
        checkpoint_id = str(checkpoint_id)
        restore_options = restore_options if restore_options is not None else RestoreOptions()
        _skip_weights_for_non_train_checkpoint(checkpoint_id, restore_options)
        app_state = _prepare_app_state_for_restore(unit, restore_options)
        if storage_reader is None:
            storage_reader = FsspecReader(checkpoint_id)
        if planner is None:
            planner = DefaultLoadPlanner(allow_partial_load=not restore_options.strict)
        saved_keys = _read_saved_keys(storage_reader, checkpoint_id)
        if saved_keys is not None and restore_options.strict:
            _check_requested_parts(checkpoint_id, unit, app_state, saved_keys, restore_options)
        dataloaders = {
            _PHASE_DL_STATE_KEY_MAPPING[Phase.TRAIN]: train_dataloader,
            _PHASE_DL_STATE_KEY_MAPPING[Phase.EVALUATE]: eval_dataloader,
            _PHASE_DL_STATE_KEY_MAPPING[Phase.PREDICT]: predict_dataloader,
        }
        _add_dataloaders(app_state, dataloaders, saved_keys)
        offsets = _add_extras(app_state, unit, saved_keys, restore_options)
        initialized = (
            _init_optimizers(app_state, unit, saved_keys)
            if restore_options.init_optim_states
            else []
        )
        with get_or_create_gloo_pg(candidate_pg=process_group) as pg, _single_process_quiet():
            try:
                dcp.load(
                    {"app_state": MultiStateful(app_state)},
                    checkpoint_id=checkpoint_id,
                    storage_reader=storage_reader,
                    planner=planner,
                    process_group=pg,
                )
            except (Exception, CheckpointException) as e:
                for optimizer in initialized:  # a failed restore leaves the unit as it was
                    optimizer.state.clear()
                if saved_keys is None:
                    raise FileNotFoundError(
                        f"{checkpoint_id!r} is not a complete checkpoint: its "
                        f"{_METADATA_FNAME!r} file could not be read (wrong path, or the save "
                        "was interrupted)."
                    ) from e
                raise
        _settle_between_epochs(unit, app_state, dataloaders)
        _mark_interrupted_evaluation(checkpoint_id, unit)
        if offsets is not None:
            for key, count in offsets.state_dict().items():
                if key in app_state and dataloaders.get(key) is not None:
                    _advance_stateful_dataloader(dataloaders[key], int(count))
            # Advancing may draw random numbers; put the restored RNG states back.
            pending = getattr(unit, "_tnt_pending_rng_state", None)
            if pending is not None:
                _apply_pending_rng_state(unit)
                object.__setattr__(unit, "_tnt_pending_rng_state", pending)


def _check_knob_options(knob_options: Optional[KnobOptions]) -> KnobOptions:
    if knob_options is None:
        return KnobOptions()
    if not isinstance(knob_options, KnobOptions):
        raise TypeError(f"knob_options={knob_options!r} is invalid: expected a KnobOptions or None")
    io = knob_options.max_per_rank_io_concurrency
    if io is not None and (isinstance(io, bool) or not isinstance(io, int) or io <= 0):
        raise ValueError(
            f"knob_options.max_per_rank_io_concurrency={io!r} is invalid: expected an int >= 1 "
            "or None"
        )
    return knob_options


def _global_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _separate_dataloader_states_per_rank(app_state: Dict[str, Any]) -> None:
    # Single-process checkpoints keep the plain layout ("train_dataloader.<state>").
    if _world_size() == 1:
        return
    for key in _PHASE_DL_STATE_KEY_MAPPING.values():
        if key in app_state:
            app_state[key] = _PerRankStateful(app_state[key], _global_rank())


def _skip_weights_for_non_train_checkpoint(checkpoint_id: str, options: RestoreOptions) -> None:
    try:
        parsed = CheckpointPath.from_str(checkpoint_id)
    except ValueError:
        return
    if parsed._is_phase_aware() and Phase.TRAIN not in parsed.step:
        options.restore_modules = False
        options.restore_optimizers = False
        options.restore_lr_schedulers = False


def _read_saved_keys(storage_reader: StorageReader, checkpoint_id: str) -> Optional[Set[str]]:
    """Flattened keys stored in the checkpoint, or None if its metadata cannot be read."""
    try:
        storage_reader.reset(checkpoint_id)  # as dcp.load does: a reader may lack the path
        metadata = storage_reader.read_metadata()
        return set(metadata.state_dict_metadata)
    except Exception:
        return None


def _has_entry(saved_keys: Set[str], key: str) -> bool:
    prefix = f"app_state.{key}"
    return any(k == prefix or k.startswith(prefix + ".") for k in saved_keys)


def _check_requested_parts(
    checkpoint_id: str,
    unit: AppStateMixin,
    app_state: Dict[str, Any],
    saved_keys: Set[str],
    options: RestoreOptions,
) -> None:
    option_of: Dict[str, str] = {
        _TRAIN_PROGRESS_STATE_KEY: "restore_train_progress",
        _EVAL_PROGRESS_STATE_KEY: "restore_eval_progress",
        _PREDICT_PROGRESS_STATE_KEY: "restore_predict_progress",
    }
    option_of.update({k: "restore_modules" for k in unit.tracked_modules()})
    option_of.update({k: "restore_optimizers" for k in unit.tracked_optimizers()})
    option_of.update({k: "restore_lr_schedulers" for k in unit.tracked_lr_schedulers()})
    # Objects without state (e.g. a loss module) leave no entry in a checkpoint.
    missing = [
        k
        for k in app_state
        if k in option_of and not _has_entry(saved_keys, k) and app_state[k].state_dict()
    ]
    if missing:
        fixes = sorted({f"{option_of[k]}=False" for k in missing})
        raise _MissingStateError(
            f"Checkpoint {checkpoint_id!r} has no state for {missing}; nothing was restored. "
            f"Pass RestoreOptions({', '.join(fixes)}) to skip them, or strict=False."
        )


class _MissingStateError(ValueError, CheckpointException):
    """A strict restore asked for state the checkpoint lacks. Also a CheckpointException:
    code written for TorchTNT catches what ``dcp.load`` raises in this case."""

    def __init__(self, message: str) -> None:
        CheckpointException.__init__(self, message, {})

    def __str__(self) -> str:
        return str(self.args[0])


def _add_dataloaders(
    app_state: Dict[str, Any],
    dataloaders: Dict[str, Optional[Iterable[Any]]],
    saved_keys: Optional[Set[str]],
) -> None:
    for key, dataloader in dataloaders.items():
        if dataloader is None:
            continue
        if not isinstance(dataloader, Stateful):
            logger.warning(
                f"The {key} passed to restore is not stateful (no state_dict/load_state_dict); "
                "its position is not restored."
            )
        elif saved_keys is not None and _has_entry(saved_keys, f"{key}.rank_{_global_rank()}"):
            app_state[key] = _PerRankStateful(dataloader, _global_rank())
        elif saved_keys is not None and any(
            k.startswith(f"app_state.{key}.rank_") for k in saved_keys
        ):
            logger.warning(
                f"The checkpoint holds {key} states of other ranks only (saved with a "
                "different world size); the dataloader starts from its current position."
            )
        elif saved_keys is not None and any(key in k for k in saved_keys):
            app_state[key] = dataloader
        else:
            # The normal case for a checkpoint taken at an epoch boundary.
            logger.warning(
                f"The checkpoint holds no {key} state (it was not saved mid-epoch); the "
                "dataloader starts from its current position."
            )


def _add_extras(
    app_state: Dict[str, Any],
    unit: AppStateMixin,
    saved_keys: Optional[Set[str]],
    options: RestoreOptions,
) -> Optional[_FrozenState]:
    """Add the RNG states and dataloader offsets the checkpoint has to ``app_state``."""
    if saved_keys is None:
        return None
    rng = _RNGStates(_global_rank(), unit)
    if (
        options.restore_rng_states
        and _RNG_STATE_KEY not in app_state
        and _has_entry(saved_keys, f"{_RNG_STATE_KEY}.{rng.key}")
    ):
        app_state[_RNG_STATE_KEY] = rng
    prefix = f"app_state.{_DL_SKIP_STATE_KEY}."
    offset_keys = [k[len(prefix) :] for k in saved_keys if k.startswith(prefix)]
    if not offset_keys:
        return None
    offsets = _FrozenState({k: 0 for k in offset_keys})
    app_state[_DL_SKIP_STATE_KEY] = offsets
    return offsets


def _mark_interrupted_evaluation(checkpoint_id: str, unit: AppStateMixin) -> None:
    """A fit checkpoint taken in the middle of an evaluation: have the resumed fit finish
    that evaluation first (the loop reads the mark once)."""
    try:
        steps = CheckpointPath.from_str(checkpoint_id).step
    except ValueError:
        return
    progress = unit.tracked_progress().get(_EVAL_PROGRESS_STATE_KEY)
    if (
        isinstance(steps, dict)
        and Phase.TRAIN in steps
        and Phase.EVALUATE in steps
        and progress is not None
        and progress.num_steps_completed_in_epoch > 0
    ):
        object.__setattr__(unit, RESUME_INSIDE_EVAL_ATTR, True)


def _settle_between_epochs(
    unit: AppStateMixin, app_state: Dict[str, Any], dataloaders: Dict[str, Any]
) -> None:
    """After restoring a dataloader saved between epochs, bring it to where the saving run's
    was: holding its finished iterator. The next ``iter()`` then makes exactly one new
    iterator, drawing the same random numbers as that run did; a torchdata
    ``StatefulDataLoader`` would otherwise make two (the restored one, then a fresh one)."""
    progress_of = {
        _PHASE_DL_STATE_KEY_MAPPING[Phase.TRAIN]: _TRAIN_PROGRESS_STATE_KEY,
        _PHASE_DL_STATE_KEY_MAPPING[Phase.EVALUATE]: _EVAL_PROGRESS_STATE_KEY,
        _PHASE_DL_STATE_KEY_MAPPING[Phase.PREDICT]: _PREDICT_PROGRESS_STATE_KEY,
    }
    tracked = unit.tracked_progress()
    for key, dataloader in dataloaders.items():
        progress = tracked.get(progress_of[key])
        if (
            key in app_state
            and isinstance(dataloader, Stateful)
            and progress is not None
            and progress.num_steps_completed_in_epoch == 0
        ):
            with torch.random.fork_rng(devices=[]):
                dataloader.state_dict()  # materializes the restored iterator


def _init_optimizers(
    app_state: Dict[str, Any], unit: AppStateMixin, saved_keys: Optional[Set[str]]
) -> List[Any]:
    """Give the optimizers being restored their (empty) state tensors, which DCP loads into.

    Only the unit's optimizers still in ``app_state`` (or the optimizer inside a wrapper);
    an LR scheduler also has an ``.optimizer`` but must not make restore touch it. An
    optimizer saved before its first step has no state in the checkpoint and gets none here
    either (DCP would otherwise look for it). Returns the optimizers that had no state
    before, so a failed load can take it back.
    """
    initialized = []
    for key in unit.tracked_optimizers():
        value = app_state.get(key)
        optimizer = getattr(value, "optimizer", value)
        if saved_keys is not None and not _has_entry(saved_keys, f"{key}.state"):
            continue
        if isinstance(optimizer, torch.optim.Optimizer):
            if not optimizer.state:
                initialized.append(optimizer)
            _init_optim_state(optimizer)
    return initialized
