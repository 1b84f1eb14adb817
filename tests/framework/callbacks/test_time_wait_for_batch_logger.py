import time
from typing import Iterator, List

import pytest
import torch

from tests.framework.callbacks._recording_logger import RecordingLogger
from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.callbacks.time_wait_for_batch_logger import TimeWaitForBatchLogger
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.predict import predict
from torchtnt.framework.train import train
from torchtnt.utils.timer import Timer

TRAIN = "Time Wait For Batch (Train)"


class SlowBatches:
    """Batches that each take ``delay`` seconds to produce."""

    def __init__(self, num_batches: int, delay: float) -> None:
        torch.manual_seed(0)
        self.batches = [(torch.randn(2, 2), torch.randint(0, 2, (2,))) for _ in range(num_batches)]
        self.delay = delay

    def __iter__(self) -> Iterator:
        for batch in self.batches:
            time.sleep(self.delay)
            yield batch


def test_train_logs_this_steps_wait() -> None:
    logger = RecordingLogger()
    waits: List[float] = []

    def capture(state, unit) -> None:
        waits.extend(state.train_state.iteration_timer.recorded_durations["data_wait_time"])

    train(
        DummyTrainUnit(2),
        SlowBatches(3, delay=0.004),
        max_epochs=1,
        callbacks=[TimeWaitForBatchLogger(logger), Lambda(on_train_end=capture)],
    )
    assert len(waits) == 3
    assert logger.calls == [(TRAIN, waits[0], 1), (TRAIN, waits[1], 2), (TRAIN, waits[2], 3)]
    assert all(value >= 0.004 for _, value, _ in logger.calls)


def test_every_n_steps_and_warmup() -> None:
    logger = RecordingLogger()
    train(
        DummyTrainUnit(2),
        generate_random_dataloader(12, 2, 2),
        max_epochs=1,
        callbacks=[TimeWaitForBatchLogger(logger, log_every_n_steps=2, warmup_steps=2)],
    )
    assert [step for _, _, step in logger.calls] == [4, 6]


def test_eval_and_predict_labels() -> None:
    logger = RecordingLogger()
    callback = TimeWaitForBatchLogger(logger)
    evaluate(DummyEvalUnit(2), generate_random_dataloader(4, 2, 2), callbacks=[callback])
    predict(DummyPredictUnit(2), generate_random_dataloader(2, 2, 2), callbacks=[callback])
    assert [(name, step) for name, _, step in logger.calls] == [
        ("Time Wait For Batch (Eval)", 1),
        ("Time Wait For Batch (Eval)", 2),
        ("Time Wait For Batch (Predict)", 1),
    ]


def test_summary_writer_events_read_back(tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path))
    train(
        DummyTrainUnit(2),
        SlowBatches(2, delay=0.003),
        max_epochs=1,
        callbacks=[TimeWaitForBatchLogger(writer)],
    )
    writer.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    scalars = events.Scalars(TRAIN)
    assert [e.step for e in scalars] == [1, 2]
    assert all(e.value >= 0.003 for e in scalars)


def test_log_step_metrics_directly() -> None:
    logger = RecordingLogger()
    callback = TimeWaitForBatchLogger(logger, log_every_n_steps=2)
    timer = Timer()
    timer.recorded_durations["data_wait_time"].extend([1.0, 2.0, 3.0])
    callback._log_step_metrics(timer=timer, label="foo", step=1)
    callback._log_step_metrics(timer=timer, label="foo", step=2)
    callback._log_step_metrics(timer=Timer(), label="foo", step=4)  # nothing recorded
    assert logger.calls == [("foo", 3.0, 2)]


def test_nothing_logged_off_rank_zero(monkeypatch) -> None:
    monkeypatch.setenv("RANK", "1")
    logger = RecordingLogger()
    train(
        DummyTrainUnit(2),
        generate_random_dataloader(4, 2, 2),
        max_epochs=1,
        callbacks=[TimeWaitForBatchLogger(logger)],
    )
    assert logger.calls == []


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"log_every_n_steps": 0}, ValueError, "log_every_n_steps=0 is invalid"),
        ({"warmup_steps": -2}, ValueError, "warmup_steps=-2 is invalid"),
        ({"warmup_steps": "1"}, TypeError, "warmup_steps='1' is invalid"),
    ],
)
def test_invalid_arguments(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        TimeWaitForBatchLogger(RecordingLogger(), **kwargs)


def test_logger_type_is_checked() -> None:
    with pytest.raises(TypeError, match="logger=3 is invalid"):
        TimeWaitForBatchLogger(3)
