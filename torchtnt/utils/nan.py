"""Find where NaNs appear: in a tensor, or in the gradients flowing through an autograd graph."""

from collections import deque
from typing import Any, Callable, Deque, List, Sequence, Set, Union

import torch
from torch.autograd.graph import GradientEdge, Node
from torch.utils.hooks import RemovableHandle

__all__ = ["check_for_nan_or_inf", "register_nan_hooks_on_whole_graph"]


def _start_node(output: Union[torch.Tensor, GradientEdge]) -> Any:
    if isinstance(output, GradientEdge):
        return output.node
    if isinstance(output, torch.Tensor):
        return output.grad_fn
    raise TypeError(
        f"t_outputs contains {output!r} of type {type(output).__name__}: expected "
        "torch.Tensor or torch.autograd.graph.GradientEdge items"
    )


def _reachable_nodes(t_outputs: Sequence[Union[torch.Tensor, GradientEdge]]) -> List[Node]:
    """Every autograd node reachable from the outputs, each once, in breadth-first order."""
    queue: Deque[Node] = deque(
        node for node in (_start_node(out) for out in t_outputs) if node is not None
    )
    seen: Set[int] = set()
    nodes: List[Node] = []
    while queue:
        node = queue.popleft()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        queue.extend(child for child, _ in node.next_functions if child is not None)
    return nodes


def _nan_check_hook(node: Node) -> Callable[[Sequence[Any], Sequence[Any]], None]:
    def hook(grad_inputs: Sequence[Any], grad_outputs: Sequence[Any]) -> None:
        for i, grad in enumerate(grad_inputs):
            if grad is None:
                continue
            torch._assert_async(
                torch.logical_not(torch.any(torch.isnan(grad))),
                f"Detected NaN in 'grad_inputs[{i}]' after executing Node: {node}",
            )

    return hook


def register_nan_hooks_on_whole_graph(
    t_outputs: Sequence[Union[torch.Tensor, GradientEdge]],
) -> Callable[[], None]:
    """Check every gradient produced while back-propagating from ``t_outputs`` for NaNs.

    A post-hook is registered on every autograd node reachable from the outputs. When a node
    produces a gradient containing NaN, backward fails with ``RuntimeError`` (raised
    asynchronously on CUDA) whose message names the first offending node, e.g.
    ``Detected NaN in 'grad_inputs[0]' after executing Node: <MulBackward0 ...>``.

    Args:
        t_outputs: tensors (or gradient edges) backward will start from. Tensors without a
            ``grad_fn`` are ignored.

    Returns:
        A function that removes all the registered hooks.

    Raises:
        TypeError: if an item is neither a tensor nor a ``GradientEdge``.
    """
    if isinstance(t_outputs, (torch.Tensor, GradientEdge)):
        t_outputs = [t_outputs]
    handles: List[RemovableHandle] = [
        node.register_hook(_nan_check_hook(node)) for node in _reachable_nodes(t_outputs)
    ]

    def unregister_hooks() -> None:
        for handle in handles:
            handle.remove()
        handles.clear()

    return unregister_hooks


def check_for_nan_or_inf(tensor: torch.Tensor, msg: str = "Detected NaN or Inf in tensor") -> None:
    """Assert that ``tensor`` holds only finite values.

    The check is an asynchronous device assert, so on CUDA it does not block the host; the
    failure surfaces at a later synchronization. On CPU it raises immediately.

    Args:
        tensor: the tensor to check.
        msg: the message of the error raised on failure.

    Raises:
        RuntimeError: with ``msg`` if ``tensor`` contains NaN or +/-Inf.
    """
    torch._assert_async(torch.all(torch.isfinite(tensor)), msg)
