import json
import logging
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import torch

from tests.report import parse_report
from torchtnt.framework._test_utils import DummyFitUnit, generate_random_dataloader
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.fit import fit
from torchtnt.report import read_scalars, write_report
from torchtnt.report.__main__ import main
from torchtnt.utils.loggers.csv import CSVLogger
from torchtnt.utils.loggers.json import JSONLogger
from torchtnt.utils.loggers.tensorboard import TensorBoardLogger

Points = List[Tuple[int, float]]
HEADER = ["Metric", "Last", "Min", "Max", "Points", "NaN/inf"]
LINE_RGB = (0x1F, 0x6F, 0xB4)  # the plot line colour of the report


def _run(logdir: Path) -> Dict[str, Points]:
    """fit() 2 epochs x 4 steps with an eval per epoch; returns what was logged where.

    CSV gets train/loss and lr, TensorBoard repeats them and adds train/accuracy (float32),
    JSON gets eval/loss.
    """
    torch.manual_seed(0)
    csv_logger = CSVLogger(str(logdir / "csv" / "metrics.csv"))
    tb_logger = TensorBoardLogger(str(logdir / "tb"))
    json_logger = JSONLogger(str(logdir / "eval.json"))
    logged: Dict[str, Points] = {}
    eval_losses: List[float] = []

    def on_train_step_end(state, unit) -> None:
        step = unit.train_progress.num_steps_completed
        loss, outputs = state.train_state.step_output
        lr = unit.optimizer.param_groups[0]["lr"]
        accuracy = float((outputs.argmax(dim=1) == 0).float().mean())
        csv_logger.log_dict({"train/loss": loss.item(), "lr": lr}, step)
        tb_logger.log_dict({"train/loss": loss.item(), "lr": lr, "train/accuracy": accuracy}, step)
        for name, value in (("train/loss", loss.item()), ("lr", lr), ("train/accuracy", accuracy)):
            logged.setdefault(name, []).append((step, value))
        for group in unit.optimizer.param_groups:
            group["lr"] *= 0.5

    def on_eval_step_end(state, unit) -> None:
        eval_losses.append(state.eval_state.step_output[0].item())

    def on_eval_end(state, unit) -> None:
        step = unit.train_progress.num_steps_completed
        mean = sum(eval_losses) / len(eval_losses)
        json_logger.log("eval/loss", mean, step)
        logged.setdefault("eval/loss", []).append((step, mean))
        eval_losses.clear()

    fit(
        DummyFitUnit(2),
        generate_random_dataloader(16, 2, 4),
        generate_random_dataloader(8, 2, 4),
        max_epochs=2,
        callbacks=[
            Lambda(on_train_step_end=on_train_step_end),
            Lambda(on_eval_step_end=on_eval_step_end, on_eval_end=on_eval_end),
        ],
    )
    for metric_logger in (csv_logger, tb_logger, json_logger):
        metric_logger.close()
    return logged


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Dict[str, Points]]:
    logdir = tmp_path_factory.mktemp("run")
    return logdir, _run(logdir)


@pytest.fixture(scope="module")
def report(run: Tuple[Path, Dict[str, Points]]) -> Path:
    logdir, _ = run
    return Path(write_report(str(logdir)))


def test_read_scalars_gathers_every_series_of_the_run_once(run) -> None:
    logdir, logged = run
    series = read_scalars(str(logdir))
    assert sorted(series) == ["eval/loss", "lr", "train/accuracy", "train/loss"]
    # CSV and JSON keep full precision (and win over TensorBoard's float32 copy of a series).
    assert series["train/loss"] == logged["train/loss"]
    assert series["lr"] == [(s, 0.01 * 0.5 ** (s - 1)) for s in range(1, 9)]
    assert series["eval/loss"] == logged["eval/loss"]
    assert [s for s, _ in logged["eval/loss"]] == [4, 8]
    steps, values = zip(*series["train/accuracy"])
    assert list(steps) == list(range(1, 9))
    assert list(values) == pytest.approx([v for _, v in logged["train/accuracy"]], rel=1e-6)


def _row(points: Points) -> List[str]:
    values = [v for _, v in points]
    return [f"{values[-1]:.6g}", f"{min(values):.6g}", f"{max(values):.6g}", str(len(values)), "0"]


def test_report_has_a_table_row_and_a_plot_per_metric(run, report: Path) -> None:
    logdir, logged = run
    assert report == logdir / "report.html"
    page = parse_report(str(report))
    assert page.title == f"Run report: {logdir}"
    assert page.table_header == HEADER
    assert list(page.table_rows) == sorted(logged)
    for name, points in logged.items():
        assert page.table_rows[name] == _row(points), name
        plot = page.plots[name]
        assert plot.heading == plot.svg_title == name
        assert plot.has_svg and plot.line_points == len(points)


def test_plot_ticks_are_round_and_cover_the_data(run, report: Path) -> None:
    _, logged = run
    page = parse_report(str(report))
    # Steps 1..8 in about 6 ticks: every 2nd step, widened to start at 0.
    assert page.plots["lr"].x_labels == ["0", "2", "4", "6", "8"]
    assert page.plots["eval/loss"].x_labels == ["4", "5", "6", "7", "8"]
    for name, points in logged.items():
        ticks = [float(label) for label in page.plots[name].y_labels]
        assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks) >= 3, name
        assert ticks[0] <= min(v for _, v in points) and ticks[-1] >= max(v for _, v in points)


def test_report_is_self_contained(report: Path) -> None:
    page = parse_report(str(report))
    assert page.links == []
    assert not {"script", "link", "img", "iframe", "object"} & set(page.tags)
    assert page.tags.count("svg") == 4
    text = report.read_text()
    assert "url(" not in text and "@import" not in text


def test_nan_and_inf_are_counted_but_not_plotted(tmp_path: Path) -> None:
    csv_logger = CSVLogger(str(tmp_path / "m.csv"))
    values = [1.0, math.nan, 3.0, math.inf, 2.0]
    for step, value in enumerate(values):
        csv_logger.log_dict({"loss": value, "broken": math.nan}, step)
    csv_logger.close()
    page = parse_report(write_report(str(tmp_path)))
    assert page.table_rows["loss"] == ["2", "1", "3", "5", "2"]
    assert page.table_rows["broken"] == ["nan", "–", "–", "5", "5"]
    assert page.plots["loss"].line_points == 3
    assert page.plots["loss"].notes == ["2 NaN/inf value(s) not plotted."]
    assert not page.plots["broken"].has_svg
    assert page.plots["broken"].notes == ["No finite values to plot."]


@pytest.mark.parametrize(
    "values",
    [
        [1e308, -1e308, 1e308],  # a spread wider than a float holds
        [1.7e308, 1.7e308],  # a constant series at the top of the range
        [0.0, 5e-324],  # a spread too small to divide into ticks
        [1.0, 1.0 + 1e-15],  # a spread too small to label
    ],
)
def test_extreme_values_are_plotted(tmp_path: Path, values: List[float]) -> None:
    rows = [{"step": s, "time": 0.0, "m": v} for s, v in enumerate(values)]
    (tmp_path / "m.json").write_text(json.dumps(rows))
    text = Path(write_report(str(tmp_path))).read_text()
    page = parse_report(str(tmp_path / "report.html"))
    assert page.plots["m"].has_svg and page.plots["m"].line_points == len(values)
    labels = page.plots["m"].y_labels
    assert len(set(labels)) == len(labels) > 1
    svg = text[text.index("<svg") : text.index("</svg>")]
    assert "nan" not in svg and "inf" not in svg


def test_a_metric_differing_between_logs_is_kept_per_log(tmp_path: Path) -> None:
    for sub, offset in (("a", 0.0), ("b", 1.0)):
        (tmp_path / sub).mkdir()
        csv_logger = CSVLogger(str(tmp_path / sub / "m.csv"))
        csv_logger.log("loss", 1.0 + offset, 0)
        csv_logger.close()
    assert read_scalars(str(tmp_path)) == {
        "loss (a/m.csv)": [(0, 1.0)],
        "loss (b/m.csv)": [(0, 2.0)],
    }


def test_long_series_are_thinned_keeping_spikes(tmp_path: Path) -> None:
    rows = [{"step": s, "time": 0.0, "loss": 100.0 if s == 7777 else 1.0} for s in range(10_000)]
    (tmp_path / "m.json").write_text(json.dumps(rows))
    page = parse_report(write_report(str(tmp_path)))
    assert page.table_rows["loss"] == ["1", "1", "100", "10000", "0"]
    assert page.plots["loss"].line_points <= 2000
    assert page.plots["loss"].y_labels[-1] == "100"


def test_files_that_are_not_metric_logs_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "other.csv").write_text("a,b\r\n1,2\r\n")
    (tmp_path / "predictions.csv").write_text("step,index,label\r\n0,0,3\r\n")
    (tmp_path / "records.json").write_text('[{"step": 0, "label": 3}]')
    (tmp_path / "trace.json").write_text(json.dumps({"traceEvents": []}))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="no metric logs found under"):
        read_scalars(str(tmp_path))
    (tmp_path / "m.json").write_text('[{"step": 3, "time": 1.5, "acc": 0.5, "tag": "x"}]')
    assert read_scalars(str(tmp_path)) == {"acc": [(3, 0.5)]}


def test_unreadable_json_is_skipped_with_a_warning(tmp_path: Path, caplog) -> None:
    (tmp_path / "bad.json").write_text("[{")
    (tmp_path / "m.json").write_text('[{"step": 0, "time": 0, "acc": 1}]')
    with caplog.at_level(logging.WARNING):
        assert read_scalars(str(tmp_path)) == {"acc": [(0, 1.0)]}
    assert "Skipping" in caplog.text and "bad.json" in caplog.text


def test_event_files_are_skipped_with_a_hint_without_tensorboard(run, monkeypatch, caplog) -> None:
    logdir, _ = run
    module = "tensorboard.backend.event_processing.event_accumulator"
    monkeypatch.setitem(sys.modules, module, None)  # makes importing it fail
    with caplog.at_level(logging.WARNING):
        series = read_scalars(str(logdir))
    assert sorted(series) == ["eval/loss", "lr", "train/loss"]
    assert "pip install torchtnt[tensorboard]" in caplog.text


def test_read_scalars_rejects_a_missing_dir_or_a_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_scalars(str(tmp_path / "nope"))
    (tmp_path / "f").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        read_scalars(str(tmp_path / "f"))


def test_cli_writes_to_the_given_path_and_prints_it(run, tmp_path: Path, capsys) -> None:
    logdir, _ = run
    out = tmp_path / "out" / "r.html"
    assert main([str(logdir), "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"{out}\n"
    assert sorted(parse_report(str(out)).plots) == [
        "eval/loss",
        "lr",
        "train/accuracy",
        "train/loss",
    ]


def test_cli_on_an_empty_dir_exits_2_with_a_message(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main([str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m torchtnt.report")
    assert f"error: no metric logs found under {str(tmp_path)!r}" in err


def test_python_m_on_a_missing_dir_exits_2_without_traceback(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    result = subprocess.run(
        [sys.executable, "-m", "torchtnt.report", missing],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"python -m torchtnt.report: error: logdir {missing!r} does not exist"
    )


def _screenshot(report: Path, tmp_path: Path) -> Path:
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    return shot


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium package")
def test_chromium_renders_the_report(report: Path, tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image")
    with image_module.open(_screenshot(report, tmp_path)) as image:
        rgb = image.convert("RGB")
    assert rgb.size == (1200, 1600)
    colours = dict((colour, count) for count, colour in rgb.getcolors(maxcolors=1 << 20))
    # Text and anti-aliased lines give hundreds of shades; a blank page has one or two.
    assert len(colours) > 100
    assert 1200 * 1600 - colours.get((255, 255, 255), 0) > 30_000
    # Four plotted lines of the report's line colour, each a few hundred pixels long.
    assert colours.get(LINE_RGB, 0) > 4 * 200
