"""Summarize a module tree: parameter counts, sizes and, given example inputs, FLOPs,
activation sizes and forward times per submodule.

Running the example forward/backward leaves the module as it was: parameter gradients and
buffers (e.g. BatchNorm running statistics) are restored afterwards.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Dict, List, MutableMapping, Optional, Tuple, Union

import torch
from torch.nn.parameter import is_lazy
from torch.utils._pytree import tree_flatten
from torch.utils.hooks import RemovableHandle

from torchtnt.utils.flops import FlopTensorDispatchMode

__all__ = [
    "ModuleSummary",
    "get_module_summary",
    "get_summary_table",
    "prune_module_summary",
]

_UNKNOWN = "?"
_DEFAULT_COUNT_LABELS = [" ", "K", "M", "B", "T"]

_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("Name", "module_name"),
    ("Type", "module_type"),
    ("# Parameters", "num_parameters"),
    ("# Trainable Parameters", "num_trainable_parameters"),
    ("Size (bytes)", "size_bytes"),
    ("Contains Uninitialized Parameters?", "has_uninitialized_param"),
    ("Forward FLOPs", "flops_forward"),
    ("Backward FLOPs", "flops_backward"),
    ("In size", "in_size"),
    ("Out size", "out_size"),
    ("Forward Elapsed Times (ms)", "forward_elapsed_time_ms"),
)
_COUNT_COLUMNS = frozenset(
    ["num_parameters", "num_trainable_parameters", "size_bytes", "flops_forward", "flops_backward"]
)


class ModuleSummary:
    """Statistics of one module and, recursively, of its submodules.

    Built by :func:`get_module_summary`; the properties are read-only. Fields that need an
    example forward pass (FLOPs, activation sizes, elapsed time) read ``"?"`` when none ran.
    ``_module_name`` may be assigned to label the root (the ModuleSummary callback does).
    """

    def __init__(self) -> None:
        self._module_name: str = ""
        self._module_type: str = ""
        self._num_parameters: int = 0
        self._num_trainable_parameters: int = 0
        self._size_bytes: int = 0
        self._has_uninitialized_param: bool = False
        self._flops_forward: Union[int, str] = _UNKNOWN
        self._flops_backward: Union[int, str] = _UNKNOWN
        self._in_size: Union[List[Any], str] = _UNKNOWN
        self._out_size: Union[List[Any], str] = _UNKNOWN
        self._forward_elapsed_time_ms: Union[float, str] = _UNKNOWN
        self._submodule_summaries: Dict[str, ModuleSummary] = {}

    @property
    def submodule_summaries(self) -> Dict[str, "ModuleSummary"]:
        """Summaries of the direct children, keyed by their dotted path from the root."""
        return self._submodule_summaries

    @property
    def module_name(self) -> str:
        """Dotted path of this module from the root (``""`` for the root itself)."""
        return self._module_name

    @property
    def module_type(self) -> str:
        """Class name of the module, e.g. ``"Conv2d"``."""
        return self._module_type

    @property
    def num_parameters(self) -> int:
        """Number of (initialized) parameter elements, shared parameters counted once."""
        return self._num_parameters

    @property
    def num_trainable_parameters(self) -> int:
        """Number of parameter elements with ``requires_grad=True``."""
        return self._num_trainable_parameters

    @property
    def flops_forward(self) -> Union[int, str]:
        """FLOPs of this module's forward on the example inputs, or ``"?"``."""
        return self._flops_forward

    @property
    def flops_backward(self) -> Union[int, str]:
        """FLOPs of this module's part of the backward pass, or ``"?"``.

        Only measured when the module returned a single tensor requiring grad.
        """
        return self._flops_backward

    @property
    def in_size(self) -> Union[List[Any], str]:
        """Shape of the positional input (a list of shapes for several), or ``"?"``."""
        return self._in_size

    @property
    def out_size(self) -> Union[List[Any], str]:
        """Shape of the output (nested lists for tuple/list outputs), or ``"?"``."""
        return self._out_size

    @property
    def forward_elapsed_time_ms(self) -> Union[float, str]:
        """Wall time of this module's forward in milliseconds (summed over calls), or ``"?"``."""
        return self._forward_elapsed_time_ms

    @property
    def size_bytes(self) -> int:
        """Memory taken by the module's (initialized) parameters, in bytes."""
        return self._size_bytes

    @property
    def has_uninitialized_param(self) -> bool:
        """Whether any parameter is a lazy, not yet materialized parameter."""
        return self._has_uninitialized_param

    def __repr__(self) -> str:
        return (
            f"ModuleSummary(module_name={self._module_name!r}, module_type={self._module_type!r}, "
            f"num_parameters={self._num_parameters}, "
            f"submodules={len(self._submodule_summaries)})"
        )

    def __str__(self) -> str:
        return get_summary_table(self)


@dataclass
class _ForwardRecord:
    """What one example forward/backward pass measured, keyed by module path."""

    flops_forward: Dict[str, int] = field(default_factory=dict)
    flops_backward: Optional[Dict[str, int]] = None
    in_sizes: Dict[str, Union[List[Any], str]] = field(default_factory=dict)
    out_sizes: Dict[str, Union[List[Any], str]] = field(default_factory=dict)
    elapsed_ms: Dict[str, float] = field(default_factory=dict)


def _shape_of(value: Any) -> Union[List[Any], str]:
    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if isinstance(value, (list, tuple)):
        return [_shape_of(item) for item in value]
    return _UNKNOWN


def _input_shape(args: Tuple[Any, ...]) -> Union[List[Any], str]:
    if len(args) == 0:
        return _UNKNOWN
    if len(args) == 1:
        return _shape_of(args[0])
    return _shape_of(list(args))


def _has_tensor(value: Any) -> bool:
    leaves, _ = tree_flatten(value)
    return any(isinstance(leaf, torch.Tensor) for leaf in leaves)


def _detach_tensors(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_detach_tensors(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_detach_tensors(v) for v in value)
    if isinstance(value, dict):
        return {k: _detach_tensors(v) for k, v in value.items()}
    return value


def _attach_recording_hooks(module: torch.nn.Module, record: _ForwardRecord) -> List:
    handles: List[RemovableHandle] = []
    for name, submodule in module.named_modules():
        starts: List[float] = []

        def pre_hook(mod: torch.nn.Module, args: Tuple[Any, ...], starts: List = starts) -> None:
            starts.append(time.perf_counter())

        def post_hook(
            mod: torch.nn.Module,
            args: Tuple[Any, ...],
            output: Any,
            name: str = name,
            starts: List = starts,
        ) -> None:
            elapsed_ms = (time.perf_counter() - starts.pop()) * 1000.0
            record.elapsed_ms[name] = record.elapsed_ms.get(name, 0.0) + elapsed_ms
            # Sizes describe the first call; later calls of a shared module may differ.
            record.in_sizes.setdefault(name, _input_shape(args))
            record.out_sizes.setdefault(name, _shape_of(output))

        handles.append(submodule.register_forward_pre_hook(pre_hook))
        handles.append(submodule.register_forward_hook(post_hook))
    return handles


def _sum_per_module(flop_counts: Mapping) -> Dict[str, int]:
    return {name: sum(per_op.values()) for name, per_op in flop_counts.items()}


def _run_example(
    module: torch.nn.Module, args: Tuple[Any, ...], kwargs: MutableMapping[str, Any]
) -> _ForwardRecord:
    record = _ForwardRecord()
    handles = _attach_recording_hooks(module, record)
    try:
        with FlopTensorDispatchMode(module) as ftdm:
            output = module(*args, **kwargs)
            record.flops_forward = _sum_per_module(ftdm.flop_counts)
            if isinstance(output, torch.Tensor) and output.requires_grad:
                ftdm.reset()
                output.mean().backward()
                record.flops_backward = _sum_per_module(ftdm.flop_counts)
    finally:
        for handle in handles:
            handle.remove()
    return record


def _run_example_preserving_state(
    module: torch.nn.Module, args: Tuple[Any, ...], kwargs: MutableMapping[str, Any]
) -> _ForwardRecord:
    params = list(module.parameters())
    saved_grads = [p.grad for p in params]
    with torch.no_grad():
        saved_buffers = [(b, b.clone()) for b in module.buffers()]
    for p in params:
        p.grad = None
    try:
        return _run_example(module, _detach_tensors(args), _detach_tensors(kwargs))
    finally:
        for p, grad in zip(params, saved_grads):
            p.grad = grad
        with torch.no_grad():
            for buffer, saved in saved_buffers:
                buffer.copy_(saved)


def _parameter_stats(module: torch.nn.Module) -> Tuple[int, int, int, bool]:
    num_params = num_trainable = size_bytes = 0
    has_lazy = False
    for param in module.parameters():
        if is_lazy(param):
            has_lazy = True
            continue
        num_params += param.numel()
        size_bytes += param.numel() * param.element_size()
        if param.requires_grad:
            num_trainable += param.numel()
    return num_params, num_trainable, size_bytes, has_lazy


def _build_summary(
    module: torch.nn.Module, name: str, record: Optional[_ForwardRecord]
) -> ModuleSummary:
    summary = ModuleSummary()
    summary._module_name = name
    summary._module_type = type(module).__name__
    (
        summary._num_parameters,
        summary._num_trainable_parameters,
        summary._size_bytes,
        summary._has_uninitialized_param,
    ) = _parameter_stats(module)
    if record is not None:
        summary._flops_forward = record.flops_forward.get(name, 0)
        if record.flops_backward is not None:
            summary._flops_backward = record.flops_backward.get(name, 0)
        summary._in_size = record.in_sizes.get(name, _UNKNOWN)
        summary._out_size = record.out_sizes.get(name, _UNKNOWN)
        summary._forward_elapsed_time_ms = record.elapsed_ms.get(name, _UNKNOWN)
    for child_name, child in module.named_children():
        path = f"{name}.{child_name}" if name else child_name
        summary._submodule_summaries[path] = _build_summary(child, path, record)
    return summary


def _check_summary_inputs(module: Any, module_args: Any, module_kwargs: Any) -> None:
    if not isinstance(module, torch.nn.Module):
        raise TypeError(
            f"module={module!r} is invalid: expected a torch.nn.Module "
            f"(got {type(module).__name__})"
        )
    if module_args is not None and not isinstance(module_args, (tuple, list)):
        raise TypeError(
            f"module_args={module_args!r} is invalid: expected a tuple of positional arguments "
            "for the module's forward (e.g. `(inputs,)`) or None"
        )
    if module_kwargs is not None and not isinstance(module_kwargs, Mapping):
        raise TypeError(
            f"module_kwargs={module_kwargs!r} is invalid: expected a mapping of keyword "
            "arguments for the module's forward or None"
        )


def get_module_summary(
    module: torch.nn.Module,
    module_args: Optional[Tuple[Any, ...]] = None,
    module_kwargs: Optional[MutableMapping[str, Any]] = None,
) -> ModuleSummary:
    """Summarize ``module`` and all of its submodules.

    Parameter counts, parameter sizes and whether lazy parameters remain uninitialized are
    always reported. When ``module_args``/``module_kwargs`` contain at least one tensor (and
    the module has no uninitialized parameters), the module is also run once on them (inputs
    detached) to measure per-submodule forward FLOPs, input/output shapes and forward time;
    if the output is a single tensor requiring grad, ``output.mean().backward()`` is run to
    measure backward FLOPs. Gradients and buffers are restored afterwards. Without such
    inputs those fields read ``"?"``.

    Args:
        module: the module to summarize.
        module_args: positional arguments for one example forward call.
        module_kwargs: keyword arguments for that call. Input shapes are only reported for
            positional arguments.

    Returns:
        The root :class:`ModuleSummary`, its children in ``submodule_summaries``.

    Raises:
        TypeError: if ``module`` is not a ``torch.nn.Module``, ``module_args`` not a tuple or
            list, or ``module_kwargs`` not a mapping.
    """
    _check_summary_inputs(module, module_args, module_kwargs)
    args = tuple(module_args or ())
    kwargs = dict(module_kwargs or {})
    record = None
    has_lazy = any(is_lazy(p) for p in module.parameters())
    if not has_lazy and (_has_tensor(args) or _has_tensor(kwargs)):
        record = _run_example_preserving_state(module, args, kwargs)
    return _build_summary(module, "", record)


def _get_human_readable_count(number: int, labels: Optional[List[str]] = None) -> str:
    """Abbreviate a non-negative integer with thousands-based labels.

    Numbers below 100 after scaling keep one decimal; larger ones are shown as integers with
    thousands separators, and the scale never goes past the last label. With the default
    labels: ``123 -> "123  "``, ``1234 -> "1.2 K"``, ``2_000_000 -> "2.0 M"``,
    ``3e9 -> "3.0 B"``, ``4e14 -> "400 T"``, ``5e15 -> "5,000 T"``.

    Args:
        number: the count to format.
        labels: one suffix per power of 1000, starting with the unscaled suffix. Defaults to
            ``[" ", "K", "M", "B", "T"]``.

    Returns:
        ``"<number> <label>"``.

    Raises:
        TypeError: if ``number`` is not an int.
        ValueError: if ``number`` is negative or ``labels`` is empty.
    """
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(
            f"number={number!r} is invalid: expected an int (got {type(number).__name__})"
        )
    if number < 0:
        raise ValueError(f"number={number} is invalid: expected an int >= 0")
    if labels is None:
        labels = _DEFAULT_COUNT_LABELS
    if len(labels) == 0:
        raise ValueError(f"labels={labels!r} is invalid: expected a non-empty list of suffixes")
    groups = min((len(str(number)) + 2) // 3, len(labels))
    index = groups - 1
    if index == 0:
        return f"{number:,d} {labels[0]}"
    scaled = number / 1000**index
    if scaled >= 100:
        return f"{int(scaled):,d} {labels[index]}"
    return f"{scaled:,.1f} {labels[index]}"


def _format_cell(attr: str, value: Any, human_readable_nums: bool) -> str:
    if attr == "has_uninitialized_param":
        return "Yes" if value else "No"
    if attr in _COUNT_COLUMNS and isinstance(value, int) and human_readable_nums:
        return _get_human_readable_count(value)
    if attr == "forward_elapsed_time_ms" and isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _flatten(summary: ModuleSummary) -> List[ModuleSummary]:
    rows = [summary]
    for child in summary.submodule_summaries.values():
        rows.extend(_flatten(child))
    return rows


def get_summary_table(module_summary: ModuleSummary, human_readable_nums: bool = True) -> str:
    """Render a summary and all of its submodule summaries as a text table.

    One row per module (root first, then depth-first in registration order) and the columns
    ``Name, Type, # Parameters, # Trainable Parameters, Size (bytes), Contains Uninitialized
    Parameters?, Forward FLOPs, Backward FLOPs, In size, Out size, Forward Elapsed Times
    (ms)``; a column whose value is ``"?"`` in every row is left out. Cells are separated by
    ``" | "`` and the header is underlined with dashes.

    Args:
        module_summary: the summary to render, e.g. from :func:`get_module_summary`.
        human_readable_nums: abbreviate counts, sizes and FLOPs (``"1.2 K"``) instead of
            printing them in full.

    Returns:
        The table as a multi-line string.

    Raises:
        TypeError: if ``module_summary`` is not a :class:`ModuleSummary`.
    """
    if not isinstance(module_summary, ModuleSummary):
        raise TypeError(
            f"module_summary={module_summary!r} is invalid: expected a ModuleSummary, e.g. "
            "from get_module_summary(module)"
        )
    rows = _flatten(module_summary)
    columns = []
    for header, attr in _COLUMNS:
        values = [getattr(row, attr) for row in rows]
        if all(isinstance(v, str) and v == _UNKNOWN for v in values):
            continue
        cells = [_format_cell(attr, v, human_readable_nums) for v in values]
        columns.append([header, *cells])
    widths = [max(len(cell) for cell in column) for column in columns]
    lines = [
        " | ".join(c[i].ljust(w) for c, w in zip(columns, widths)) for i in range(len(rows) + 1)
    ]
    lines.insert(1, "-" * (sum(widths) + 3 * (len(widths) - 1)))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _prune(summary: ModuleSummary, depth: int, max_depth: int) -> None:
    if depth >= max_depth:
        summary._submodule_summaries = {}
        return
    for child in summary.submodule_summaries.values():
        _prune(child, depth + 1, max_depth)


def prune_module_summary(module_summary: ModuleSummary, *, max_depth: int) -> None:
    """Drop, in place, the submodule summaries deeper than ``max_depth``.

    The root is at depth 1, so ``max_depth=1`` keeps only the root and ``max_depth=2`` keeps
    the root and its direct children.

    Args:
        module_summary: the summary to prune.
        max_depth: the deepest level to keep, >= 1.

    Raises:
        ValueError: if ``max_depth`` is not an int >= 1.
    """
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1:
        raise ValueError(f"max_depth={max_depth!r} is invalid: expected an int >= 1")
    _prune(module_summary, 1, max_depth)
