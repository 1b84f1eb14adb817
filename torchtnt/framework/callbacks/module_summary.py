"""Summarize the unit's modules (parameters, sizes, FLOPs) when a phase starts."""

import logging
from typing import Any, Callable, Dict, List, Mapping, MutableMapping, Optional, Tuple

import torch

from torchtnt.framework.callback import Callback
from torchtnt.framework.state import EntryPoint, State
from torchtnt.framework.unit import AppStateMixin, TEvalUnit, TPredictUnit, TTrainUnit
from torchtnt.utils.module_summary import ModuleSummary as ModuleSummaryObj
from torchtnt.utils.module_summary import (
    get_module_summary,
    get_summary_table,
    prune_module_summary,
)
from torchtnt.utils.rank_zero_log import rank_zero_info

__all__ = ["ModuleSummary"]

logger: logging.Logger = logging.getLogger(__name__)

ModuleInputs = MutableMapping[str, Tuple[Tuple[Any, ...], Dict[str, Any]]]


def _log_module_summary_tables(module_summaries: List[ModuleSummaryObj]) -> None:
    """Log each summary as a table, on rank 0."""
    for summary in module_summaries:
        rank_zero_info("\n" + get_summary_table(summary), logger=logger)


def _check_args(max_depth: Optional[int], process_fn: Any, module_inputs: Any) -> None:
    if max_depth is not None and (
        isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0
    ):
        raise ValueError(
            f"max_depth={max_depth!r} is invalid: expected an int >= 1 (the root module is "
            "depth 1), or None / 0 for the full depth"
        )
    if not callable(process_fn):
        raise TypeError(
            f"process_fn={process_fn!r} is invalid: expected a callable taking the list of "
            "module summaries"
        )
    if module_inputs is not None and not isinstance(module_inputs, Mapping):
        raise TypeError(
            f"module_inputs={module_inputs!r} is invalid: expected a mapping of module "
            "attribute name to (args, kwargs) for its forward, or None"
        )
    for name, inputs in (module_inputs or {}).items():
        if not (
            isinstance(inputs, (tuple, list))
            and len(inputs) == 2
            and isinstance(inputs[0], (tuple, list))
            and isinstance(inputs[1], Mapping)
        ):
            raise TypeError(
                f"module_inputs[{name!r}] is invalid: expected a pair (args, kwargs), e.g. "
                "((x,), {}) for module(x)"
            )


class ModuleSummary(Callback):
    """Summarize every tracked module of the unit when a phase starts.

    For each module the unit tracks (by attribute name),
    :func:`torchtnt.utils.module_summary.get_module_summary` counts parameters and sizes;
    if ``module_inputs`` has example ``(args, kwargs)`` for that name, the module is also
    run once on them to measure FLOPs, input/output sizes and forward time. The summaries
    go to ``process_fn``, which by default logs one table per module on rank 0. Runs at
    ``on_train_start``, ``on_predict_start`` and, for ``evaluate()`` only (not inside
    ``fit()``), ``on_eval_start``.

    Args:
        max_depth: deepest level of submodules kept (the root is depth 1); None or 0 keeps
            all of them.
        process_fn: called with the list of summaries.
        module_inputs: module attribute name to ``(args, kwargs)`` for one forward call.

    Raises:
        ValueError: ``max_depth`` is negative or not an int.
        TypeError: ``process_fn`` is not callable or ``module_inputs`` is not a mapping.
    """

    def __init__(
        self,
        max_depth: Optional[int] = None,
        process_fn: Callable[[List[ModuleSummaryObj]], None] = _log_module_summary_tables,
        module_inputs: Optional[ModuleInputs] = None,
    ) -> None:
        _check_args(max_depth, process_fn, module_inputs)
        self._max_depth = max_depth
        self._process_fn = process_fn
        self._module_inputs = module_inputs

    def _retrieve_module_summaries(self, unit: AppStateMixin) -> List[ModuleSummaryObj]:
        """Summarize each tracked module of ``unit``, pruned to ``max_depth``."""
        summaries = []
        for name, module in unit.tracked_modules().items():
            args, kwargs = (), {}
            if self._module_inputs is not None and name in self._module_inputs:
                args, kwargs = self._module_inputs[name]
            # predict() runs its hooks under inference mode, where modules dispatch fused ops
            # (e.g. aten.linear) that the FLOP counter does not see; summarize in normal mode.
            with torch.inference_mode(False):
                summary = get_module_summary(module, module_args=args, module_kwargs=kwargs)
            summary._module_name = name
            if self._max_depth:
                prune_module_summary(summary, max_depth=self._max_depth)
            summaries.append(summary)
        return summaries

    def _summarize(self, unit: AppStateMixin) -> None:
        self._process_fn(self._retrieve_module_summaries(unit))

    def on_train_start(self, state: State, unit: TTrainUnit) -> None:
        """Summarize the unit's modules."""
        self._summarize(unit)

    def on_eval_start(self, state: State, unit: TEvalUnit) -> None:
        """Summarize the unit's modules, unless this eval runs inside ``fit()``."""
        if state.entry_point == EntryPoint.EVALUATE:
            self._summarize(unit)

    def on_predict_start(self, state: State, unit: TPredictUnit) -> None:
        """Summarize the unit's modules."""
        self._summarize(unit)
