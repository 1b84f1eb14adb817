from typing import Dict, List

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.framework.callbacks._recording_logger import RecordingLogger
from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyFitUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.iteration_time_logger import IterationTimeLogger
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.train import train
from torchtnt.utils.loggers.in_memory import InMemoryLogger
from torchtnt.utils.timer import Timer

TRAIN = "Train Iteration Time (seconds)"
EVAL = "Eval Iteration Time (seconds)"
PREDICT = "Prediction Iteration Time (seconds)"


def _capture_durations(phase: str, store: Dict[str, List[float]]) -> Lambda:
    def capture(state, unit) -> None:
        timer = getattr(state, f"{phase}_state").iteration_timer
        store.update({k: list(v) for k, v in timer.recorded_durations.items()})

    return Lambda(**{f"on_{phase}_end": capture})


def _dataloader(num_batches: int) -> DataLoader:
    torch.manual_seed(0)
    return generate_random_dataloader(num_batches * 2, 2, 2)


def test_train_logs_each_step_with_its_own_duration() -> None:
    logger = RecordingLogger()
    durations: Dict[str, List[float]] = {}
    train(
        DummyTrainUnit(2),
        _dataloader(4),
        max_epochs=1,
        callbacks=[IterationTimeLogger(logger), _capture_durations("train", durations)],
    )
    times = durations["train_iteration_time"]
    assert len(times) == 4
    # Step 0 is never logged (it is <= warmup_steps=0); each step end logs the previous step.
    assert logger.calls == [(TRAIN, times[k - 1], k) for k in (1, 2, 3, 4)]
    assert all(value > 0 for _, value, _ in logger.calls)


def test_moving_average_window() -> None:
    logger = RecordingLogger()
    durations: Dict[str, List[float]] = {}
    train(
        DummyTrainUnit(2),
        _dataloader(4),
        max_epochs=1,
        callbacks=[
            IterationTimeLogger(logger, moving_avg_window=2),
            _capture_durations("train", durations),
        ],
    )
    t = durations["train_iteration_time"]
    expected = [t[0], (t[0] + t[1]) / 2, (t[1] + t[2]) / 2, (t[2] + t[3]) / 2]
    assert [value for _, value, _ in logger.calls] == expected


def test_every_n_steps_and_warmup() -> None:
    logger = RecordingLogger()
    train(
        DummyTrainUnit(2),
        _dataloader(4),
        max_epochs=2,
        callbacks=[IterationTimeLogger(logger, log_every_n_steps=2, warmup_steps=2)],
    )
    assert [(name, step) for name, _, step in logger.calls] == [
        (TRAIN, 4),
        (TRAIN, 6),
        (TRAIN, 8),
    ]


def test_evaluate_and_predict_labels() -> None:
    logger = RecordingLogger()
    callback = IterationTimeLogger(logger)
    evaluate(DummyEvalUnit(2), _dataloader(3), callbacks=[callback])
    predict(DummyPredictUnit(2), _dataloader(2), callbacks=[callback])
    assert [(name, step) for name, _, step in logger.calls] == [
        (EVAL, 1),
        (EVAL, 2),
        (EVAL, 3),
        (PREDICT, 1),
        (PREDICT, 2),
    ]


def test_fit_logs_train_and_eval_with_their_own_counters() -> None:
    logger = InMemoryLogger()
    fit(
        DummyFitUnit(2),
        _dataloader(3),
        _dataloader(2),
        max_epochs=2,
        callbacks=[IterationTimeLogger(logger)],
    )
    train_steps = [s for s, row in logger.log_buffer.items() if TRAIN in row]
    eval_steps = [s for s, row in logger.log_buffer.items() if EVAL in row]
    assert train_steps == [1, 2, 3, 4, 5, 6]
    assert eval_steps == [1, 2, 3, 4]


def test_summary_writer_events_read_back(tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path))
    durations: Dict[str, List[float]] = {}
    train(
        DummyTrainUnit(2),
        _dataloader(3),
        max_epochs=1,
        callbacks=[IterationTimeLogger(writer), _capture_durations("train", durations)],
    )
    writer.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    events.Reload()
    assert events.Tags()["scalars"] == [TRAIN]
    scalars = events.Scalars(TRAIN)
    assert [e.step for e in scalars] == [1, 2, 3]
    expected = durations["train_iteration_time"]
    assert [e.value for e in scalars] == pytest.approx(expected, rel=1e-6)


def test_nothing_logged_off_rank_zero(monkeypatch) -> None:
    monkeypatch.setenv("RANK", "1")
    logger = RecordingLogger()
    train(DummyTrainUnit(2), _dataloader(3), max_epochs=1, callbacks=[IterationTimeLogger(logger)])
    assert logger.calls == []


def test_log_step_metrics_with_a_timer() -> None:
    logger = RecordingLogger()
    callback = IterationTimeLogger(logger, moving_avg_window=3, log_every_n_steps=2)
    timer = Timer()
    timer.recorded_durations["train_iteration_time"].extend([1.0, 2.0, 3.0, 6.0])
    callback._log_step_metrics("train_iteration_time", timer, 1)
    callback._log_step_metrics("train_iteration_time", timer, 2)
    callback._log_step_metrics("eval_iteration_time", timer, 2)  # nothing recorded
    assert logger.calls == [(TRAIN, pytest.approx(11 / 3), 2)]


def test_empty_dataloader_logs_nothing() -> None:
    logger = RecordingLogger()
    empty = DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0)), batch_size=2)
    train(DummyTrainUnit(2), empty, max_epochs=1, callbacks=[IterationTimeLogger(logger)])
    assert logger.calls == []


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"moving_avg_window": 0}, ValueError, "moving_avg_window=0 is invalid"),
        ({"log_every_n_steps": 0}, ValueError, "log_every_n_steps=0 is invalid"),
        ({"warmup_steps": -1}, ValueError, "warmup_steps=-1 is invalid"),
        ({"log_every_n_steps": 1.5}, TypeError, "log_every_n_steps=1.5 is invalid"),
    ],
)
def test_invalid_arguments(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        IterationTimeLogger(RecordingLogger(), **kwargs)


def test_logger_must_be_a_metric_logger() -> None:
    with pytest.raises(TypeError, match="logger=.* is invalid: expected a MetricLogger"):
        IterationTimeLogger(object())
