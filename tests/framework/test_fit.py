from typing import Any, List

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
from torchtnt.framework._loop_utils import RESUME_INSIDE_EVAL_ATTR
from torchtnt.framework._test_utils import DummyFitUnit, DummyTrainUnit, generate_random_dataloader
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.fit import fit
from torchtnt.framework.state import ActivePhase, EntryPoint


def run_fit(train_data, eval_data, **kwargs):
    log: List[str] = []
    unit = RecordingUnit(log, stop_on=kwargs.pop("stop_on", None))
    fit(
        unit,
        train_data,
        eval_data,
        callbacks=[RecordingCallback(log), *kwargs.pop("callbacks", [])],
        **kwargs,
    )
    return unit, log


def full_eval(batches) -> List[str]:
    return (
        both("on_eval_start")
        + epoch_open("eval")
        + steps("eval", batches)
        + exhausted("eval")
        + both("on_eval_epoch_end")
        + both("on_eval_end")
    )


def test_default_evaluates_after_every_epoch() -> None:
    unit, log = run_fit([0, 1], [5], max_epochs=2)
    train_epoch = (
        epoch_open("train")
        + steps("train", [0, 1])
        + exhausted("train")
        + both("on_train_epoch_end")
    )
    assert log == both("on_train_start") + (train_epoch + full_eval([5])) * 2 + both("on_train_end")
    assert unit.eval_progress.num_epochs_completed == 2
    assert unit.eval_progress.num_steps_completed == 2


def test_evaluate_every_n_steps_and_epochs() -> None:
    unit, log = run_fit(
        [0, 1, 2, 3], [7, 8], max_epochs=1, evaluate_every_n_steps=2, evaluate_every_n_epochs=1
    )
    expected = (
        both("on_train_start")
        + epoch_open("train")
        + steps("train", [0, 1])
        + full_eval([7, 8])
        + steps("train", [2, 3])
        + full_eval([7, 8])
        + exhausted("train")
        + both("on_train_epoch_end")
        + full_eval([7, 8])  # the epoch-based one: after the last step, eval runs twice
        + both("on_train_end")
    )
    assert log == expected
    assert unit.eval_progress.num_epochs_completed == 3
    assert unit.eval_progress.num_steps_completed == 6


def test_evaluate_every_two_epochs_with_eval_step_limit() -> None:
    unit, log = run_fit(
        [0], [7, 8, 9], max_epochs=4, evaluate_every_n_epochs=2, max_eval_steps_per_epoch=2
    )
    assert [e for e in log if e.startswith("unit.")].count("unit.on_eval_start") == 2
    assert unit.eval_progress.num_steps_completed == 4
    assert unit.train_progress.num_epochs_completed == 4


def test_no_evaluation_when_both_cadences_are_none() -> None:
    unit, log = run_fit([0, 1], [7], max_epochs=2, evaluate_every_n_epochs=None)
    assert not any("eval" in entry for entry in log)
    assert unit.eval_progress.num_epochs_completed == 0


def test_phase_and_modes_during_eval_in_fit() -> None:
    seen = []

    def record(state, unit):
        seen.append(
            (state.entry_point, state.active_phase, unit.module.training, torch.is_grad_enabled())
        )

    unit, _ = run_fit(
        [0],
        [7],
        max_epochs=1,
        callbacks=[Lambda(on_train_step_end=record, on_eval_step_end=record, on_train_end=record)],
    )
    assert seen == [
        (EntryPoint.FIT, ActivePhase.TRAIN, True, True),
        (EntryPoint.FIT, ActivePhase.EVALUATE, False, False),
        (EntryPoint.FIT, ActivePhase.TRAIN, True, True),
    ]


def test_stop_during_train_still_runs_epoch_eval_with_zero_steps() -> None:
    unit, log = run_fit([0, 1, 2], [7], max_epochs=3, stop_on=[("train", 1)])
    tail = (
        both("on_train_epoch_end")
        + both("on_eval_start")
        + epoch_open("eval")
        + both("on_eval_epoch_end")
        + both("on_eval_end")
        + both("on_train_end")
    )
    assert log[-len(tail) :] == tail
    assert log[-len(tail) - 2 : -len(tail)] == ["unit.train_step(1)", "cb.on_train_step_end"]
    assert unit.eval_progress.num_epochs_completed == 1
    assert unit.eval_progress.num_steps_completed == 0


def test_stop_during_eval_matches_spec_example() -> None:
    log: List[str] = []
    unit = RecordingUnit(log)
    fit(
        unit,
        [0, 1, 2],
        [7, 8],
        max_epochs=5,
        evaluate_every_n_steps=2,
        evaluate_every_n_epochs=1,
        callbacks=[RecordingCallback(log), Lambda(on_eval_step_end=lambda s, u: s.stop())],
    )
    zero_step_eval = (
        both("on_eval_start") + epoch_open("eval") + both("on_eval_epoch_end") + both("on_eval_end")
    )
    assert log == (
        both("on_train_start")
        + epoch_open("train")
        + steps("train", [0, 1])
        + both("on_eval_start")
        + epoch_open("eval")
        + steps("eval", [7])
        + both("on_eval_epoch_end")
        + both("on_eval_end")
        + both("on_train_epoch_end")
        + zero_step_eval
        + both("on_train_end")
    )
    assert unit.train_progress.state_dict() == {
        "num_epochs_completed": 1,
        "num_steps_completed": 2,
        "num_steps_completed_in_epoch": 0,
    }
    assert unit.eval_progress.num_epochs_completed == 2
    assert unit.eval_progress.num_steps_completed == 1


def test_exception_in_eval_step_propagates_from_fit() -> None:
    log: List[str] = []
    unit = RecordingUnit(log, fail_on=[("eval", 7)])
    with pytest.raises(RuntimeError, match="eval step failed on 7"):
        fit(unit, [0], [7], max_epochs=1, callbacks=[RecordingCallback(log)])
    assert log[-3:] == ["unit.eval_step(7)", "unit.on_exception", "cb.on_exception"]
    assert unit.module.training is True


def test_dummy_fit_unit() -> None:
    torch.manual_seed(0)
    unit = DummyFitUnit(input_dim=3)
    fit(
        unit,
        generate_random_dataloader(10, 3, 5),
        generate_random_dataloader(6, 3, 3),
        max_epochs=2,
    )
    assert unit.train_progress.num_steps_completed == 4
    assert unit.eval_progress.num_steps_completed == 4


def test_unit_without_train_interface() -> None:
    from torchtnt.framework._test_utils import DummyEvalUnit

    with pytest.raises(TypeError) as info:
        fit(DummyEvalUnit(2), [0], [0], max_epochs=1)  # type: ignore[arg-type]
    assert str(info.value) == "Expected unit to implement TrainUnit interface."


def test_unit_without_eval_interface() -> None:
    with pytest.raises(TypeError) as info:
        fit(DummyTrainUnit(2), [0], [0], max_epochs=1)  # type: ignore[arg-type]
    assert str(info.value) == "Expected unit to implement EvalUnit interface."


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"evaluate_every_n_steps": -1},
            ValueError,
            "evaluate_every_n_steps. Expected a non-negative integer",
        ),
        ({"evaluate_every_n_epochs": -2}, ValueError, "evaluate_every_n_epochs"),
        ({"max_eval_steps_per_epoch": -1}, ValueError, "max_eval_steps_per_epoch"),
        ({"max_train_steps_per_epoch": "2"}, TypeError, "max_train_steps_per_epoch='2' is invalid"),
        (
            {"eval_dataloader": None},
            ValueError,
            "evaluate_every_n_epochs=1 is invalid without an eval dataloader",
        ),
        (
            {"eval_dataloader": None, "evaluate_every_n_epochs": None, "evaluate_every_n_steps": 3},
            ValueError,
            "evaluate_every_n_steps=3 is invalid without an eval dataloader",
        ),
        (
            {"eval_dataloader": 3.5},
            TypeError,
            "eval_dataloader=3.5 is invalid: expected an iterable",
        ),
        ({"train_dataloader": None}, TypeError, "train_dataloader=None is invalid"),
    ],
)
def test_bad_arguments_fail_before_any_hook(kwargs, error, message) -> None:
    log: List[str] = []
    args = {"train_dataloader": [0], "eval_dataloader": [1], "max_epochs": 1, **kwargs}
    with pytest.raises(error, match=message):
        fit(RecordingUnit(log), args.pop("train_dataloader"), args.pop("eval_dataloader"), **args)
    assert log == []


def test_fit_without_eval_dataloader_when_never_evaluating() -> None:
    unit, _ = run_fit([0, 1], None, max_epochs=1, evaluate_every_n_epochs=None)
    assert unit.train_progress.num_steps_completed == 2


@pytest.mark.parametrize("eval_dataloader", [[8], None])
def test_a_fit_that_does_not_evaluate_does_not_finish_an_interrupted_evaluation(
    eval_dataloader: Any,
) -> None:
    log: List[str] = []
    unit = RecordingUnit(log)
    unit.eval_progress.load_state_dict(
        {"num_epochs_completed": 0, "num_steps_completed": 1, "num_steps_completed_in_epoch": 1}
    )
    fit(unit, [0, 1], eval_dataloader, max_epochs=1, evaluate_every_n_epochs=None)
    assert not any("eval" in entry for entry in log)
    assert unit.eval_progress.num_steps_completed == 1


def test_progress_left_by_a_failed_evaluate_does_not_make_fit_evaluate_first() -> None:
    log: List[str] = []
    unit = RecordingUnit(log)
    # what evaluate() leaves when its second step raised: one step into its epoch
    unit.eval_progress.load_state_dict(
        {"num_epochs_completed": 0, "num_steps_completed": 1, "num_steps_completed_in_epoch": 1}
    )
    fit(unit, [0, 1], [8, 9], max_epochs=1, evaluate_every_n_epochs=5)
    assert not any("eval" in entry for entry in log)


def test_resuming_inside_an_evaluation_finishes_it_first() -> None:
    log: List[str] = []
    unit = RecordingUnit(log)
    # as restored from a checkpoint taken after eval step 1 of the evaluation that followed
    # train epoch 1 (the restore also leaves the mark the loop reads)
    unit.train_progress.load_state_dict(
        {"num_epochs_completed": 1, "num_steps_completed": 2, "num_steps_completed_in_epoch": 0}
    )
    unit.eval_progress.load_state_dict(
        {"num_epochs_completed": 0, "num_steps_completed": 1, "num_steps_completed_in_epoch": 1}
    )
    object.__setattr__(unit, RESUME_INSIDE_EVAL_ATTR, True)
    fit(unit, [0, 1], [8], max_epochs=2, callbacks=[RecordingCallback(log)])
    resumed_eval = (
        both("on_eval_start")
        + epoch_open("eval", fresh=False)
        + steps("eval", [8])
        + exhausted("eval")
        + both("on_eval_epoch_end")
        + both("on_eval_end")
    )
    train_epoch = (
        epoch_open("train")
        + steps("train", [0, 1])
        + exhausted("train")
        + both("on_train_epoch_end")
    )
    assert log == both("on_train_start") + resumed_eval + train_epoch + full_eval([8]) + both(
        "on_train_end"
    )
    assert unit.eval_progress.state_dict() == {
        "num_epochs_completed": 2,
        "num_steps_completed": 3,
        "num_steps_completed_in_epoch": 0,
    }
