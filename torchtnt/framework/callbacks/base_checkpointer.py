"""The saver core every checkpointer shares: cadence, naming, retention, best, restore.

A subclass only says how to write (:meth:`BaseCheckpointer._checkpoint_impl`) and how to
read (:meth:`BaseCheckpointer.restore`) one checkpoint. This class decides *when* to save
(every n train/eval/predict steps or epochs, at the end of training or prediction, and on
preemption when asked), *what* the checkpoint is called (see
:class:`~torchtnt.utils.checkpoint.CheckpointPath`), and which old checkpoints to delete.
"""

import abc
import logging
import math
import os
import signal
from datetime import timedelta
from typing import Any, Dict, Iterable, List, Literal, Optional, Set
from unittest.mock import NonCallableMock

import fsspec
import torch
import torch.distributed as dist

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._checkpoint_utils import (
    _DL_SKIP_STATE_KEY,
    _PHASE_DL_STATE_KEY_MAPPING,
    _TRAIN_DL_STATE_KEY,
    _apply_pending_rng_state,
    _FrozenState,
    _get_epoch,
    _get_step_phase_mapping,
    _SignalFlag,
)
from torchtnt.framework.callbacks.checkpointer_types import RestoreOptions
from torchtnt.framework.state import ActivePhase, EntryPoint, State
from torchtnt.framework.unit import AppStateMixin, TEvalUnit, TPredictUnit, TTrainData, TTrainUnit
from torchtnt.utils.checkpoint import (
    BestCheckpointConfig,
    CheckpointManager,
    CheckpointPath,
    MetricData,
    Phase,
    get_best_checkpoint_path,
    get_latest_checkpoint_path,
)
from torchtnt.utils.distributed import get_world_size, rank_zero_read_and_broadcast, sync_bool
from torchtnt.utils.stateful import Stateful

__all__ = ["BaseCheckpointer"]

logger: logging.Logger = logging.getLogger(__name__)

_FREQUENCY_ARGS = (
    "save_every_n_train_steps",
    "save_every_n_epochs",
    "save_every_n_eval_steps",
    "save_every_n_eval_epochs",
    "save_every_n_predict_steps",
    "keep_last_n_checkpoints",
)
_STEP_END_HOOKS = {
    ActivePhase.TRAIN: "on_train_step_end",
    ActivePhase.EVALUATE: "on_eval_step_end",
    ActivePhase.PREDICT: "on_predict_step_end",
}


def _check_dirpath(dirpath: Any) -> str:
    if isinstance(dirpath, os.PathLike):
        dirpath = os.fspath(dirpath)
    if not isinstance(dirpath, str) or not dirpath:
        raise TypeError(
            f"dirpath={dirpath!r} is invalid: expected a non-empty str path or URL "
            "(e.g. '/ckpts/run1' or 's3://bucket/run1')"
        )
    return dirpath


@rank_zero_read_and_broadcast
def _check_writable(dirpath: str) -> None:
    """Raise (on every rank) if rank 0, whose ``dirpath`` all ranks use, cannot write it.

    Pass ``process_group`` as a keyword. Note: collective.
    """
    if "://" in dirpath and not dirpath.startswith("file://"):
        return  # remote: writability is only known when writing
    local = dirpath[len("file://") :] if dirpath.startswith("file://") else dirpath
    ancestor = os.path.abspath(local)
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor) or not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(
            f"dirpath={dirpath!r} cannot be written: {ancestor!r} is not a writable directory"
        )


def _check_frequencies(values: Dict[str, Optional[int]]) -> None:
    for name in _FREQUENCY_ARGS:
        value = values[name]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name}={value!r} is invalid: expected a positive int or None")
        if value <= 0:
            raise ValueError(
                f"Invalid value passed for {name}. Expected to receive either None or "
                f"positive number, but received {value}"
            )


def _check_best_config(config: Optional[BestCheckpointConfig]) -> None:
    if not config:
        return
    if config.mode not in ("min", "max"):
        raise ValueError(
            "Invalid value passed for best_checkpoint_config.mode. Expected to receive "
            f"'min' or 'max', but received {config.mode}"
        )
    if not isinstance(config.monitored_metric, str) or not config.monitored_metric:
        raise ValueError(
            f"best_checkpoint_config.monitored_metric={config.monitored_metric!r} is invalid: "
            "expected the non-empty name of a unit attribute"
        )


def _resolve_process_group(
    process_group: Optional[dist.ProcessGroup], force_new: bool = False
) -> Optional[dist.ProcessGroup]:
    """A gloo group for checkpoint collectives (CPU-side object exchange)."""
    # Mocks stand in for groups in tests (as for callbacks in the entry points' checks).
    if process_group is not None and not (
        isinstance(process_group, NonCallableMock)
        or (dist.is_available() and isinstance(process_group, dist.ProcessGroup))
    ):
        raise TypeError(
            f"process_group={process_group!r} is invalid: expected a "
            "torch.distributed.ProcessGroup (e.g. from dist.new_group()) or None for all ranks"
        )
    if not (dist.is_available() and dist.is_initialized()):
        return None
    group = process_group if process_group is not None else dist.group.WORLD
    if not force_new and dist.get_backend(group) == "gloo":
        return process_group
    ranks = None if group is dist.group.WORLD else dist.get_process_group_ranks(group)
    return dist.new_group(ranks=ranks, backend="gloo", timeout=timedelta(seconds=3600))


class BaseCheckpointer(Callback, metaclass=abc.ABCMeta):
    """Base class of checkpointers: decides when to save, names and prunes checkpoints.

    Args:
        dirpath: directory (local path or fsspec URL) the checkpoints go in.
        save_every_n_train_steps: save after every n train steps.
        save_every_n_epochs: save after every n train epochs.
        save_every_n_eval_epochs: save after every n eval epochs.
        save_every_n_eval_steps: save after every n eval steps.
        save_every_n_predict_steps: save after every n predict steps.
        keep_last_n_checkpoints: keep only this many checkpoints (the newest, or the best
            ones with ``best_checkpoint_config``); older ones are deleted only after a new
            one is complete.
        best_checkpoint_config: put this unit attribute's value in checkpoint names and
            rank checkpoints by it.
        process_group: group for checkpoint collectives (a gloo group is created if it is
            not gloo).
        save_on_preemption: on SIGTERM, finish the current step, save a checkpoint and stop
            the run through its normal end hooks (opt-in).

    Raises:
        RuntimeError: if the world size is > 1 but no process group is initialized.
        TypeError / ValueError: for an invalid argument (the message names it).

    Note: collective when distributed, construct it on all ranks.
    """

    metadata_fnames: List[str] = []

    def __init__(
        self,
        dirpath: str,
        *,
        save_every_n_train_steps: Optional[int] = None,
        save_every_n_epochs: Optional[int] = None,
        save_every_n_eval_epochs: Optional[int] = None,
        save_every_n_eval_steps: Optional[int] = None,
        save_every_n_predict_steps: Optional[int] = None,
        keep_last_n_checkpoints: Optional[int] = None,
        best_checkpoint_config: Optional[BestCheckpointConfig] = None,
        process_group: Optional[dist.ProcessGroup] = None,
        save_on_preemption: bool = False,
    ) -> None:
        if get_world_size() > 1 and not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "The world size is > 1 but the default process group is not initialized; "
                "call torch.distributed.init_process_group(...) (or "
                "torchtnt.utils.init_from_env()) before creating the checkpointer."
            )
        _check_frequencies(
            {
                "save_every_n_train_steps": save_every_n_train_steps,
                "save_every_n_epochs": save_every_n_epochs,
                "save_every_n_eval_steps": save_every_n_eval_steps,
                "save_every_n_eval_epochs": save_every_n_eval_epochs,
                "save_every_n_predict_steps": save_every_n_predict_steps,
                "keep_last_n_checkpoints": keep_last_n_checkpoints,
            }
        )
        _check_best_config(best_checkpoint_config)
        dirpath = _check_dirpath(dirpath)
        self._save_every_n_train_steps = save_every_n_train_steps
        self._save_every_n_epochs = save_every_n_epochs
        self._save_every_n_eval_epochs = save_every_n_eval_epochs
        self._save_every_n_eval_steps = save_every_n_eval_steps
        self._save_every_n_predict_steps = save_every_n_predict_steps
        self._keep_last_n_checkpoints = keep_last_n_checkpoints
        self._best_checkpoint_config = best_checkpoint_config
        self._process_group = _resolve_process_group(process_group, self._needs_own_group())
        _check_writable(dirpath, process_group=self._process_group)
        self._checkpoint_manager = CheckpointManager(
            dirpath,
            best_checkpoint_config,
            keep_last_n_checkpoints,
            metadata_fnames=self.metadata_fnames,
            process_group=self._process_group,
        )
        self._preemption: Optional[_SignalFlag] = (
            _SignalFlag(signal.SIGTERM) if save_on_preemption else None
        )
        # The per-step preemption vote runs while a background save may be using the
        # checkpoint group: it gets a group of its own then.
        self._vote_group = (
            _resolve_process_group(process_group, force_new=True)
            if save_on_preemption and self._needs_own_group()
            else self._process_group
        )
        self._preempted_and_saved = False
        self._reported_metric_problems: Set[str] = set()
        # Dataloader states captured before a prefetching unit reads ahead, per phase:
        # (steps completed when captured, state, batches to skip on restore).
        self._dl_snapshots: Dict[ActivePhase, Any] = {}

    def _needs_own_group(self) -> bool:
        """Whether saves need a dedicated group (e.g. saves running in a background thread)."""
        return False

    @property
    def dirpath(self) -> str:
        """The checkpoint directory (rank 0's value on every rank)."""
        return self._checkpoint_manager.dirpath

    # ----------------------------------------------------------------------------------
    # hooks
    # ----------------------------------------------------------------------------------

    def on_train_start(self, state: State, unit: TTrainUnit) -> None:
        """Prune surplus checkpoints left by earlier runs; start watching for preemption."""
        self._start_run()
        self._checkpoint_manager.prune_surplus_checkpoints()

    def on_train_dataloader_iter_creation_start(self, state: State, unit: TTrainUnit) -> None:
        """At an epoch boundary, put restored RNG states back before the iterator draws."""
        self._before_iter_creation(state, unit)

    def on_train_get_next_batch_start(self, state: State, unit: TTrainUnit) -> None:
        """Re-apply restored RNG states; capture the dataloader before a prefetch."""
        self._before_fetch(state, unit)

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Save every ``save_every_n_train_steps`` steps (and on preemption)."""
        self._maybe_save(
            state,
            unit,
            "on_train_step_end",
            self._save_every_n_train_steps,
            unit.train_progress.num_steps_completed,
        )
        self._check_preemption(state, unit, "on_train_step_end")

    def on_train_epoch_end(self, state: State, unit: TTrainUnit) -> None:
        """Save every ``save_every_n_epochs`` epochs."""
        self._maybe_save(
            state,
            unit,
            "on_train_epoch_end",
            self._save_every_n_epochs,
            unit.train_progress.num_epochs_completed,
        )

    def on_train_end(self, state: State, unit: TTrainUnit) -> None:
        """Save a final checkpoint unless an identical one exists."""
        self._generate_checkpoint_and_upkeep(state, unit, hook="on_train_end")
        self._end_run()

    def on_eval_start(self, state: State, unit: TEvalUnit) -> None:
        """For a standalone evaluation, turn off best-checkpoint ranking and retention."""
        if state.entry_point == EntryPoint.EVALUATE:
            self._start_run()
            self._disable_ranking_and_retention("evaluate")

    def on_eval_dataloader_iter_creation_start(self, state: State, unit: TEvalUnit) -> None:
        """At an epoch boundary, put restored RNG states back before the iterator draws."""
        self._before_iter_creation(state, unit)

    def on_eval_get_next_batch_start(self, state: State, unit: TEvalUnit) -> None:
        """Re-apply restored RNG states; capture the dataloader before a prefetch."""
        self._before_fetch(state, unit)

    def on_eval_step_end(self, state: State, unit: TEvalUnit) -> None:
        """Save every ``save_every_n_eval_steps`` eval steps (and on preemption)."""
        self._maybe_save(
            state,
            unit,
            "on_eval_step_end",
            self._save_every_n_eval_steps,
            unit.eval_progress.num_steps_completed,
        )
        self._check_preemption(state, unit, "on_eval_step_end")

    def on_eval_epoch_end(self, state: State, unit: TEvalUnit) -> None:
        """Save every ``save_every_n_eval_epochs`` eval epochs."""
        self._maybe_save(
            state,
            unit,
            "on_eval_epoch_end",
            self._save_every_n_eval_epochs,
            unit.eval_progress.num_epochs_completed,
        )

    def on_eval_end(self, state: State, unit: TEvalUnit) -> None:
        """Stop watching for preemption at the end of a standalone evaluation."""
        if state.entry_point == EntryPoint.EVALUATE:
            self._end_run()

    def on_predict_start(self, state: State, unit: TPredictUnit) -> None:
        """Turn off best-checkpoint ranking and retention for prediction."""
        self._start_run()
        self._disable_ranking_and_retention("predict")

    def on_predict_dataloader_iter_creation_start(self, state: State, unit: TPredictUnit) -> None:
        """At an epoch boundary, put restored RNG states back before the iterator draws."""
        self._before_iter_creation(state, unit)

    def on_predict_get_next_batch_start(self, state: State, unit: TPredictUnit) -> None:
        """Re-apply restored RNG states; capture the dataloader before a prefetch."""
        self._before_fetch(state, unit)

    def on_predict_step_end(self, state: State, unit: TPredictUnit) -> None:
        """Save every ``save_every_n_predict_steps`` predict steps (and on preemption)."""
        self._maybe_save(
            state,
            unit,
            "on_predict_step_end",
            self._save_every_n_predict_steps,
            unit.predict_progress.num_steps_completed,
        )
        self._check_preemption(state, unit, "on_predict_step_end")

    def on_predict_end(self, state: State, unit: TPredictUnit) -> None:
        """Save a final checkpoint."""
        self._generate_checkpoint_and_upkeep(state, unit, hook="on_predict_end")
        self._end_run()

    def on_exception(self, state: State, unit: Any, exc: BaseException) -> None:
        """Stop watching for preemption."""
        self._end_run()

    # ----------------------------------------------------------------------------------
    # saving
    # ----------------------------------------------------------------------------------

    def _maybe_save(
        self, state: State, unit: AppStateMixin, hook: str, every_n: Optional[int], count: int
    ) -> None:
        if every_n and count % every_n == 0:
            self._generate_checkpoint_and_upkeep(state, unit, hook)

    def _disable_ranking_and_retention(self, what: str) -> None:
        manager = self._checkpoint_manager
        if manager._best_checkpoint_config or manager._keep_last_n_checkpoints:
            logger.warning(
                f"best_checkpoint_config and keep_last_n_checkpoints do not apply to {what} "
                "runs; they are ignored for this run."
            )
        manager._best_checkpoint_config = None
        manager._keep_last_n_checkpoints = None
        self._best_checkpoint_config = None
        self._keep_last_n_checkpoints = None

    def _generate_checkpoint_and_upkeep(self, state: State, unit: AppStateMixin, hook: str) -> bool:
        """Name, write, track and (with a limit) prune; returns True if a checkpoint was written.

        Note: collective, called on all ranks.
        """
        if self._preempted_and_saved:
            return False  # the preemption checkpoint must stay the newest one
        manager = self._checkpoint_manager
        metric_data = None
        if self._best_checkpoint_config:
            value = self._get_tracked_metric_value(unit)
            if value:
                metric_data = MetricData(self._best_checkpoint_config.monitored_metric, value)
        path = manager.generate_checkpoint_path(
            _get_epoch(state, unit),
            _get_step_phase_mapping(state, unit),
            metric_data,
            process_group=self._process_group,
        )
        if not manager.should_save_checkpoint(path):
            return False
        if hook == "on_train_end" and self._final_checkpoint_redundant(state, unit, path):
            return False
        if not self._checkpoint_impl(state, unit, checkpoint_id=path.path, hook=hook):
            return False
        self._track_checkpoint(path)
        unit.on_checkpoint_save(state, checkpoint_id=path.path)  # type: ignore[attr-defined]
        return True

    def _final_checkpoint_redundant(
        self, state: State, unit: AppStateMixin, path: CheckpointPath
    ) -> bool:
        manager = self._checkpoint_manager
        if manager.does_checkpoint_exist(path, process_group=self._process_group):
            logger.warning("Final checkpoint already exists, skipping.")
            return True
        last = manager.get_last_checkpoint()
        if (
            state.entry_point == EntryPoint.FIT
            and self._save_every_n_eval_epochs is None
            and last is not None
            and last.step.get(Phase.TRAIN) == unit.train_progress.num_steps_completed  # type: ignore[attr-defined]
        ):
            logger.info(
                "Skipping the final checkpoint: train progress has not changed since "
                f"{last.path} was saved."
            )
            return True
        return False

    def _track_checkpoint(self, path: CheckpointPath) -> None:
        """Record a checkpoint once it is complete (this may delete the oldest/worst one)."""
        self._checkpoint_manager.append_checkpoint(path)

    def _get_tracked_metric_value(self, unit: AppStateMixin) -> Optional[float]:
        """Read the monitored metric from ``unit``; None (logged once) if unusable.

        Raises:
            TypeError: from ``float()`` for values of a type it cannot convert (e.g. a list).
        """
        config = self._best_checkpoint_config
        if config is None:
            return None
        name = config.monitored_metric
        if not hasattr(unit, name):
            self._report_metric_problem(
                "missing",
                f"Unit {type(unit).__name__} has no attribute {name!r} (the monitored metric "
                "of best_checkpoint_config); saving checkpoints without a metric until it is set.",
            )
            return None
        value = getattr(unit, name)
        if value is None:
            return None
        if isinstance(value, torch.Tensor):
            value = value.detach()  # a loss straight from the step: no autograd warning
        try:
            number = float(value)
        except ValueError as e:
            self._report_metric_problem(
                "not-float", f"Unable to convert monitored metric {name}={value!r} to a float: {e}"
            )
            return None
        if math.isnan(number) or math.isinf(number):
            self._report_metric_problem(
                "not-finite",
                f"Monitored metric {name} is {number}; it is not put in checkpoint names.",
            )
            return None
        return number

    def _report_metric_problem(self, kind: str, message: str) -> None:
        # A metric the unit does not have yet (it may appear after the first evaluation) is
        # reported once, not at every save; a value that is there but unusable, every time.
        if kind == "missing" and kind in self._reported_metric_problems:
            logger.debug(message)
            return
        self._reported_metric_problems.add(kind)
        logger.error(message)

    # ----------------------------------------------------------------------------------
    # preemption and prefetch-aware dataloader capture
    # ----------------------------------------------------------------------------------

    def _start_run(self) -> None:
        self._preempted_and_saved = False
        if self._preemption is not None:
            self._preemption.raised = False
            self._preemption.install()

    def _end_run(self) -> None:
        if self._preemption is not None:
            self._preemption.uninstall()

    def _check_preemption(self, state: State, unit: AppStateMixin, hook: str) -> None:
        flag = self._preemption
        if flag is None or self._preempted_and_saved:
            return
        if not sync_bool(flag.raised, pg=self._vote_group, coherence_mode="any"):
            return
        logger.warning(f"Preempted (signal {flag.signum}): saving a checkpoint and stopping.")
        self._wait_for_pending_save()  # before the collectives below, on the save's group
        path = self._checkpoint_manager.generate_checkpoint_path(
            _get_epoch(state, unit),
            _get_step_phase_mapping(state, unit),
            None,
            process_group=self._process_group,
        )
        last = self._checkpoint_manager.get_last_checkpoint()
        just_saved = last is not None and last.epoch == path.epoch and last.step == path.step
        if not just_saved:
            self._checkpoint_impl(state, unit, checkpoint_id=path.path, hook=hook)
            self._track_checkpoint(path)
            unit.on_checkpoint_save(state, checkpoint_id=path.path)  # type: ignore[attr-defined]
        self._wait_for_pending_save()
        self._preempted_and_saved = True
        state.stop()

    def _wait_for_pending_save(self) -> None:
        """Block until a save running in the background is complete (no-op by default)."""

    def _before_iter_creation(self, state: State, unit: AppStateMixin) -> None:
        # A checkpoint taken at an epoch end is followed, in the run that wrote it, by the
        # next epoch's iterator, whose creation draws random numbers (shuffle order, worker
        # seeds): restored RNG states go back before it. Mid-epoch the iterator is remade
        # without drawing (see the loop) and the states wait for the next fetch.
        progress = unit.tracked_progress().get(f"{state.active_phase}_progress")
        if progress is not None and progress.num_steps_completed_in_epoch == 0:
            _apply_pending_rng_state(unit)

    def _before_fetch(self, state: State, unit: AppStateMixin) -> None:
        _apply_pending_rng_state(unit)
        if not getattr(unit, "_enable_prefetch", False) or not self._may_save_mid_epoch():
            return
        phase = state.active_phase
        dataloader = state.active_phase_state().dataloader
        if not isinstance(dataloader, Stateful):
            return
        progress = unit.tracked_progress()[f"{phase}_progress"]
        holds_prefetched = getattr(unit, "_holds_prefetched_batch", None)
        prefetched = holds_prefetched is not None and holds_prefetched(phase)
        # Not yet prefetched: the fetch reads this step's batch *and* the next one, so the
        # captured position is one batch behind the step's end; restore skips that batch.
        self._dl_snapshots[phase] = (
            progress.num_steps_completed,
            dataloader.state_dict(),
            0 if prefetched else 1,
        )

    def _may_save_mid_epoch(self) -> bool:
        return bool(
            self._preemption is not None
            or self._save_every_n_train_steps
            or self._save_every_n_eval_steps
            or self._save_every_n_predict_steps
            or self._save_every_n_eval_epochs
        )

    def _use_dataloader_snapshots(
        self, state: State, unit: AppStateMixin, app_state: Dict[str, Any]
    ) -> None:
        """Swap read-ahead dataloaders in ``app_state`` for their state before the read-ahead."""
        offsets: Dict[str, int] = {}
        for phase, (steps, captured, skip) in self._dl_snapshots.items():
            key = (
                _TRAIN_DL_STATE_KEY
                if phase == ActivePhase.TRAIN
                else _PHASE_DL_STATE_KEY_MAPPING[phase.into_phase()]
            )
            progress = unit.tracked_progress().get(f"{phase}_progress")
            if (
                key not in app_state
                or progress is None
                or steps != progress.num_steps_completed - 1
            ):
                continue
            app_state[key] = _FrozenState(captured)
            if skip:
                offsets[key] = skip
        if offsets:
            app_state[_DL_SKIP_STATE_KEY] = _FrozenState(offsets)

    # ----------------------------------------------------------------------------------
    # subclass interface and restore entry points
    # ----------------------------------------------------------------------------------

    @abc.abstractmethod
    def _checkpoint_impl(
        self, state: State, unit: AppStateMixin, *, checkpoint_id: str, hook: str
    ) -> bool:
        """Write one checkpoint at ``checkpoint_id``; return True if it was written."""

    @staticmethod
    @abc.abstractmethod
    def restore(
        path: str,
        unit: AppStateMixin,
        *,
        train_dataloader: Optional[Iterable[TTrainData]] = None,
        process_group: Optional[dist.ProcessGroup] = None,
        restore_options: Optional[RestoreOptions] = None,
        **kwargs: Any,
    ) -> None:
        """Load the checkpoint at ``path`` into ``unit``. Note: collective, call on all ranks."""

    @classmethod
    def restore_from_latest(
        cls,
        dirpath: str,
        unit: AppStateMixin,
        *,
        train_dataloader: Optional[Iterable[TTrainData]] = None,
        process_group: Optional[dist.ProcessGroup] = None,
        restore_options: Optional[RestoreOptions] = None,
        file_system: Optional[fsspec.AbstractFileSystem] = None,
        **kwargs: Any,
    ) -> bool:
        """Restore the newest complete checkpoint in ``dirpath``; False if there is none.

        Note: collective, call on all ranks.
        """
        path = get_latest_checkpoint_path(
            dirpath,
            metadata_fname=cls.metadata_fnames,
            file_system=file_system,
            process_group=process_group,
        )
        if path is None:
            logger.info(f"No complete checkpoint found in {dirpath!r}; nothing restored.")
            return False
        logger.info(f"Restoring from the latest checkpoint {path}")
        cls.restore(
            path,
            unit,
            train_dataloader=train_dataloader,
            process_group=process_group,
            restore_options=restore_options,
            **kwargs,
        )
        return True

    @classmethod
    def restore_from_best(
        cls,
        dirpath: str,
        unit: AppStateMixin,
        metric_name: str,
        mode: Literal["min", "max"],
        *,
        train_dataloader: Optional[Iterable[TTrainData]] = None,
        process_group: Optional[dist.ProcessGroup] = None,
        restore_options: Optional[RestoreOptions] = None,
        file_system: Optional[fsspec.AbstractFileSystem] = None,
        **kwargs: Any,
    ) -> bool:
        """Restore the complete checkpoint with the best ``metric_name``; False if none.

        Raises:
            ValueError: if ``mode`` is not "min" or "max".

        Note: collective, call on all ranks.
        """
        if mode not in ("min", "max"):
            raise ValueError(f"mode={mode!r} is invalid: expected 'min' or 'max'")
        path = get_best_checkpoint_path(
            dirpath,
            metric_name=metric_name,
            mode=mode,
            metadata_fname=cls.metadata_fnames,
            file_system=file_system,
            process_group=process_group,
        )
        if path is None:
            logger.warning(
                f"No complete checkpoint with metric {metric_name!r} found in {dirpath!r}; "
                "nothing restored."
            )
            return False
        logger.info(f"Restoring from the best checkpoint {path}")
        cls.restore(
            path,
            unit,
            train_dataloader=train_dataloader,
            process_group=process_group,
            restore_options=restore_options,
            **kwargs,
        )
        return True

    @staticmethod
    def restore_with_id(
        checkpoint_id: Any,
        unit: AppStateMixin,
        *,
        train_dataloader: Optional[Iterable[TTrainData]] = None,
        process_group: Optional[dist.ProcessGroup] = None,
        restore_options: Optional[RestoreOptions] = None,
        **kwargs: Any,
    ) -> None:
        """Restore by checkpoint id; concrete checkpointers override this.

        Note: collective, call on all ranks.
        """
        BaseCheckpointer.restore(
            str(checkpoint_id),
            unit,
            train_dataloader=train_dataloader,
            process_group=process_group,
            restore_options=restore_options,
            **kwargs,
        )
