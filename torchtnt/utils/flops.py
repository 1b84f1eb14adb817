"""Count the FLOPs of matrix multiplications and convolutions, per module, forward and backward.

:class:`FlopTensorDispatchMode` sits below autograd (a ``TorchDispatchMode``) and sees every
aten op that actually runs. Forward ops are attributed to the modules whose ``forward`` is on
the call stack. Backward ops are attributed through the autograd node that runs them: while
the mode is active, every autograd node created by a torch call is tagged with the modules
that were active at creation time, and in backward the currently executing node is looked
up. This stays correct when module inputs do not require grad, where bracketing the backward
of a module with hooks on its inputs and outputs would never see the module end.
"""

import math
from collections import defaultdict
from types import TracebackType
from typing import Any, Callable, DefaultDict, Dict, List, Optional, Sequence, Tuple, Type

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.hooks import RemovableHandle

__all__ = ["FlopTensorDispatchMode", "flop_mapping"]

aten: Any = torch.ops.aten

_ROOT = ""


def _shape(obj: Any) -> Tuple[int, ...]:
    return tuple(obj.shape)


def _prod(dims: Sequence[int]) -> int:
    return math.prod(int(d) for d in dims)


def matmul_flop(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``mm``/``matmul``: every element of ``a`` meets each of ``b``'s output columns.

    Args:
        inputs: the op's arguments; ``inputs[0]`` and ``inputs[1]`` are the two operands.
        outputs: the op's outputs (unused).

    Returns:
        ``prod(a.shape) * b.shape[-1]``.
    """
    a_shape, b_shape = _shape(inputs[0]), _shape(inputs[1])
    return _prod(a_shape) * b_shape[-1]


def addmm_flop(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``addmm(bias, mat1, mat2)``: ``n * m * k`` for ``(n, m) @ (m, k)``.

    The bias addition is not counted.

    Args:
        inputs: the op's arguments ``(bias, mat1, mat2, ...)``.
        outputs: the op's outputs (unused).

    Returns:
        The multiply-accumulate count of the matrix product.
    """
    n, m = _shape(inputs[1])
    k = _shape(inputs[2])[-1]
    return n * m * k


def linear_flop(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``linear(x, weight, bias)``: ``prod(x.shape) * out_features``.

    Autograd decomposes ``linear`` into ``addmm``/``matmul``, but under
    ``torch.inference_mode()`` it reaches the dispatcher whole, so it needs its own rule.
    The bias addition is not counted.
    """
    return _prod(_shape(inputs[0])) * _shape(inputs[1])[0]


def bmm_flop(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``bmm``: ``b * n * c * d`` for ``(b, n, c) @ (b, c, d)``.

    Args:
        inputs: the op's arguments; the two batched operands first.
        outputs: the op's outputs (unused).

    Returns:
        The multiply-accumulate count of the batched product.
    """
    b, n, c = _shape(inputs[0])
    d = _shape(inputs[1])[-1]
    return b * n * c * d


def conv_flop_count(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    out_shape: Sequence[int],
    transposed: bool = False,
) -> int:
    """FLOPs of one convolution given the shapes involved.

    Each output position (input position for transposed convolutions, where the kernel is
    scattered from the input) costs one multiply-accumulate per weight element, per sample.

    Args:
        x_shape: input shape ``(batch, channels, *spatial)``.
        w_shape: weight shape.
        out_shape: output shape ``(batch, channels, *spatial)``.
        transposed: whether this is a transposed convolution.

    Returns:
        ``batch * prod(w_shape) * prod(spatial)``.
    """
    spatial = (x_shape if transposed else out_shape)[2:]
    return int(x_shape[0]) * _prod(w_shape) * _prod(spatial)


def conv_flop(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``convolution``/``_convolution`` (``input, weight, bias, stride, padding,
    dilation, transposed, ...``).

    Args:
        inputs: the op's arguments in schema order.
        outputs: the op's outputs; ``outputs[0]`` is the result.

    Returns:
        The multiply-accumulate count of the convolution.
    """
    transposed = bool(inputs[6])
    return conv_flop_count(
        _shape(inputs[0]), _shape(inputs[1]), _shape(outputs[0]), transposed=transposed
    )


def _swap_first_two(shape: Sequence[int]) -> Tuple[int, ...]:
    return (shape[1], shape[0], *shape[2:])


def conv_backward_flop(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``convolution_backward``, counting only the gradients autograd asked for.

    The gradient w.r.t. the input is a convolution of the output gradient with the weight
    (transposed-ness flipped); the gradient w.r.t. the weight is a convolution of the
    channel-swapped input with the output gradient. The bias gradient is a sum and is free.

    Args:
        inputs: the op's arguments ``(grad_output, input, weight, bias_sizes, stride, padding,
            dilation, transposed, output_padding, groups, output_mask)``.
        outputs: ``(grad_input, grad_weight, grad_bias)``, entries None when not requested.

    Returns:
        The total multiply-accumulate count of the requested gradients.
    """
    grad_out_shape = _shape(inputs[0])
    x_shape = _shape(inputs[1])
    w_shape = _shape(inputs[2])
    transposed = bool(inputs[7])
    output_mask = inputs[10]
    flops = 0
    if output_mask[0] and outputs[0] is not None:
        flops += conv_flop_count(
            grad_out_shape, w_shape, _shape(outputs[0]), transposed=not transposed
        )
    if output_mask[1] and outputs[1] is not None:
        flops += conv_flop_count(
            _swap_first_two(x_shape), grad_out_shape, _shape(outputs[1]), transposed=transposed
        )
    return flops


flop_mapping: Dict[Any, Callable[[List[Any], List[Any]], int]] = {
    aten.mm: matmul_flop,
    aten.matmul: matmul_flop,
    aten.addmm: addmm_flop,
    aten.linear: linear_flop,
    aten.bmm: bmm_flop,
    aten.convolution: conv_flop,
    aten._convolution: conv_flop,
    aten.convolution_backward: conv_backward_flop,
}


def _positional_args(func: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> List[Any]:
    """Fold keyword arguments of an aten call into schema order, so counters can index."""
    full = list(args)
    if not kwargs:
        return full
    for argument in func._schema.arguments[len(args) :]:
        if argument.name in kwargs:
            full.append(kwargs[argument.name])
        elif argument.has_default_value():
            full.append(argument.default_value)
        else:
            full.append(None)
    return full


def _as_list(value: Any) -> List[Any]:
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _grad_fn(value: Any) -> Any:
    return value.grad_fn if isinstance(value, torch.Tensor) else None


class _NodeTagger(TorchFunctionMode):
    """Tags autograd nodes created by each torch call with the modules active at that time.

    Composite functions create several nodes per call (``linear`` makes a transpose node and
    an ``addmm`` node), so the walk continues from the output node back through every node
    not yet tagged, stopping at the nodes that produced the call's inputs.
    """

    def __init__(self, owner: "FlopTensorDispatchMode") -> None:
        super().__init__()
        self._owner = owner

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: Tuple[Any, ...] = (),
        kwargs: Optional[Dict[str, Any]] = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        if torch.is_grad_enabled():
            self._tag_outputs(out, args, kwargs)
        return out

    def _tag_outputs(self, out: Any, args: Tuple[Any, ...], kwargs: Optional[Dict]) -> None:
        out_leaves, _ = tree_flatten(out)
        roots = [_grad_fn(t) for t in out_leaves if _grad_fn(t) is not None]
        if not roots:
            return
        in_leaves, _ = tree_flatten((args, kwargs or {}))
        # An in-place op's output node is also its input's node now; it must not stop the walk.
        root_ids = {id(node) for node in roots}
        boundary = {id(_grad_fn(t)) for t in in_leaves if _grad_fn(t) is not None} - root_ids
        key = self._owner._tag_key
        parents = self._owner._active_modules()
        stack = list(roots)
        while stack:
            node = stack.pop()
            if id(node) in boundary or key in node.metadata:
                continue
            node.metadata[key] = parents
            stack.extend(child for child, _ in node.next_functions if child is not None)


class FlopTensorDispatchMode(TorchDispatchMode):
    """Context manager counting FLOPs of the ops in :data:`flop_mapping`, per module path.

    Counts land in :attr:`flop_counts` as ``flop_counts[module_path][op_name]``, where the root
    module is ``""`` and submodules use their dotted names from ``named_modules()`` (e.g.
    ``"0.1"``), and ``op_name`` is the aten overload name such as ``"addmm.default"``. An op
    counts towards every module enclosing it, and always towards the root ``""`` (also ops run
    directly inside the ``with`` block). Backward ops run while the mode is active are
    attributed to the modules whose forward created the corresponding autograd nodes.

    Module hooks are registered on entering the context and removed on exit, so one instance
    can be entered again.

    Args:
        module: the module whose submodules are tracked.

    Raises:
        TypeError: if ``module`` is not a ``torch.nn.Module``.

    Example::

        with FlopTensorDispatchMode(model) as ftdm:
            out = model(x)
            forward_flops = dict(ftdm.flop_counts)
            ftdm.reset()
            out.sum().backward()
    """

    def __init__(self, module: torch.nn.Module) -> None:
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                f"module={module!r} is invalid: expected a torch.nn.Module "
                f"(got {type(module).__name__})"
            )
        super().__init__()
        self._module = module
        self.flop_counts: DefaultDict[str, DefaultDict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        self._module_stack: List[str] = []
        self._handles: List[RemovableHandle] = []
        self._tagger = _NodeTagger(self)
        # One key per instance, so nested or earlier modes never read each other's tags.
        self._tag_key = ("torchtnt.flops", object())

    def reset(self) -> None:
        """Forget all counts collected so far."""
        self.flop_counts.clear()

    def _active_modules(self) -> Tuple[str, ...]:
        return tuple(dict.fromkeys((_ROOT, *self._module_stack)))

    def _attach_hooks(self) -> None:
        for name, submodule in self._module.named_modules():
            if name == _ROOT:
                continue
            self._handles.append(submodule.register_forward_pre_hook(self._enter(name)))
            self._handles.append(
                submodule.register_forward_hook(self._leave(name), always_call=True)
            )

    def _enter(self, name: str) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: Any) -> None:
            self._module_stack.append(name)

        return hook

    def _leave(self, name: str) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: Any, output: Any) -> None:
            # Remove the innermost occurrence; a module may run re-entrantly.
            for i in range(len(self._module_stack) - 1, -1, -1):
                if self._module_stack[i] == name:
                    del self._module_stack[i]
                    break

        return hook

    def _detach_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._module_stack.clear()

    def __enter__(self) -> "FlopTensorDispatchMode":
        self._attach_hooks()
        self._tagger.__enter__()
        try:
            super().__enter__()
        except BaseException:
            self._tagger.__exit__(None, None, None)
            self._detach_hooks()
            raise
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_val: Optional[BaseException],
        exc_tb: Optional[TracebackType],
    ) -> None:
        try:
            super().__exit__(exc_type, exc_val, exc_tb)
        finally:
            self._tagger.__exit__(exc_type, exc_val, exc_tb)
            self._detach_hooks()

    def _modules_for_current_op(self) -> Tuple[str, ...]:
        node = torch._C._current_autograd_node()
        if node is None:
            return self._active_modules()
        return node.metadata.get(self._tag_key, (_ROOT,))

    def __torch_dispatch__(
        self,
        func: Any,
        types: Any,
        args: Tuple[Any, ...] = (),
        kwargs: Optional[Dict[str, Any]] = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        counter = flop_mapping.get(getattr(func, "overloadpacket", None))
        if counter is not None:
            flops = counter(_positional_args(func, args, kwargs), _as_list(out))
            op_name = func.__name__
            for module_name in self._modules_for_current_op():
                self.flop_counts[module_name][op_name] += flops
        return out
