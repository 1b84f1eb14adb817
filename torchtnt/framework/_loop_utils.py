"""Small pure helpers of the loop engine: stop conditions, epoch reasons, module modes."""

import importlib
import logging
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import torch

from torchtnt.utils.progress import Progress

_log: logging.Logger = logging.getLogger(__name__)

# Set on a unit by a restore from a fit checkpoint taken in the middle of an evaluation: the
# resumed fit finishes that evaluation before training on (read once by the loop).
RESUME_INSIDE_EVAL_ATTR = "_tnt_resume_inside_eval"


def _is_done(progress: Progress, max_epochs: Optional[int], max_steps: Optional[int]) -> bool:
    """Return True when the epoch or step limit of the whole loop is reached."""
    return (max_steps is not None and progress.num_steps_completed >= max_steps) or (
        max_epochs is not None and progress.num_epochs_completed >= max_epochs
    )


def _is_epoch_done(
    progress: Progress, max_steps_per_epoch: Optional[int], max_steps: Optional[int]
) -> bool:
    """Return True when the current epoch must end because of a step limit."""
    return (max_steps is not None and progress.num_steps_completed >= max_steps) or (
        max_steps_per_epoch is not None
        and progress.num_steps_completed_in_epoch >= max_steps_per_epoch
    )


def _reason_epoch_completed(
    progress: Progress,
    max_steps_per_epoch: Optional[int],
    max_steps: Optional[int],
    stop_iteration_reached: bool,
) -> str:
    """Explain in one sentence why the current train epoch ended."""
    epoch = progress.num_epochs_completed + 1
    if stop_iteration_reached:
        return f"Train epoch {epoch} ended as it reached end of train dataloader"
    if (
        max_steps_per_epoch is not None
        and progress.num_steps_completed_in_epoch >= max_steps_per_epoch
    ):
        return f"Train epoch {epoch} ended as max steps per epoch reached: {max_steps_per_epoch}"
    if max_steps is not None and progress.num_steps_completed >= max_steps:
        return f"Train epoch {epoch} ended as max steps reached: {max_steps}"
    return f"Unable to determine reason for stopping train epoch {epoch}"


def _maybe_set_distributed_sampler_epoch(dataloader: Iterable[object], current_epoch: int) -> None:
    """Tell a DataLoader's sampler the epoch number, so distributed shuffling changes per epoch."""
    if isinstance(dataloader, torch.utils.data.DataLoader):
        set_epoch = getattr(dataloader.sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(current_epoch)


def _unwrap_ddp(module: torch.nn.Module) -> torch.nn.Module:
    if isinstance(module, torch.nn.parallel.DistributedDataParallel):
        return module.module
    return module


def _exported_mode_helpers() -> Optional[Tuple[Callable[..., Any], ...]]:
    """The pt2e helpers that switch an exported graph between train and eval behaviour.

    They moved from ``torch.ao`` to ``torchao`` over torch releases; None if neither exists.
    """
    for module_name in ("torch.ao.quantization.pt2e.export_utils", "torchao.quantization.pt2e"):
        try:
            module = importlib.import_module(module_name)
            return (
                module.model_is_exported,
                module.move_exported_model_to_train,
                module.move_exported_model_to_eval,
            )
        except (ImportError, AttributeError):
            continue
    return None


def _is_exported(module: torch.nn.Module) -> bool:
    # torch.export produces GraphModules whose train()/eval() are replaced on the instance
    # with functions that raise; checking that is cheap and needs no extra import.
    inner = _unwrap_ddp(module)
    return isinstance(inner, torch.fx.GraphModule) and "train" in inner.__dict__


def _set_training_flag(module: torch.nn.Module, mode: bool) -> None:
    if not _is_exported(module):
        module.train(mode)
        return
    helpers = _exported_mode_helpers()
    inner = _unwrap_ddp(module)
    if helpers is not None:
        _, to_train, to_eval = helpers
        (to_train if mode else to_eval)(inner)
    else:
        _log.debug(
            "exported module: only its training flag is switched (install torchao to also "
            "switch dropout/batch-norm behaviour of the exported graph)"
        )
    inner.training = mode
    module.training = mode


def _set_module_training_mode(modules: Dict[str, torch.nn.Module], mode: bool) -> Dict[str, bool]:
    """Put every module in train (``mode=True``) or eval mode; return their prior modes."""
    prior = {name: module.training for name, module in modules.items()}
    for module in modules.values():
        _set_training_flag(module, mode)
    return prior


def _reset_module_training_mode(
    modules: Dict[str, torch.nn.Module], prior_modes: Dict[str, bool]
) -> None:
    """Restore the modes recorded by :func:`_set_module_training_mode`."""
    for name, module in modules.items():
        if name in prior_modes:
            _set_training_flag(module, prior_modes[name])


def _log_api_usage(entry_point: str) -> None:
    """Record use of an entry point with PyTorch's API-usage logger."""
    torch._C._log_api_usage_once(f"torchtnt.framework.{entry_point}")
