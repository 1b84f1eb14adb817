from typing import List

import pytest
import torch

from tests.framework._recording import (
    RecordingCallback,
    RecordingUnit,
    both,
    epoch_open,
    exhausted,
    steps,
)
from torchtnt.framework._test_utils import DummyEvalUnit, DummyTrainUnit, generate_random_dataloader
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.state import ActivePhase, EntryPoint
from torchtnt.utils.timer import Timer


def test_hook_sequence() -> None:
    log: List[str] = []
    unit = RecordingUnit(log)
    evaluate(unit, [3, 4], callbacks=[RecordingCallback(log)])
    assert log == (
        both("on_eval_start")
        + epoch_open("eval")
        + steps("eval", [3, 4])
        + exhausted("eval")
        + both("on_eval_epoch_end")
        + both("on_eval_end")
    )
    assert unit.eval_progress.state_dict() == {
        "num_epochs_completed": 1,
        "num_steps_completed": 2,
        "num_steps_completed_in_epoch": 0,
    }


def test_runs_without_grad_in_eval_mode_and_restores_mode() -> None:
    unit = RecordingUnit([])
    seen = []
    evaluate(
        unit,
        [0, 1],
        callbacks=[
            Lambda(on_eval_step_end=lambda s, u: seen.append((s.entry_point, s.active_phase)))
        ],
    )
    assert unit.grad_enabled == [False, False]
    assert unit.training_flags == [False, False]
    assert unit.module.training is True
    assert seen == [(EntryPoint.EVALUATE, ActivePhase.EVALUATE)] * 2


def test_max_steps_per_epoch() -> None:
    log: List[str] = []
    unit = RecordingUnit(log)
    evaluate(unit, [0, 1, 2, 3], max_steps_per_epoch=2, callbacks=[RecordingCallback(log)])
    assert unit.eval_progress.num_steps_completed == 2
    assert "cb.on_eval_get_next_batch_start" not in log[-5:]


def test_evaluating_twice_runs_twice() -> None:
    unit = RecordingUnit([])
    evaluate(unit, [0, 1])
    evaluate(unit, [0, 1])
    assert unit.eval_progress.num_epochs_completed == 2
    assert unit.eval_progress.num_steps_completed == 4


def test_stop_ends_after_current_step() -> None:
    log: List[str] = []
    unit = RecordingUnit(log, stop_on=[("eval", 1)])
    evaluate(unit, [0, 1, 2], callbacks=[RecordingCallback(log)])
    assert unit.eval_progress.num_steps_completed == 2
    assert log[-4:] == both("on_eval_epoch_end") + both("on_eval_end")


def test_exception_propagates_after_on_exception() -> None:
    log: List[str] = []
    unit = RecordingUnit(log, fail_on=[("eval", 0)])
    with pytest.raises(RuntimeError, match="eval step failed on 0"):
        evaluate(unit, [0], callbacks=[RecordingCallback(log)])
    assert log[-2:] == ["unit.on_exception", "cb.on_exception"]


def test_timer_regions() -> None:
    timer = Timer()
    evaluate(RecordingUnit([]), [0, 1], timer=timer)
    assert len(timer.recorded_durations["evaluate.iter(dataloader)"]) == 1
    assert len(timer.recorded_durations["evaluate.next(data_iter)"]) == 2


def test_dummy_eval_unit_does_not_change_weights() -> None:
    torch.manual_seed(0)
    unit = DummyEvalUnit(4)
    before = unit.module.weight.detach().clone()
    evaluate(unit, generate_random_dataloader(8, 4, 2))
    assert torch.equal(before, unit.module.weight)
    assert unit.eval_progress.num_steps_completed == 4


def test_empty_dataloader() -> None:
    unit = RecordingUnit([])
    evaluate(unit, [])
    assert unit.eval_progress.num_epochs_completed == 1
    assert unit.eval_progress.num_steps_completed == 0


@pytest.mark.parametrize(
    "unit, data, kwargs, error, message",
    [
        (
            DummyTrainUnit(2),
            [0],
            {},
            TypeError,
            "eval_unit=.* is invalid: expected an instance of EvalUnit",
        ),
        (
            RecordingUnit([]),
            object(),
            {},
            TypeError,
            "eval_dataloader=.* is invalid: expected an iterable",
        ),
        (RecordingUnit([]), [0], {"max_steps_per_epoch": -1}, ValueError, "max_steps_per_epoch"),
        (
            RecordingUnit([]),
            [0],
            {"callbacks": [None]},
            TypeError,
            r"callbacks\[0\]=None is invalid",
        ),
    ],
)
def test_bad_arguments(unit, data, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        evaluate(unit, data, **kwargs)
