"""Checkpoint naming, discovery and bookkeeping.

A checkpoint lives in its own directory whose name encodes when it was taken (epoch, step
counts per phase) and, optionally, the value of a tracked metric, e.g.
``epoch_1_train_step_20_eval_step_5_val_loss=0.25``. :class:`CheckpointPath` builds and
parses these names; the discovery functions list complete checkpoints (those holding a
metadata file) and pick the latest or the best one; :class:`CheckpointManager` keeps the
list of saved checkpoints and enforces ``keep_last_n_checkpoints``.
"""

import bisect
import logging
import math
import os
import re
from dataclasses import dataclass
from enum import Enum
from functools import total_ordering
from typing import Any, Dict, List, Literal, Optional, Pattern, Union

import fsspec
import torch
import torch.distributed as dist

from torchtnt.utils.distributed import PGWrapper, rank_zero_read_and_broadcast
from torchtnt.utils.fsspec import get_filesystem

__all__ = [
    "BestCheckpointConfig",
    "CheckpointManager",
    "CheckpointPath",
    "MetricData",
    "Phase",
    "does_checkpoint_exist",
    "get_best_checkpoint_path",
    "get_checkpoint_dirpaths",
    "get_latest_checkpoint_path",
    "load_from_full_model_state_dict",
]

logger: logging.Logger = logging.getLogger(__name__)

_MODES = ("min", "max")


class Phase(Enum):
    """The loop phase a step count in a checkpoint name belongs to."""

    NONE = 0
    TRAIN = 1
    EVALUATE = 2
    PREDICT = 3

    def __str__(self) -> str:
        return self.name.lower()


@dataclass
class MetricData:
    """A named metric value stored in a checkpoint's name.

    Args:
        name: the metric's name (the unit attribute it was read from).
        value: its value.
    """

    name: str
    value: float


@dataclass
class BestCheckpointConfig:
    """Which metric ranks checkpoints, and whether lower or higher is better.

    Args:
        monitored_metric: name of the unit attribute holding the metric value.
        mode: ``"min"`` if lower values are better, ``"max"`` if higher values are.
    """

    monitored_metric: str
    mode: Literal["min", "max"] = "min"


# The phase-aware name suffix of each phase, in the order they appear in a name.
_PHASE_NAME_PARTS = ((Phase.TRAIN, "train"), (Phase.EVALUATE, "eval"), (Phase.PREDICT, "predict"))


@total_ordering
class CheckpointPath:
    """The path of one checkpoint directory, with its epoch, steps and optional metric.

    ``step`` is either a dict from :class:`Phase` to step count (phase-aware names such as
    ``epoch_0_train_step_10``) or a plain int (the legacy ``epoch_0_step_10`` form, stored
    as ``{Phase.NONE: step}``). Ordering (``<``, ``sorted``) is by recency, see
    :meth:`newer_than`.

    Args:
        dirpath: the parent directory; a trailing ``/`` is dropped.
        epoch: number of epochs completed.
        step: step count(s) at save time.
        metric_data: optional metric value to put in the name.

    Raises:
        ValueError: if the metric value is NaN or infinite.
    """

    _FLOAT_REGEX: str = r"-?\d+\.?\d*(?:e[\+\-]\d+)?"
    PHASE_NAIVE_REGEX: Pattern[str] = re.compile(
        rf"^(.+)epoch_(\d+)_step_(\d+)(?:_(\w+)=({_FLOAT_REGEX}))?\/?$"
    )
    PHASE_AWARE_REGEX: Pattern[str] = re.compile(
        rf"^(.+)epoch_(\d+)(?:_train_step_(\d+))?(?:_eval_step_(\d+))?"
        rf"(?:_predict_step_(\d+))?(?:_(\w+)=({_FLOAT_REGEX}))?\/?$"
    )

    def __init__(
        self,
        dirpath: str,
        epoch: int,
        step: Union[Dict[Phase, int], int],
        metric_data: Optional[MetricData] = None,
    ) -> None:
        self._populate(dirpath, epoch, step, metric_data)

    def _populate(
        self,
        dirpath: str,
        epoch: int,
        step: Union[Dict[Phase, int], int],
        metric_data: Optional[MetricData],
    ) -> None:
        if metric_data is not None:
            if math.isnan(metric_data.value):
                raise ValueError(
                    f"Value of monitored metric '{metric_data.name}' can't be NaN in "
                    "CheckpointPath."
                )
            if math.isinf(metric_data.value):
                raise ValueError(
                    f"Value of monitored metric '{metric_data.name}' can't be inf in "
                    "CheckpointPath."
                )
        self.dirpath: str = dirpath.rstrip("/")
        self.epoch: int = epoch
        self.step: Dict[Phase, int] = step if isinstance(step, dict) else {Phase.NONE: step}
        self.metric_data: Optional[MetricData] = metric_data

    @classmethod
    def from_str(cls, checkpoint_path: str) -> "CheckpointPath":
        """Parse a checkpoint path such as ``/ckpts/epoch_1_train_step_20_loss=0.5``.

        Args:
            checkpoint_path: the full path; at least one character must precede ``epoch_``.

        Raises:
            ValueError: if the name does not follow the checkpoint naming scheme.
        """
        path = cls.__new__(cls)
        path._parse(checkpoint_path)
        return path

    def _parse(self, checkpoint_path: str) -> None:
        is_phase_aware = any(
            marker in checkpoint_path for marker in ("train_step", "eval_step", "predict_step")
        )
        regex = self.PHASE_AWARE_REGEX if is_phase_aware else self.PHASE_NAIVE_REGEX
        match = regex.match(checkpoint_path)
        if match is None:
            raise ValueError(f"Attempted to parse malformed checkpoint path: {checkpoint_path}.")
        groups = match.groups()
        dirpath, epoch = groups[0], int(groups[1])
        if is_phase_aware:
            step: Union[Dict[Phase, int], int] = {
                phase: int(count)
                for (phase, _), count in zip(_PHASE_NAME_PARTS, groups[2:5])
                if count is not None
            }
            metric_name, metric_value = groups[5], groups[6]
        else:
            step = int(groups[2])
            metric_name, metric_value = groups[3], groups[4]
        metric_data = None
        if metric_name is not None:
            metric_data = MetricData(name=metric_name, value=float(metric_value))
        self._populate(dirpath, epoch, step, metric_data)

    @property
    def path(self) -> str:
        """The full checkpoint path: ``dirpath`` joined with the generated name."""
        name = f"epoch_{self.epoch}"
        if self._is_phase_aware():
            for phase, label in _PHASE_NAME_PARTS:
                if phase in self.step:
                    name += f"_{label}_step_{self.step[phase]}"
        else:
            name += f"_step_{self.step[Phase.NONE]}"
        if self.metric_data is not None:
            name += f"_{self.metric_data.name}={self.metric_data.value}"
        return os.path.join(self.dirpath, name)

    def _is_phase_aware(self) -> bool:
        return Phase.NONE not in self.step

    def _phase_tuple(self) -> tuple:
        return tuple(self.step.get(p, 0) for p in (Phase.PREDICT, Phase.EVALUATE, Phase.TRAIN))

    def newer_than(self, other: "CheckpointPath") -> bool:
        """Return True if this checkpoint was taken strictly after ``other``.

        Epochs decide first. A phase-aware name against a legacy one compares total steps
        (a tie goes to the phase-aware one); two legacy names compare their step; two
        phase-aware names prefer the one with an eval step if only one has it, and
        otherwise compare (predict, eval, train) step counts in that order.
        """
        if self.epoch != other.epoch:
            return self.epoch > other.epoch
        mine_aware, other_aware = self._is_phase_aware(), other._is_phase_aware()
        if mine_aware != other_aware:
            mine, theirs = sum(self.step.values()), sum(other.step.values())
            if mine != theirs:
                return mine > theirs
            return mine_aware
        if not mine_aware:
            return self.step[Phase.NONE] > other.step[Phase.NONE]
        mine_eval, other_eval = Phase.EVALUATE in self.step, Phase.EVALUATE in other.step
        if mine_eval != other_eval:
            return mine_eval
        return self._phase_tuple() > other._phase_tuple()

    def more_optimal_than(self, other: "CheckpointPath", mode: Literal["min", "max"]) -> bool:
        """Return True if this checkpoint's metric is strictly better than ``other``'s.

        A checkpoint with a metric beats one without; without metrics on either side the
        newer one wins.

        Raises:
            AssertionError: if both carry metrics of different names.
        """
        if self.metric_data is None and other.metric_data is None:
            return self.newer_than(other)
        if self.metric_data is None or other.metric_data is None:
            return self.metric_data is not None
        assert self.metric_data.name == other.metric_data.name, (
            "Attempted to compare checkpoints tracking different metrics: "
            f"'{self.metric_data.name}' and '{other.metric_data.name}'"
        )
        if mode == "min":
            return self.metric_data.value < other.metric_data.value
        return self.metric_data.value > other.metric_data.value

    def __str__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return (
            f"CheckpointPath(dirpath={self.dirpath}, epoch={self.epoch}, step={self.step}, "
            f"metric_data={self.metric_data})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CheckpointPath):
            return NotImplemented
        return (
            self.dirpath == other.dirpath
            and self.epoch == other.epoch
            and self.step == other.step
            and self.metric_data == other.metric_data
        )

    def __gt__(self, other: "CheckpointPath") -> bool:
        return self.newer_than(other)

    def __hash__(self) -> int:
        return hash(self.path)

    def __getstate__(self) -> str:
        return self.path

    def __setstate__(self, state: str) -> None:
        self._parse(state)


def _as_list(metadata_fname: Optional[Union[str, List[str]]]) -> List[str]:
    if not metadata_fname:
        return []
    if isinstance(metadata_fname, str):
        return [metadata_fname]
    return list(metadata_fname)


def _metadata_exists(fs: fsspec.AbstractFileSystem, dirpath: str, metadata_fname: str) -> bool:
    """Return True if ``metadata_fname`` exists inside ``dirpath`` on ``fs``."""
    return fs.exists(os.path.join(dirpath, metadata_fname))


def _listed_to_user_path(listed: str, dirpath: str, fs: fsspec.AbstractFileSystem) -> str:
    # Remote listings drop the protocol ("bucket/run/x" for "s3://bucket/run"); put it back
    # so the returned path can be opened again.
    if "://" in dirpath and "://" not in listed:
        return fs.unstrip_protocol(listed)
    return listed


def _retrieve_checkpoint_dirpaths(
    dirpath: str,
    metadata_fname: Optional[Union[str, List[str]]],
    metric_name: Optional[str] = None,
    file_system: Optional[fsspec.AbstractFileSystem] = None,
) -> List[CheckpointPath]:
    """List the checkpoint directories directly inside ``dirpath`` (unordered).

    Files and directories whose names are not checkpoint names are ignored. With
    ``metric_name`` only checkpoints carrying that metric are kept. With ``metadata_fname``
    only complete checkpoints (holding at least one of the metadata files) are kept; each
    incomplete one is skipped with a warning.
    """
    fs = file_system if file_system is not None else get_filesystem(dirpath)
    if not fs.exists(dirpath):
        logger.warning(f"Checkpoint directory {dirpath!r} does not exist: no checkpoints in it.")
        return []
    names = [item["name"] for item in fs.ls(dirpath, detail=True) if item["type"] == "directory"]
    metadata_fnames = _as_list(metadata_fname)
    found: List[CheckpointPath] = []
    for name in names:
        listed = _listed_to_user_path(name.rstrip("/"), dirpath, fs)
        try:
            ckpt = CheckpointPath.from_str(listed)
        except ValueError:
            continue
        if metric_name is not None and (
            ckpt.metric_data is None or ckpt.metric_data.name != metric_name
        ):
            continue
        if metadata_fnames and not any(_metadata_exists(fs, listed, f) for f in metadata_fnames):
            logger.warning(
                f"Skipping incomplete checkpoint {listed!r}: none of its metadata files "
                f"{metadata_fnames} exist (it may still be written, or its save was interrupted)."
            )
            continue
        found.append(ckpt)
    return found


@rank_zero_read_and_broadcast
def get_checkpoint_dirpaths(
    dirpath: str,
    metadata_fname: Optional[Union[str, List[str]]] = None,
    metric_name: Optional[str] = None,
    file_system: Optional[fsspec.AbstractFileSystem] = None,
) -> List[CheckpointPath]:
    """List the checkpoints in ``dirpath`` (unordered); see :func:`_retrieve_checkpoint_dirpaths`.

    Pass ``process_group`` as a keyword to choose the group rank 0's result is broadcast
    over. Note: collective when a process group is initialized, call it on all ranks.
    """
    return _retrieve_checkpoint_dirpaths(dirpath, metadata_fname, metric_name, file_system)


@rank_zero_read_and_broadcast
def get_latest_checkpoint_path(
    dirpath: str,
    metadata_fname: Optional[Union[str, List[str]]] = None,
    file_system: Optional[fsspec.AbstractFileSystem] = None,
) -> Optional[str]:
    """Return the path of the most recent checkpoint in ``dirpath``, or None.

    Only complete checkpoints count when ``metadata_fname`` names the file a saver writes
    last (``".metadata"`` for DistributedCheckpointSaver); without it every checkpoint
    directory counts. Pass ``process_group`` as a keyword to choose the broadcast group. Note: collective
    when a process group is initialized, call it on all ranks.
    """
    candidates = _retrieve_checkpoint_dirpaths(dirpath, metadata_fname, file_system=file_system)
    best: Optional[CheckpointPath] = None
    for ckpt in candidates:
        if best is None or ckpt.newer_than(best):
            best = ckpt
    return best.path if best is not None else None


@rank_zero_read_and_broadcast
def get_best_checkpoint_path(
    dirpath: str,
    metric_name: str,
    mode: Literal["min", "max"],
    metadata_fname: Optional[Union[str, List[str]]] = None,
    file_system: Optional[fsspec.AbstractFileSystem] = None,
) -> Optional[str]:
    """Return the path of the complete checkpoint with the best ``metric_name``, or None.

    Args:
        dirpath: directory holding the checkpoints.
        metric_name: the metric in the checkpoint names to rank by.
        mode: ``"min"`` (lower is better) or ``"max"``.
        metadata_fname: file(s) marking a complete checkpoint.
        file_system: filesystem to use (inferred from ``dirpath`` otherwise).

    Note: collective when a process group is initialized (pass ``process_group`` as a
    keyword), call it on all ranks.
    """
    candidates = _retrieve_checkpoint_dirpaths(
        dirpath, metadata_fname, metric_name=metric_name, file_system=file_system
    )
    best: Optional[CheckpointPath] = None
    for ckpt in candidates:
        if best is None or ckpt.more_optimal_than(best, mode):
            best = ckpt
    return best.path if best is not None else None


@rank_zero_read_and_broadcast
def does_checkpoint_exist(
    ckpt_path: str,
    metadata_fname: Union[str, List[str]],
    file_system: Optional[fsspec.AbstractFileSystem] = None,
) -> bool:
    """Return True if ``ckpt_path`` holds at least one of the metadata files.

    Returns False when no metadata file name is given. Note: collective when a process
    group is initialized (pass ``process_group`` as a keyword), call it on all ranks.
    """
    fnames = _as_list(metadata_fname)
    if not fnames:
        return False
    fs = file_system if file_system is not None else get_filesystem(ckpt_path)
    return any(_metadata_exists(fs, ckpt_path, f) for f in fnames)


def _metric_sort_key(mode: str) -> Any:
    # Worst first: descending values in "min" mode, ascending in "max" mode.
    sign = -1.0 if mode == "min" else 1.0
    return lambda ckpt: sign * ckpt.metric_data.value


class CheckpointManager:
    """Keeps the list of checkpoints a run saved and deletes surplus ones.

    The tracked list is ordered so that index 0 is the next to delete: the oldest one, or
    with a :class:`BestCheckpointConfig` the one with the worst metric. Only rank 0 touches
    the filesystem; every rank keeps the same list.

    Args:
        dirpath: directory the checkpoints go in (rank 0's value is used on every rank).
        best_checkpoint_config: rank checkpoints by this metric instead of by recency.
        keep_last_n_checkpoints: keep at most this many checkpoints; None keeps all.
        metadata_fnames: files whose presence marks a complete checkpoint.
        process_group: group used to agree on paths and decisions.
        file_system: filesystem to use; inferred from ``dirpath`` otherwise.

    Note: collective when a process group is initialized, construct it on all ranks.
    """

    def __init__(
        self,
        dirpath: str,
        best_checkpoint_config: Optional[BestCheckpointConfig] = None,
        keep_last_n_checkpoints: Optional[int] = None,
        metadata_fnames: Optional[List[str]] = None,
        process_group: Optional[dist.ProcessGroup] = None,
        file_system: Optional[fsspec.AbstractFileSystem] = None,
    ) -> None:
        self.dirpath: str = self._sync_dirpath_to_all_ranks(dirpath, process_group=process_group)
        self._best_checkpoint_config = best_checkpoint_config
        self._keep_last_n_checkpoints = keep_last_n_checkpoints
        self._metadata_fnames: List[str] = list(metadata_fnames or [])
        self._pg_wrapper = PGWrapper(process_group)
        self._file_system: fsspec.AbstractFileSystem = (
            file_system if file_system is not None else get_filesystem(self.dirpath)
        )
        self._ckpt_paths: List[CheckpointPath] = []
        if keep_last_n_checkpoints:
            self._ckpt_paths = self._load_existing(process_group)

    def _load_existing(self, process_group: Optional[dist.ProcessGroup]) -> List[CheckpointPath]:
        config = self._best_checkpoint_config
        found = get_checkpoint_dirpaths(
            self.dirpath,
            metadata_fname=self._metadata_fnames,
            metric_name=config.monitored_metric if config else None,
            process_group=process_group,
        )
        if config:
            return sorted(found, key=_metric_sort_key(config.mode))
        return sorted(found)

    @staticmethod
    @rank_zero_read_and_broadcast
    def _sync_dirpath_to_all_ranks(dirpath: str) -> str:
        """Return rank 0's ``dirpath`` on every rank (pass ``process_group`` as a keyword)."""
        return dirpath

    def prune_surplus_checkpoints(self) -> None:
        """Delete tracked checkpoints beyond ``keep_last_n_checkpoints``, oldest/worst first."""
        limit = self._keep_last_n_checkpoints
        if not limit:
            return
        while len(self._ckpt_paths) > limit:
            self.remove_checkpoint()

    def generate_checkpoint_path(
        self,
        epoch: int,
        step: Union[Dict[Phase, int], int],
        metric_data: Optional[MetricData] = None,
        process_group: Optional[dist.ProcessGroup] = None,
    ) -> CheckpointPath:
        """Build the path of a new checkpoint (rank 0's value is used on every rank).

        Raises:
            AssertionError: if ``metric_data`` is given without a best-checkpoint config,
                or names a different metric than the config.

        Note: collective when a process group is initialized, call it on all ranks.
        """
        return self._generate_path(self, epoch, step, metric_data, process_group=process_group)

    @staticmethod
    @rank_zero_read_and_broadcast
    def _generate_path(
        manager: "CheckpointManager",
        epoch: int,
        step: Union[Dict[Phase, int], int],
        metric_data: Optional[MetricData],
    ) -> CheckpointPath:
        if metric_data is not None:
            config = manager._best_checkpoint_config
            assert config is not None, (
                "Attempted to get a checkpoint path with metric data, but no "
                "best_checkpoint_config was set."
            )
            assert config.monitored_metric == metric_data.name, (
                f"Attempted to get a checkpoint path with metric '{metric_data.name}', but "
                f"the best checkpoint config monitors '{config.monitored_metric}'."
            )
        return CheckpointPath(manager.dirpath, epoch, step, metric_data)

    def should_save_checkpoint(self, checkpoint: CheckpointPath) -> bool:
        """Return True unless the limit is reached and ``checkpoint`` is not better than the worst kept one."""
        limit = self._keep_last_n_checkpoints
        config = self._best_checkpoint_config
        if not limit or len(self._ckpt_paths) < limit or not config:
            return True
        return checkpoint.more_optimal_than(self._ckpt_paths[0], config.mode)

    def append_checkpoint(self, ckpt: CheckpointPath) -> None:
        """Track a newly completed checkpoint, first deleting the oldest/worst at the limit.

        With a best-checkpoint config a checkpoint without a metric is not tracked (so it
        is never deleted by retention). Note: collective, call it on all ranks.
        """
        limit = self._keep_last_n_checkpoints
        if limit and len(self._ckpt_paths) >= limit:
            self.remove_checkpoint()
        config = self._best_checkpoint_config
        if not config:
            self._ckpt_paths.append(ckpt)
            return
        if ckpt.metric_data is None:
            return
        key = _metric_sort_key(config.mode)
        keys = [key(p) for p in self._ckpt_paths]
        # "min": an equal value counts as worse (goes first); "max": as better (goes after).
        if config.mode == "min":
            index = bisect.bisect_left(keys, key(ckpt))
        else:
            index = bisect.bisect_right(keys, key(ckpt))
        self._ckpt_paths.insert(index, ckpt)

    def remove_checkpoint(self) -> None:
        """Stop tracking the oldest/worst checkpoint and delete it (rank 0; errors are logged)."""
        worst = self._ckpt_paths.pop(0)
        if self._pg_wrapper.get_rank() != 0:
            return
        try:
            self._file_system.rm(worst.path, recursive=True)
        except Exception as e:
            logger.error(
                f"Failed to delete checkpoint {worst.path!r} while pruning old checkpoints; "
                f"it may be partially deleted, so do not restore from it. Error: {e!r}"
            )

    def get_last_checkpoint(self) -> Optional[CheckpointPath]:
        """The last tracked checkpoint (newest, or best with a config), or None."""
        return self._ckpt_paths[-1] if self._ckpt_paths else None

    def does_checkpoint_exist(
        self, ckpt: CheckpointPath, process_group: Optional[dist.ProcessGroup] = None
    ) -> bool:
        """Return True if ``ckpt`` is complete (False when no metadata files are configured).

        Note: collective when a process group is initialized, call it on all ranks.
        """
        return does_checkpoint_exist(
            ckpt.path,
            self._metadata_fnames,
            file_system=self._file_system,
            process_group=process_group,
        )

    def does_checkpoint_metadata_exist(self, checkpoint_path: str, metadata_fname: str) -> bool:
        """Return True if ``metadata_fname`` exists inside ``checkpoint_path``."""
        return _metadata_exists(self._file_system, checkpoint_path, metadata_fname)


def load_from_full_model_state_dict(
    model: torch.nn.Module,
    full_sd: Dict[str, Any],
    device: torch.device,
    strict: bool = False,
    cpu_offload: bool = False,
    release_sd: bool = True,
) -> Any:
    """Load a full (unsharded) state dict into a possibly sharded (DTensor) model.

    Each tensor is converted to the model parameter's dtype and device and, for DTensor
    parameters, sharded like the parameter; ``full_sd`` entries are released as they are
    consumed when ``release_sd``.

    Args:
        model: the model to load into.
        full_sd: the full state dict.
        device: device to move the tensors to.
        strict: passed to ``load_state_dict``.
        cpu_offload: keep the loaded shards on the CPU.
        release_sd: set each consumed entry of ``full_sd`` to None to free memory.

    Returns:
        The ``_IncompatibleKeys`` of ``load_state_dict``.

    Raises:
        AssertionError: if ``full_sd`` has a key the model lacks.
    """
    from torch.distributed.tensor import distribute_tensor

    meta_sd = model.state_dict()
    sharded: Dict[str, Any] = {}
    for key in sorted(full_sd):
        assert key in meta_sd, f"Key {key!r} of the full state dict is not in the model."
        target = meta_sd[key]
        tensor = full_sd[key].to(dtype=target.dtype, device=device)
        if hasattr(target, "device_mesh"):
            tensor = distribute_tensor(tensor, target.device_mesh, target.placements)
        if cpu_offload:
            tensor = tensor.cpu()
        sharded[key] = torch.nn.Parameter(tensor)
        if release_sd:
            full_sd[key] = None
    return model.load_state_dict(sharded, strict=strict, assign=True)
