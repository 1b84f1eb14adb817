"""NaN/Inf checks on tensors and NaN detection in gradients along an autograd graph."""

import math

import pytest
import torch

from torchtnt.utils.nan import check_for_nan_or_inf, register_nan_hooks_on_whole_graph


def test_check_for_nan_or_inf_passes_on_finite_values() -> None:
    check_for_nan_or_inf(torch.tensor([0.0, -1.0, 3.0e38]))
    check_for_nan_or_inf(torch.tensor([], dtype=torch.float16))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_check_for_nan_or_inf_raises(bad: float) -> None:
    with pytest.raises(RuntimeError, match="Detected NaN or Inf in tensor"):
        check_for_nan_or_inf(torch.tensor([1.0, bad]))
    with pytest.raises(RuntimeError, match="loss went bad"):
        check_for_nan_or_inf(torch.tensor(bad), msg="loss went bad")


def test_hook_names_the_first_node_producing_nan() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    scaled = x.exp() * torch.tensor([math.nan, 1.0])
    loss = scaled.sum()
    register_nan_hooks_on_whole_graph([loss])
    # SumBackward0 produces ones; MulBackward0 is the first node whose output grad is NaN.
    with pytest.raises(
        RuntimeError,
        match=r"Detected NaN in 'grad_inputs\[0\]' after executing Node: <MulBackward0",
    ):
        loss.backward()


def test_index_of_the_offending_grad_input_is_reported() -> None:
    a = torch.tensor([0.0], requires_grad=True)
    b = torch.tensor([1.0], requires_grad=True)
    # The inner product receives an Inf gradient: its grad for a is Inf * b (Inf, not NaN)
    # and its grad for b is Inf * a = Inf * 0, NaN only in grad_inputs[1].
    out = (a * b * torch.tensor([math.inf])).sum()
    register_nan_hooks_on_whole_graph([out])
    with pytest.raises(
        RuntimeError, match=r"'grad_inputs\[1\]' after executing Node: <MulBackward0"
    ):
        out.backward()


def test_unregister_removes_every_hook() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * torch.tensor([math.nan, 1.0])).sum()
    unregister = register_nan_hooks_on_whole_graph([loss])
    unregister()
    loss.backward()
    assert math.isnan(x.grad[0].item()) and x.grad[1].item() == 1.0


def test_clean_graph_backpropagates_normally() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    loss = (y * y).sum() + y.sum()  # a diamond: y is reached twice
    register_nan_hooks_on_whole_graph([loss])
    loss.backward()
    assert x.grad.tolist() == [3 * (2 * 3 + 1), 3 * (2 * 6 + 1)]


def test_accepts_gradient_edges_and_skips_leaves() -> None:
    x = torch.tensor([1.0], requires_grad=True)
    loss = (x * torch.tensor([math.nan])).sum()
    edge = torch.autograd.graph.get_gradient_edge(loss)
    register_nan_hooks_on_whole_graph([edge, torch.ones(1)])
    with pytest.raises(RuntimeError, match="Detected NaN in 'grad_inputs\\[0\\]'"):
        loss.backward()


def test_rejects_other_items() -> None:
    with pytest.raises(TypeError, match="t_outputs contains 3 of type int"):
        register_nan_hooks_on_whole_graph([3])  # type: ignore[list-item]
