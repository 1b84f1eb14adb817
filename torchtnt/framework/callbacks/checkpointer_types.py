"""Option records passed to the checkpointers."""

from dataclasses import dataclass
from typing import Optional

__all__ = ["KnobOptions", "RestoreOptions"]


@dataclass
class KnobOptions:
    """Performance knobs of checkpoint I/O.

    Args:
        max_per_rank_io_concurrency: most concurrent I/O operations (writer threads) per
            rank; None uses the checkpointer's default.
        enable_storage_optimization: let the storage layer optimize (e.g. batch small
            writes) where it supports that.
    """

    max_per_rank_io_concurrency: Optional[int] = None
    enable_storage_optimization: bool = True


@dataclass
class RestoreOptions:
    """Which parts of a checkpoint to restore.

    Args:
        restore_modules: load the tracked modules' weights.
        restore_train_progress: load the train progress counters.
        restore_eval_progress: load the eval progress counters.
        restore_predict_progress: load the predict progress counters.
        restore_optimizers: load the optimizers' states.
        restore_lr_schedulers: load the LR schedulers' states.
        strict: fail if the checkpoint lacks something asked for (otherwise load what is
            there).
        init_optim_states: initialize empty optimizer states before loading so their
            structure matches the saved one.
        restore_rng_states: load the per-rank torch / numpy / Python RNG states saved with
            the checkpoint, when it has them (an extension of TorchTNT's options).
    """

    restore_modules: bool = True
    restore_train_progress: bool = True
    restore_eval_progress: bool = True
    restore_predict_progress: bool = True
    restore_optimizers: bool = True
    restore_lr_schedulers: bool = True
    strict: bool = True
    init_optim_states: bool = True
    restore_rng_states: bool = True
