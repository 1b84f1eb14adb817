import logging

import torch

import torchtnt.framework.callbacks.progress_reporter as reporter_module
from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyFitUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.progress_reporter import ProgressReporter
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.train import train


def _dataloader(num_batches: int):
    torch.manual_seed(0)
    return generate_random_dataloader(num_batches * 2, 2, 2)


def _progress(epochs: int, steps: int, in_epoch: int) -> str:
    return (
        f"completed epochs: {epochs}, completed steps: {steps}, "
        f"completed steps in current epoch: {in_epoch}."
    )


def _line(rank: int, hook: str, **progress: str) -> str:
    line = f"Progress Reporter: rank {rank} at {hook}."
    for label, text in progress.items():
        line += f" {label} progress: {text}"
    return line


def test_train_reports_every_coarse_hook(caplog) -> None:
    caplog.set_level(logging.INFO, logger=reporter_module.__name__)
    train(DummyTrainUnit(2), _dataloader(2), max_epochs=1, callbacks=[ProgressReporter()])
    lines = [r.getMessage() for r in caplog.records if r.name == reporter_module.__name__]
    expected = [
        ("on_train_start", (0, 0, 0)),
        ("on_train_epoch_start", (0, 0, 0)),
        ("on_train_step_start", (0, 0, 0)),
        ("on_train_step_end", (0, 1, 1)),
        ("on_train_step_start", (0, 1, 1)),
        ("on_train_step_end", (0, 2, 2)),
        ("on_train_epoch_end", (1, 2, 0)),
        ("on_train_end", (1, 2, 0)),
    ]
    assert lines == [_line(0, hook, Train=_progress(*p)) for hook, p in expected]


def test_fit_reports_train_and_eval_progress(caplog) -> None:
    caplog.set_level(logging.INFO, logger=reporter_module.__name__)
    fit(
        DummyFitUnit(2),
        _dataloader(1),
        _dataloader(1),
        max_epochs=1,
        callbacks=[ProgressReporter()],
    )
    lines = [r.getMessage() for r in caplog.records if r.name == reporter_module.__name__]
    hooks = [line.split(" at ")[1].split(".")[0] for line in lines]
    assert hooks == [
        "on_train_start",
        "on_train_epoch_start",
        "on_train_step_start",
        "on_train_step_end",
        "on_train_epoch_end",
        "on_eval_start",
        "on_eval_epoch_start",
        "on_eval_step_start",
        "on_eval_step_end",
        "on_eval_epoch_end",
        "on_eval_end",
        "on_train_end",
    ]
    assert lines[-1] == _line(0, "on_train_end", Train=_progress(1, 1, 0), Eval=_progress(1, 1, 0))
    assert lines[8] == _line(
        0, "on_eval_step_end", Train=_progress(1, 1, 0), Eval=_progress(0, 1, 1)
    )


def test_evaluate_and_predict_report_their_phase(caplog, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "3")
    caplog.set_level(logging.INFO, logger=reporter_module.__name__)
    evaluate(DummyEvalUnit(2), _dataloader(1), callbacks=[ProgressReporter()])
    predict(DummyPredictUnit(2), _dataloader(1), callbacks=[ProgressReporter()])
    lines = [r.getMessage() for r in caplog.records if r.name == reporter_module.__name__]
    assert lines[3] == _line(3, "on_eval_step_end", Eval=_progress(0, 1, 1))
    assert lines[-1] == _line(3, "on_predict_end", Predict=_progress(1, 1, 0))
    assert len(lines) == 12


def test_silent_when_info_is_disabled(caplog) -> None:
    caplog.set_level(logging.WARNING, logger=reporter_module.__name__)
    train(DummyTrainUnit(2), _dataloader(1), max_epochs=1, callbacks=[ProgressReporter()])
    assert not [r for r in caplog.records if r.name == reporter_module.__name__]
