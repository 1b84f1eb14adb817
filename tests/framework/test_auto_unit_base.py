"""AutoUnit's batch handling (in ``_auto_unit_base``): read-ahead across epochs, phases and
dataloaders, and moving batches to the device."""

from typing import Any, List, Tuple

import pytest
import torch

from tests.framework.test_auto_unit import (
    CPU,
    Batch,
    RegressionUnit,
    make_batches,
    make_linear,
)
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.state import State
from torchtnt.framework.train import train


def marked_batches(num: int, start: int = 0) -> List[Batch]:
    return [(torch.full((1, 3), float(i)), torch.zeros(1, 1)) for i in range(start, start + num)]


@pytest.mark.parametrize(
    "enable_prefetch, expected", [(True, [0, 1, 2, 3, 0, 1]), (False, [0, 1, 2, 0, 1, 2])]
)
def test_prefetch_carries_the_fetched_batch_into_the_next_epoch(
    enable_prefetch: bool, expected: List[int]
) -> None:
    unit = RegressionUnit(module=make_linear(), device=CPU, enable_prefetch=enable_prefetch)
    train(unit, marked_batches(4), max_epochs=2, max_steps_per_epoch=3)
    assert [int(x[0, 0]) for x in unit.seen] == expected


def test_an_epoch_cut_at_the_end_of_the_data_is_followed_by_a_full_epoch() -> None:
    # The read-ahead found the end of the data while the step limit ended the epoch: that
    # end belongs to the old iterator, and the next epoch still runs all its steps.
    unit = RegressionUnit(module=make_linear(), device=CPU)
    train(unit, marked_batches(4), max_epochs=3, max_steps_per_epoch=4)
    assert [int(x[0, 0]) for x in unit.seen] == [0, 1, 2, 3] * 3
    assert unit.train_progress.num_steps_completed == 12


def test_evaluation_inside_fit_does_not_flush_gradient_accumulation() -> None:
    # Each evaluation reads its 2 batches ahead to the end; that must not make the next
    # train step look like the last batch of the train data (an extra optimizer step),
    # nor leave the following evaluation without data.
    unit = RegressionUnit(
        module=make_linear(), device=CPU, gradient_accumulation_steps=4, clip_grad_norm=1e6
    )
    fit(
        unit,
        make_batches(8),
        marked_batches(2),
        max_epochs=1,
        evaluate_every_n_steps=2,
        evaluate_every_n_epochs=None,
        max_eval_steps_per_epoch=2,
    )
    assert [step for step, r in unit.results if r.total_grad_norm is not None] == [3, 7]
    assert unit.eval_progress.num_steps_completed == 8  # 4 evaluations of 2 steps


def test_a_batch_read_ahead_is_not_carried_into_a_run_on_another_dataloader() -> None:
    unit = RegressionUnit(module=make_linear(), device=CPU)
    evaluate(unit, marked_batches(5), max_steps_per_epoch=2)  # reads batch 2 ahead
    evaluate(unit, marked_batches(3, start=10))
    assert [int(x[0, 0]) for x in unit.seen] == [0, 1, 10, 11, 12]
    # The same dataloader again: the read-ahead batch opens its next epoch (TorchTNT's rule).
    same = marked_batches(4)
    again = RegressionUnit(module=make_linear(), device=CPU)
    evaluate(again, same, max_steps_per_epoch=3)
    evaluate(again, same, max_steps_per_epoch=3)
    assert [int(x[0, 0]) for x in again.seen] == [0, 1, 2, 3, 0, 1]


def test_prefetch_runs_each_phase_to_the_end_of_its_data() -> None:
    unit = RegressionUnit(module=make_linear(), device=CPU)
    fit(unit, marked_batches(3), marked_batches(2), max_epochs=2)
    assert [int(x[0, 0]) for x in unit.seen] == [0, 1, 2, 0, 1, 0, 1, 2, 0, 1]
    assert unit.eval_steps == [3, 3, 6, 6]  # during fit: the train step count


def test_move_data_to_device_override_sees_every_batch() -> None:
    moved: List[bool] = []

    class Custom(RegressionUnit):
        def move_data_to_device(self, state: State, data: Any, non_blocking: bool) -> Any:
            moved.append(non_blocking)
            inputs, targets = data["x"], data["y"]
            return inputs * 0 + 1, targets

    unit = Custom(module=make_linear(), device=CPU, enable_prefetch=False)
    train(unit, [{"x": torch.zeros(2, 3), "y": torch.zeros(2, 1)}] * 2, max_epochs=1)
    assert moved == [True, True]
    assert all(torch.equal(x, torch.ones(2, 3)) for x in unit.seen)


def test_nested_batches_are_copied_structurally() -> None:
    class DictUnit(RegressionUnit):
        def compute_loss(self, state: State, data: Any) -> Tuple[torch.Tensor, Any]:
            return super().compute_loss(state, (data["inputs"][0], data["targets"]))

    batch = {"inputs": [torch.ones(2, 3)], "targets": torch.zeros(2, 1)}
    unit = DictUnit(module=make_linear(), device=CPU)
    train(unit, [batch], max_epochs=1)
    assert torch.equal(unit.seen[0], torch.ones(2, 3))
