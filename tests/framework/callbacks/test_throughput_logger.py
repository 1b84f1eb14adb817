import logging
from types import SimpleNamespace
from typing import Dict, List

import pytest
import torch

import torchtnt.framework.callbacks.throughput_logger as throughput_module
from tests.framework.callbacks._recording_logger import RecordingLogger
from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyFitUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
    get_dummy_train_state,
)
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.callbacks.throughput_logger import ThroughputLogger
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.train import train
from torchtnt.utils.module_summary import get_module_summary
from torchtnt.utils.progress import Progress

STEP = "(step granularity)"
EPOCH = "(epoch granularity)"


class FakeClock:
    """Stands in for the callback module's ``time``: each reading is 2 s after the last."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        self.now += 2.0
        return self.now


def _dataloader(num_batches: int):
    torch.manual_seed(0)
    return generate_random_dataloader(num_batches * 2, 2, 2)


def _capture(phase: str, store: Dict[str, List[float]]) -> Lambda:
    def capture(state, unit) -> None:
        timer = getattr(state, f"{phase}_state").iteration_timer
        store.update({k: list(v) for k, v in timer.recorded_durations.items()})

    return Lambda(**{f"on_{phase}_end": capture})


def test_step_throughput_is_count_over_iteration_plus_wait() -> None:
    logger = RecordingLogger()
    durations: Dict[str, List[float]] = {}
    callback = ThroughputLogger(logger, {"Batches": 1, "Samples": 2})
    train(
        DummyTrainUnit(2),
        _dataloader(4),
        max_epochs=1,
        callbacks=[callback, _capture("train", durations)],
    )

    iterations, waits = durations["train_iteration_time"], durations["data_wait_time"]
    totals = [iterations[k] + waits[k] for k in range(4)]
    assert logger.named(f"Train: Samples per second {STEP}") == [
        (2.0 / totals[k - 1], k) for k in (1, 2, 3, 4)
    ]
    assert logger.named(f"Train: Batches per second {STEP}") == [
        (1.0 / totals[k - 1], k) for k in (1, 2, 3, 4)
    ]


def test_epoch_throughput_uses_steps_and_wall_time(monkeypatch) -> None:
    monkeypatch.setattr(throughput_module, "time", FakeClock())
    logger = RecordingLogger()
    callback = ThroughputLogger(logger, {"Samples": 2}, log_every_n_steps=100)
    train(DummyTrainUnit(2), _dataloader(3), max_epochs=2, callbacks=[callback])
    # Each epoch: 3 steps of 2 samples, and the fake clock advances 2 s start to end.
    assert logger.calls == [
        (f"Train: Samples per second {EPOCH}", 3.0, 1),
        (f"Train: Samples per second {EPOCH}", 3.0, 2),
    ]


def test_every_n_steps_and_warmup() -> None:
    logger = RecordingLogger()
    callback = ThroughputLogger(logger, {"Batches": 1}, log_every_n_steps=2, warmup_steps=2)
    train(DummyTrainUnit(2), _dataloader(7), max_epochs=1, callbacks=[callback])
    assert [step for _, step in logger.named(f"Train: Batches per second {STEP}")] == [4, 6]


def test_evaluate_logs_steps_and_epoch(monkeypatch) -> None:
    monkeypatch.setattr(throughput_module, "time", FakeClock())
    logger = RecordingLogger()
    callback = ThroughputLogger(logger, {"Samples": 2})
    evaluate(DummyEvalUnit(2), _dataloader(4), callbacks=[callback])
    assert [step for _, step in logger.named(f"Eval: Samples per second {STEP}")] == [1, 2, 3, 4]
    assert logger.named(f"Eval: Samples per second {EPOCH}") == [(4.0, 1)]
    assert all(name.startswith("Eval: ") for name, _, _ in logger.calls)


def test_predict_logs_steps_only(monkeypatch) -> None:
    monkeypatch.setattr(throughput_module, "time", FakeClock())
    logger = RecordingLogger()
    predict(DummyPredictUnit(2), _dataloader(3), callbacks=[ThroughputLogger(logger, {"Rows": 2})])
    assert [step for _, step in logger.named(f"Predict: Rows per second {STEP}")] == [1, 2, 3]
    # TorchTNT does not count predict steps per epoch: no epoch-granularity metric.
    assert logger.named(f"Predict: Rows per second {EPOCH}") == []


def test_fit_logs_each_phase_with_its_own_counters(monkeypatch) -> None:
    monkeypatch.setattr(throughput_module, "time", FakeClock())
    logger = RecordingLogger()
    fit(
        DummyFitUnit(2),
        _dataloader(3),
        _dataloader(2),
        max_epochs=2,
        callbacks=[ThroughputLogger(logger, {"Batches": 1})],
    )
    assert [s for _, s in logger.named(f"Train: Batches per second {STEP}")] == [1, 2, 3, 4, 5, 6]
    assert [s for _, s in logger.named(f"Train: Batches per second {EPOCH}")] == [1, 2]
    assert [s for _, s in logger.named(f"Eval: Batches per second {EPOCH}")] == [1, 2]
    eval_steps = [s for _, s in logger.named(f"Eval: Batches per second {STEP}")]
    # Each eval run ends by logging its last step; the next run's first step end logs that
    # step again (same value), so 2 appears twice.
    assert eval_steps == [1, 2, 2, 3, 4]


def test_flops_and_mfu() -> None:
    logger = RecordingLogger()
    durations: Dict[str, List[float]] = {}
    callback = ThroughputLogger(
        logger, {"Batches": 1}, flops_per_step=3e12, peak_flops_per_second=6e12
    )
    train(
        DummyTrainUnit(2),
        _dataloader(2),
        max_epochs=1,
        callbacks=[callback, _capture("train", durations)],
    )
    totals = [i + w for i, w in zip(durations["train_iteration_time"], durations["data_wait_time"])]
    assert logger.named(f"Train: TFLOPs per second {STEP}") == [
        (3.0 / totals[0], 1),
        (3.0 / totals[1], 2),
    ]
    assert logger.named("Train: MFU (step granularity)") == [
        (0.5 / totals[0], 1),
        (0.5 / totals[1], 2),
    ]
    ((mfu_epoch, step),) = logger.named("Train: MFU (epoch granularity)")
    assert step == 1 and mfu_epoch > 0


def test_flops_per_phase_mapping_from_module_summary() -> None:
    unit = DummyFitUnit(2)
    inputs = torch.randn(2, 2)
    summary = get_module_summary(unit.module, module_args=(inputs,))
    train_flops = summary.flops_forward + summary.flops_backward
    assert train_flops > 0
    logger = RecordingLogger()
    callback = ThroughputLogger(logger, {"Batches": 1}, flops_per_step={"train": train_flops})
    fit(unit, _dataloader(2), _dataloader(1), max_epochs=1, callbacks=[callback])
    names = {name for name, _, _ in logger.calls}
    assert f"Train: TFLOPs per second {STEP}" in names
    assert not any("MFU" in name for name in names)  # no peak given
    assert not any(name.startswith("Eval: TFLOPs") for name in names)


def test_epoch_resumed_mid_way_warns_and_skips(caplog) -> None:
    logger = RecordingLogger()
    callback = ThroughputLogger(logger, {"Batches": 1})
    unit = DummyTrainUnit(2)
    unit.train_progress.load_state_dict(
        Progress(num_epochs_completed=1, num_steps_completed=5).state_dict()
    )
    with caplog.at_level(logging.WARNING, logger=throughput_module.__name__):
        callback.on_train_epoch_end(get_dummy_train_state(), unit)
    assert logger.calls == []
    assert "no start time recorded for the train epoch" in caplog.text


def test_no_step_logged_without_recorded_times() -> None:
    logger = RecordingLogger()
    callback = ThroughputLogger(logger, {"Batches": 1})
    state = get_dummy_train_state()
    unit = DummyTrainUnit(2)
    unit.train_progress.increment_step()
    unit.train_progress.increment_step()
    callback.on_train_step_end(state, unit)
    callback.on_train_end(state, unit)
    assert logger.calls == []


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ({}, {}, ValueError, "^throughput_per_batch cannot be empty$"),
        ({"Batches": 0}, {}, ValueError, r"throughput_per_batch\['Batches'\]=0 is invalid"),
        ({"Batches": 1}, {"log_every_n_steps": 0}, ValueError, "log_every_n_steps=0"),
        ({"Batches": 1}, {"warmup_steps": -1}, ValueError, "warmup_steps=-1"),
        ({"Batches": 1}, {"flops_per_step": -5.0}, ValueError, "flops_per_step=-5.0"),
        ({"Batches": 1}, {"flops_per_step": {"test": 1e9}}, ValueError, "key 'test'"),
        ({"Batches": 1}, {"peak_flops_per_second": 1e12}, ValueError, "without flops_per_step"),
        (
            {"Batches": 1},
            {"flops_per_step": 1e9, "peak_flops_per_second": float("inf")},
            ValueError,
            "peak_flops_per_second=inf",
        ),
    ],
)
def test_invalid_arguments(args, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        ThroughputLogger(RecordingLogger(), args, **kwargs)


def test_logger_type_is_checked() -> None:
    with pytest.raises(TypeError, match=r"logger=.* is invalid: expected a MetricLogger .*log\("):
        ThroughputLogger(SimpleNamespace(write=print), {"Batches": 1})


def test_a_logger_with_only_log_is_enough() -> None:
    # TorchTNT only calls log(): a minimal custom logger keeps working.
    logged = []
    minimal = SimpleNamespace(log=lambda name, value, step: logged.append((name, step)))
    train(
        DummyTrainUnit(2),
        _dataloader(3),
        max_epochs=1,
        callbacks=[ThroughputLogger(minimal, {"Batches": 1})],
    )
    assert [step for name, step in logged if name.endswith(STEP)] == [1, 2, 3]
