import logging
from pathlib import Path
from typing import List

import pytest
import torch

from tests.report import parse_report
from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyFitUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.callbacks.run_report import RunReport
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.train import train
from torchtnt.utils.loggers.csv import CSVLogger
from torchtnt.utils.loggers.tensorboard import TensorBoardLogger


def _dataloader(num_batches: int) -> torch.utils.data.DataLoader:
    torch.manual_seed(0)
    return generate_random_dataloader(num_batches * 2, 2, 2)


def test_train_writes_the_report_with_every_step_after_flushing_the_loggers(
    tmp_path: Path,
) -> None:
    # Buffers larger than the run: only the flush RunReport does puts the rows on disk.
    csv_logger = CSVLogger(str(tmp_path / "metrics.csv"), steps_before_flushing=1000)
    tb_logger = TensorBoardLogger(str(tmp_path / "tb"), flush_secs=3600)
    losses: List[float] = []

    def log(state, unit) -> None:
        step = unit.train_progress.num_steps_completed
        loss = state.train_state.step_output[0].item()
        losses.append(loss)
        csv_logger.log("train/loss", loss, step)
        tb_logger.log("lr", unit.optimizer.param_groups[0]["lr"], step)

    report = RunReport(str(tmp_path), loggers=[csv_logger, tb_logger])
    train(
        DummyTrainUnit(2),
        _dataloader(5),
        max_epochs=1,
        callbacks=[Lambda(on_train_step_end=log), report],
    )

    assert report.report_path == str(tmp_path / "report.html")
    page = parse_report(report.report_path)
    assert page.table_rows["train/loss"] == [
        f"{losses[-1]:.6g}",
        f"{min(losses):.6g}",
        f"{max(losses):.6g}",
        "5",
        "0",
    ]
    assert page.table_rows["lr"] == ["0.01", "0.01", "0.01", "5", "0"]
    assert page.plots["train/loss"].line_points == page.plots["lr"].line_points == 5
    csv_logger.close()
    tb_logger.close()


def test_without_flushing_an_unwritten_log_means_a_warning_not_a_failure(
    tmp_path: Path, caplog
) -> None:
    csv_logger = CSVLogger(str(tmp_path / "metrics.csv"), steps_before_flushing=1000)
    log = Lambda(on_train_step_end=lambda state, unit: csv_logger.log("x", 1.0, 0))
    report = RunReport(str(tmp_path))
    with caplog.at_level(logging.WARNING):
        train(DummyTrainUnit(2), _dataloader(2), max_epochs=1, callbacks=[log, report])
    assert report.report_path is None
    assert "RunReport wrote no report: no metric logs found under" in caplog.text
    csv_logger.close()


def test_a_report_that_cannot_be_written_does_not_fail_the_run(
    tmp_path: Path, caplog, monkeypatch
) -> None:
    csv_logger = CSVLogger(str(tmp_path / "metrics.csv"))
    log = Lambda(on_train_step_end=lambda state, unit: csv_logger.log("x", 1.0, 0))
    ends: List[str] = []

    def broken_report(logdir: str, output_path: object = None) -> str:
        raise OverflowError("cannot draw this")

    monkeypatch.setattr("torchtnt.report.write_report", broken_report)
    report = RunReport(str(tmp_path), loggers=csv_logger)  # a single logger is fine too
    after = Lambda(on_train_end=lambda state, unit: ends.append("after"))
    with caplog.at_level(logging.ERROR):
        train(DummyTrainUnit(2), _dataloader(2), max_epochs=1, callbacks=[log, report, after])
    assert report.report_path is None and ends == ["after"]
    assert "RunReport could not write the report" in caplog.text
    assert "OverflowError: cannot draw this" in caplog.text


def _logdir_with_a_metric(path: Path) -> str:
    csv_logger = CSVLogger(str(path / "m.csv"))
    csv_logger.log("acc", 0.5, 3)
    csv_logger.close()
    return str(path)


def test_fit_writes_once_at_train_end_not_after_each_eval(tmp_path: Path) -> None:
    out = tmp_path / "out" / "r.html"
    report = RunReport(_logdir_with_a_metric(tmp_path), str(out))
    exists_at_eval_end: List[bool] = []
    probe = Lambda(on_eval_end=lambda state, unit: exists_at_eval_end.append(out.exists()))
    fit(
        DummyFitUnit(2),
        _dataloader(2),
        _dataloader(1),
        max_epochs=2,
        callbacks=[report, probe],
    )
    assert exists_at_eval_end == [False, False]
    assert report.report_path == str(out)
    assert parse_report(str(out)).table_rows["acc"] == ["0.5", "0.5", "0.5", "1", "0"]


def test_evaluate_and_predict_runs_write_at_their_end(tmp_path: Path) -> None:
    logdir = _logdir_with_a_metric(tmp_path)
    eval_out, predict_out = tmp_path / "eval.html", tmp_path / "predict.html"
    seen: List[bool] = []
    evaluate(
        DummyEvalUnit(2),
        _dataloader(1),
        callbacks=[
            RunReport(logdir, str(eval_out)),
            Lambda(on_eval_end=lambda state, unit: seen.append(eval_out.exists())),
        ],
    )
    predict(
        DummyPredictUnit(2),
        _dataloader(1),
        callbacks=[
            RunReport(logdir, str(predict_out)),
            Lambda(on_predict_end=lambda state, unit: seen.append(predict_out.exists())),
        ],
    )
    assert seen == [True, True]


def test_only_rank_zero_writes(tmp_path: Path, monkeypatch) -> None:
    logdir = _logdir_with_a_metric(tmp_path)
    # Without a process group, the global rank comes from the RANK environment variable.
    monkeypatch.setenv("RANK", "1")
    report = RunReport(logdir)
    train(DummyTrainUnit(2), _dataloader(1), max_epochs=1, callbacks=[report])
    assert report.report_path is None
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"logdir": ""}, ValueError, "logdir='' is invalid: expected a non-empty path"),
        ({"logdir": 3}, TypeError, "logdir=3 is invalid: expected a str path, got int"),
        (
            {"logdir": "logs", "output_path": ""},
            ValueError,
            "output_path='' is invalid: expected a non-empty path",
        ),
        (
            {"logdir": "logs", "loggers": ["csv"]},
            TypeError,
            "loggers[0]='csv' is invalid: expected a MetricLogger",
        ),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, error, message) -> None:
    with pytest.raises(error) as info:
        RunReport(**kwargs)
    assert str(info.value) == message


def test_output_path_must_not_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a directory: expected an HTML file path"):
        RunReport("logs", str(tmp_path))
