"""FLOP counts of known ops and layers, per module path, forward and backward."""

import pytest
import torch

from torchtnt.utils.flops import FlopTensorDispatchMode, flop_mapping

aten = torch.ops.aten


def _counts(ftdm: FlopTensorDispatchMode) -> dict:
    return {name: dict(per_op) for name, per_op in ftdm.flop_counts.items()}


def _nested_linears() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.Linear(10, 10)),
        torch.nn.Linear(10, 1),
    )


def test_bare_tensor_ops_count_towards_root() -> None:
    a, b = torch.randn(10, 4, 5), torch.randn(10, 5, 7)
    with FlopTensorDispatchMode(torch.nn.Identity()) as ftdm:
        a.bmm(b)
        assert _counts(ftdm) == {"": {"bmm.default": 10 * 4 * 5 * 7}}
        torch.randn(3, 4).mm(torch.randn(4, 5))
        assert ftdm.flop_counts[""]["mm.default"] == 3 * 4 * 5
        # A 3-D @ 2-D matmul reaches dispatch as one mm over the flattened batch.
        torch.randn(2, 3, 4) @ torch.randn(4, 5)
        assert ftdm.flop_counts[""]["mm.default"] == 3 * 4 * 5 + 6 * 4 * 5
        assert ftdm.flop_counts[""]["bmm.default"] == 1400


def test_ops_outside_the_context_are_not_counted() -> None:
    model = _nested_linears()
    ftdm = FlopTensorDispatchMode(model)
    model(torch.randn(1, 10))
    with ftdm:
        pass
    model(torch.randn(1, 10))
    assert _counts(ftdm) == {}


def test_linear_forward_and_backward_per_module() -> None:
    model = _nested_linears()
    with FlopTensorDispatchMode(model) as ftdm:
        out = model(torch.randn(1, 10))
        assert _counts(ftdm) == {
            "": {"addmm.default": 110},
            "0": {"addmm.default": 100},
            "0.0": {"addmm.default": 100},
            "1": {"addmm.default": 10},
        }
        ftdm.reset()
        assert _counts(ftdm) == {}
        out.backward()
        # Layer 1: grad of input (1x1 @ 1x10) and of weight (1x1 @ 1x10). Layer 0.0: its
        # input needs no grad, so only the weight grad (10x1 @ 1x10).
        assert _counts(ftdm) == {
            "": {"mm.default": 120},
            "0": {"mm.default": 100},
            "0.0": {"mm.default": 100},
            "1": {"mm.default": 20},
        }


def test_backward_attribution_does_not_leak_between_branches() -> None:
    class TwoBranches(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.left = torch.nn.Linear(4, 3)
            self.right = torch.nn.Linear(4, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.left(x).sum() + self.right(x).sum()

    model = TwoBranches()
    x = torch.randn(2, 4)  # no grad: neither branch's backward "ends" at its input
    with FlopTensorDispatchMode(model) as ftdm:
        out = model(x)
        ftdm.reset()
        out.backward()
        assert _counts(ftdm) == {
            "": {"mm.default": 3 * 2 * 4 + 5 * 2 * 4},
            "left": {"mm.default": 3 * 2 * 4},
            "right": {"mm.default": 5 * 2 * 4},
        }
        ftdm.reset()
        model.left(x)
        assert _counts(ftdm) == {"": {"addmm.default": 24}, "left": {"addmm.default": 24}}


def test_conv2d_forward_and_backward() -> None:
    conv = torch.nn.Conv2d(3, 8, 3)
    x = torch.randn(2, 3, 10, 10, requires_grad=True)
    with FlopTensorDispatchMode(conv) as ftdm:
        out = conv(x)
        forward_flops = 2 * (8 * 3 * 3 * 3) * (8 * 8)  # batch * weight numel * out spatial
        assert _counts(ftdm) == {"": {"convolution.default": forward_flops}}
        ftdm.reset()
        out.mean().backward()
        # grad_input and grad_weight each cost as much as the forward convolution.
        assert _counts(ftdm) == {"": {"convolution_backward.default": 2 * forward_flops}}


def test_conv2d_backward_without_input_grad_counts_only_weight_grad() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
    with FlopTensorDispatchMode(model) as ftdm:
        out = model(torch.randn(1, 3, 10, 10))
        ftdm.reset()
        out.sum().backward()
        assert _counts(ftdm) == {
            "": {"convolution_backward.default": 13824},
            "0": {"convolution_backward.default": 13824},
        }


def test_transposed_conv_uses_input_spatial_size() -> None:
    deconv = torch.nn.ConvTranspose2d(8, 2, 3, stride=2)
    with FlopTensorDispatchMode(deconv) as ftdm:
        out = deconv(torch.randn(2, 8, 8, 8))
        assert out.shape == (2, 2, 17, 17)
        assert ftdm.flop_counts[""]["convolution.default"] == 2 * (8 * 2 * 3 * 3) * (8 * 8)


def test_hooks_are_removed_on_exit_and_instance_is_reusable() -> None:
    model = _nested_linears()
    ftdm = FlopTensorDispatchMode(model)
    for _ in range(2):
        with ftdm:
            model(torch.randn(1, 10))
        assert all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())
    assert ftdm.flop_counts["1"]["addmm.default"] == 20


def test_rejects_non_module() -> None:
    with pytest.raises(TypeError, match="module=.*expected a torch.nn.Module"):
        FlopTensorDispatchMode("model")  # type: ignore[arg-type]


def test_flop_mapping_covers_the_counted_ops() -> None:
    for op in (aten.mm, aten.matmul, aten.addmm, aten.bmm, aten.convolution):
        assert op in flop_mapping
    assert aten.convolution_backward in flop_mapping


def test_linear_is_counted_under_inference_mode() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Linear(3, 2))
    with torch.inference_mode(), FlopTensorDispatchMode(model) as mode:
        model(torch.ones(4, 5))
    # 4*5*3 for the first layer, 4*3*2 for the second
    assert sum(mode.flop_counts[""].values()) == 60 + 24
    assert sum(mode.flop_counts["0"].values()) == 60
    assert sum(mode.flop_counts["1"].values()) == 24
