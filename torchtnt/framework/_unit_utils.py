"""Small helpers about units: step signatures and optimizer ownership."""

import collections.abc
import inspect
import logging
from typing import Callable, Dict, List, Tuple

import torch
import typing_extensions

_log: logging.Logger = logging.getLogger(__name__)


def _step_requires_iterator(step_func: Callable[..., object]) -> bool:
    """Return True if the step's ``data`` parameter is annotated as ``Iterator[...]``.

    Such a step receives the epoch's data iterator and fetches batches itself. String
    annotations are not resolved, so they count as "not an iterator".
    """
    annotations = inspect.getfullargspec(step_func).annotations
    if "data" not in annotations:
        _log.warning(
            f"{getattr(step_func, '__qualname__', step_func)} has no annotation for its 'data' "
            "parameter; assuming it takes one batch per call"
        )
        return False
    return typing_extensions.get_origin(annotations["data"]) is collections.abc.Iterator


def _find_optimizers_for_module(
    module: torch.nn.Module, optimizers: Dict[str, torch.optim.Optimizer]
) -> List[Tuple[str, torch.optim.Optimizer]]:
    """Return the (name, optimizer) pairs whose first param group holds all of ``module``'s
    parameters (compared by storage address)."""
    module_ptrs = {p.data_ptr() for p in module.parameters()}
    found = []
    for name, optimizer in optimizers.items():
        group_ptrs = {p.data_ptr() for p in optimizer.param_groups[0]["params"]}
        if module_ptrs <= group_ptrs:
            found.append((name, optimizer))
    return found
