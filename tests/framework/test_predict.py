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
from torchtnt.framework._test_utils import (
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.predict import predict
from torchtnt.utils.timer import Timer


def test_hook_sequence() -> None:
    log: List[str] = []
    unit = RecordingUnit(log)
    predict(unit, [3, 4], callbacks=[RecordingCallback(log)])
    assert log == (
        both("on_predict_start")
        + epoch_open("predict")
        + steps("predict", [3, 4])
        + exhausted("predict")
        + both("on_predict_epoch_end")
        + both("on_predict_end")
    )


def test_runs_in_inference_mode_and_eval_mode() -> None:
    unit = RecordingUnit([])
    inference = []
    predict(
        unit,
        [0],
        callbacks=[
            Lambda(
                on_predict_step_end=lambda s, u: inference.append(torch.is_inference_mode_enabled())
            )
        ],
    )
    assert inference == [True]
    assert unit.training_flags == [False]
    assert unit.module.training is True


def test_finished_unit_is_not_run_again(caplog: pytest.LogCaptureFixture) -> None:
    log: List[str] = []
    unit = RecordingUnit(log)
    predict(unit, [0, 1])
    log.clear()
    predict(unit, [0, 1], callbacks=[RecordingCallback(log)])
    assert log == []
    assert unit.predict_progress.num_steps_completed == 2
    assert "already completed a predict epoch" in caplog.text


def test_timer_times_unit_start_hooks() -> None:
    timer = Timer()
    predict(RecordingUnit([]), [0, 1], timer=timer)
    assert len(timer.recorded_durations["RecordingUnit.on_predict_start"]) == 1
    assert len(timer.recorded_durations["RecordingUnit.on_predict_epoch_start"]) == 1
    assert len(timer.recorded_durations["predict.next(data_iter)"]) == 2


def test_step_outputs_and_max_steps() -> None:
    torch.manual_seed(0)
    unit = DummyPredictUnit(3)
    outputs = []
    predict(
        unit,
        generate_random_dataloader(10, 3, 2),
        max_steps_per_epoch=3,
        callbacks=[
            Lambda(
                on_predict_step_end=lambda s, u: outputs.append(s.predict_state.step_output.shape)
            )
        ],
    )
    assert outputs == [torch.Size([2, 2])] * 3


def test_exception_propagates() -> None:
    log: List[str] = []
    unit = RecordingUnit(log, fail_on=[("predict", 1)])
    with pytest.raises(RuntimeError, match="predict step failed on 1"):
        predict(unit, [0, 1], callbacks=[RecordingCallback(log)])
    assert log[-2:] == ["unit.on_exception", "cb.on_exception"]


def test_bad_arguments() -> None:
    with pytest.raises(
        TypeError, match="predict_unit=.* is invalid: expected an instance of PredictUnit"
    ):
        predict(DummyTrainUnit(2), [0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_steps_per_epoch"):
        predict(RecordingUnit([]), [0], max_steps_per_epoch=-5)
