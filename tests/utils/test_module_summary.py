"""Module summaries of small known models: counts, sizes, FLOPs, table text, pruning."""

from typing import List, Tuple

import pytest
import torch

from torchtnt.utils.module_summary import (
    ModuleSummary,
    _get_human_readable_count,
    get_module_summary,
    get_summary_table,
    prune_module_summary,
)


def _small_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.BatchNorm2d(8),
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 8, 10)),
    )


def _cells(table: str) -> List[List[str]]:
    lines = table.strip("\n").split("\n")
    return [[cell.strip() for cell in line.split("|")] for i, line in enumerate(lines) if i != 1]


def test_single_layer_without_inputs() -> None:
    summary = get_module_summary(torch.nn.Conv2d(3, 8, 3))
    assert summary.module_name == ""
    assert summary.module_type == "Conv2d"
    assert summary.num_parameters == 8 * 3 * 3 * 3 + 8
    assert summary.num_trainable_parameters == 224
    assert summary.size_bytes == 224 * 4
    assert summary.has_uninitialized_param is False
    assert summary.submodule_summaries == {}
    for unknown in (
        summary.flops_forward,
        summary.flops_backward,
        summary.in_size,
        summary.out_size,
        summary.forward_elapsed_time_ms,
    ):
        assert unknown == "?"


def test_single_layer_table_text() -> None:
    table = get_summary_table(get_module_summary(torch.nn.Conv2d(3, 8, 3)))
    expected = (
        "Name | Type   | # Parameters | # Trainable Parameters | Size (bytes) | "
        "Contains Uninitialized Parameters?\n"
        + "-" * 105
        + "\n"
        + "     | Conv2d | 224          | 224                    | 896          | No\n"
    )
    assert table == expected


def test_counts_sizes_and_trainable_split() -> None:
    model = _small_cnn()
    model[0].requires_grad_(False)
    summary = get_module_summary(model)
    assert list(summary.submodule_summaries) == ["0", "1", "2"]
    assert list(summary.submodule_summaries["2"].submodule_summaries) == ["2.0", "2.1"]
    linear = summary.submodule_summaries["2"].submodule_summaries["2.1"]
    assert (linear.module_name, linear.module_type) == ("2.1", "Linear")
    assert linear.num_parameters == 512 * 10 + 10
    bn = summary.submodule_summaries["1"]
    assert (bn.num_parameters, bn.size_bytes) == (16, 64)
    assert summary.num_parameters == 224 + 16 + 5130
    assert summary.num_trainable_parameters == 16 + 5130
    assert summary.size_bytes == (224 + 16 + 5130) * 4


def test_shared_parameters_are_counted_once() -> None:
    linear = torch.nn.Linear(4, 4)
    summary = get_module_summary(torch.nn.Sequential(linear, linear))
    assert summary.num_parameters == 20
    # A module reachable twice is summarized once, under its first name.
    assert list(summary.submodule_summaries) == ["0"]


def test_flops_sizes_and_times_with_inputs() -> None:
    summary = get_module_summary(_small_cnn(), (torch.randn(2, 3, 10, 10),))
    conv = summary.submodule_summaries["0"]
    head = summary.submodule_summaries["2"]
    linear = head.submodule_summaries["2.1"]
    conv_flops = 2 * 216 * 64
    assert (conv.flops_forward, conv.flops_backward) == (conv_flops, conv_flops)
    # forward: (2x512) @ (512x10); backward: grads of input and weight, same size each.
    assert (linear.flops_forward, linear.flops_backward) == (10240, 20480)
    assert (head.flops_forward, head.flops_backward) == (10240, 20480)
    assert summary.submodule_summaries["1"].flops_forward == 0
    assert summary.flops_forward == conv_flops + 10240
    assert summary.flops_backward == conv_flops + 20480
    assert summary.in_size == [2, 3, 10, 10]
    assert conv.out_size == [2, 8, 8, 8]
    assert head.submodule_summaries["2.0"].out_size == [2, 512]
    assert summary.out_size == [2, 10]
    times = [summary.forward_elapsed_time_ms, conv.forward_elapsed_time_ms]
    assert all(isinstance(t, float) and t >= 0.0 for t in times)
    assert summary.forward_elapsed_time_ms >= conv.forward_elapsed_time_ms


def test_table_with_inputs() -> None:
    summary = get_module_summary(_small_cnn(), (torch.randn(2, 3, 10, 10),))
    rows = _cells(get_summary_table(summary, human_readable_nums=False))
    assert rows[0] == [
        "Name",
        "Type",
        "# Parameters",
        "# Trainable Parameters",
        "Size (bytes)",
        "Contains Uninitialized Parameters?",
        "Forward FLOPs",
        "Backward FLOPs",
        "In size",
        "Out size",
        "Forward Elapsed Times (ms)",
    ]
    assert [row[:10] for row in rows[1:]] == [
        [
            "",
            "Sequential",
            "5370",
            "5370",
            "21480",
            "No",
            "37888",
            "48128",
            "[2, 3, 10, 10]",
            "[2, 10]",
        ],
        [
            "0",
            "Conv2d",
            "224",
            "224",
            "896",
            "No",
            "27648",
            "27648",
            "[2, 3, 10, 10]",
            "[2, 8, 8, 8]",
        ],
        ["1", "BatchNorm2d", "16", "16", "64", "No", "0", "0", "[2, 8, 8, 8]", "[2, 8, 8, 8]"],
        [
            "2",
            "Sequential",
            "5130",
            "5130",
            "20520",
            "No",
            "10240",
            "20480",
            "[2, 8, 8, 8]",
            "[2, 10]",
        ],
        ["2.0", "Flatten", "0", "0", "0", "No", "0", "0", "[2, 8, 8, 8]", "[2, 512]"],
        ["2.1", "Linear", "5130", "5130", "20520", "No", "10240", "20480", "[2, 512]", "[2, 10]"],
    ]
    human = _cells(get_summary_table(summary))
    assert human[1][2:8] == ["5.4 K", "5.4 K", "21.5 K", "No", "37.9 K", "48.1 K"]
    assert human[3][2:8] == ["16", "16", "64", "No", "0", "0"]


def test_non_tensor_output_has_no_backward_flops() -> None:
    class TupleOut(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(3, 2)

        def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
            y = self.linear(x)
            return y, y * 2

    summary = get_module_summary(TupleOut(), (torch.randn(4, 3),))
    assert summary.flops_forward == 4 * 3 * 2
    assert summary.flops_backward == "?"
    assert summary.out_size == [[4, 2], [4, 2]]
    assert "Backward FLOPs" not in get_summary_table(summary)


def test_keyword_inputs_and_several_positional_inputs() -> None:
    class Bilinear(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor, *, c: torch.Tensor) -> torch.Tensor:
            return a @ b @ c

    a, b, c = torch.randn(2, 3), torch.randn(3, 4), torch.randn(4, 5)
    summary = get_module_summary(Bilinear(), (a, b), {"c": c})
    assert summary.flops_forward == 2 * 3 * 4 + 2 * 4 * 5
    assert summary.in_size == [[2, 3], [3, 4]]
    kwargs_only = get_module_summary(Bilinear(), module_kwargs={"a": a, "b": b, "c": c})
    assert kwargs_only.flops_forward == 64
    assert kwargs_only.in_size == "?"


def test_summary_leaves_grads_buffers_and_inputs_untouched() -> None:
    model = _small_cnn()
    model[0].weight.grad = torch.ones_like(model[0].weight)
    running_mean = model[1].running_mean.clone()
    x = torch.randn(2, 3, 10, 10, requires_grad=True)
    get_module_summary(model, (x,))
    assert torch.equal(model[0].weight.grad, torch.ones_like(model[0].weight))
    assert model[2][1].weight.grad is None
    assert torch.equal(model[1].running_mean, running_mean)
    assert int(model[1].num_batches_tracked) == 0
    assert x.grad is None


def test_lazy_module_is_not_run() -> None:
    lazy = torch.nn.Sequential(torch.nn.LazyLinear(3), torch.nn.Linear(3, 1))
    summary = get_module_summary(lazy, (torch.randn(1, 2),))
    assert summary.has_uninitialized_param is True
    assert summary.submodule_summaries["0"].has_uninitialized_param is True
    assert summary.submodule_summaries["1"].has_uninitialized_param is False
    assert summary.num_parameters == 4
    assert summary.flops_forward == "?"
    assert torch.nn.parameter.is_lazy(lazy[0].weight)
    assert _cells(get_summary_table(summary))[1][5] == "Yes"


def test_module_name_can_be_set_and_shows_in_table() -> None:
    summary = get_module_summary(torch.nn.Linear(2, 2))
    summary._module_name = "encoder"
    assert summary.module_name == "encoder"
    assert _cells(get_summary_table(summary))[1][0] == "encoder"
    assert str(summary) == get_summary_table(summary)


def test_prune_by_depth() -> None:
    summary = get_module_summary(_small_cnn())
    prune_module_summary(summary, max_depth=3)
    assert list(summary.submodule_summaries["2"].submodule_summaries) == ["2.0", "2.1"]
    prune_module_summary(summary, max_depth=2)
    assert list(summary.submodule_summaries) == ["0", "1", "2"]
    assert summary.submodule_summaries["2"].submodule_summaries == {}
    assert len(_cells(get_summary_table(summary))) == 1 + 4
    prune_module_summary(summary, max_depth=1)
    assert summary.submodule_summaries == {}
    assert summary.num_parameters == 5370


@pytest.mark.parametrize("max_depth", [0, -1, 1.5, "2", True])
def test_prune_rejects_bad_depth(max_depth: object) -> None:
    summary = get_module_summary(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="max_depth=.*expected an int >= 1"):
        prune_module_summary(summary, max_depth=max_depth)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "number, expected",
    [
        (0, "0  "),
        (123, "123  "),
        (1234, "1.2 K"),
        (123_456, "123 K"),
        (int(2e6), "2.0 M"),
        (int(3e9), "3.0 B"),
        (int(4e14), "400 T"),
        (int(5e15), "5,000 T"),
    ],
)
def test_human_readable_count(number: int, expected: str) -> None:
    assert _get_human_readable_count(number) == expected


def test_human_readable_count_custom_labels_and_errors() -> None:
    assert _get_human_readable_count(2500, labels=["B", "KB"]) == "2.5 KB"
    assert _get_human_readable_count(int(7e6), labels=["B", "KB"]) == "7,000 KB"
    with pytest.raises(TypeError, match="number=1.5 is invalid: expected an int"):
        _get_human_readable_count(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="number=-1 is invalid: expected an int >= 0"):
        _get_human_readable_count(-1)
    with pytest.raises(ValueError, match="labels=\\[\\] is invalid"):
        _get_human_readable_count(5, labels=[])


def test_bad_inputs_name_the_argument() -> None:
    with pytest.raises(TypeError, match="module='net' is invalid: expected a torch.nn.Module"):
        get_module_summary("net")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="module_args=.*expected a tuple"):
        get_module_summary(torch.nn.Linear(2, 2), torch.randn(1, 2))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="module_kwargs=.*expected a mapping"):
        get_module_summary(torch.nn.Linear(2, 2), (), [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="module_summary=.*expected a ModuleSummary"):
        get_summary_table(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_module_summary_is_constructible_empty() -> None:
    summary = ModuleSummary()
    assert (summary.module_name, summary.num_parameters, summary.flops_forward) == ("", 0, "?")
