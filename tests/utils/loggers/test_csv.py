import atexit
import csv
import math
from pathlib import Path
from typing import List

import fsspec
import numpy as np
import pytest
import torch

from torchtnt.utils.loggers.csv import CSVLogger


def _read_raw(path: Path) -> str:
    with open(path, newline="") as f:
        return f.read()


def _read_rows(path: Path) -> List[List[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _without_time(rows: List[List[str]]) -> List[List[str]]:
    time_col = rows[0].index("time")
    return [row[:time_col] + row[time_col + 1 :] for row in rows]


def test_spec_example_exact_file(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    logger = CSVLogger(str(path), steps_before_flushing=100)
    logger.log("a", 1, 0)
    logger.log("b", 2, 0)
    logger.log("a", 3, 1)
    assert not path.exists()  # nothing flushed yet
    logger.close()
    t0 = logger._log_buffer[0]["time"]
    t1 = logger._log_buffer[1]["time"]
    assert _read_raw(path) == f"a,step,time,b\r\n1.0,0,{t0},2.0\r\n3.0,1,{t1},\r\n"


def test_header_is_first_row_and_missing_columns_are_empty(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    logger = CSVLogger(str(path), steps_before_flushing=1)
    logger.log_dict({"loss": torch.tensor(0.5), "acc": np.array([0.75])}, 10)
    logger.log("acc", 0.875, 20)
    logger.flush()
    rows = _read_rows(path)
    assert _without_time(rows) == [
        ["loss", "step", "acc"],
        ["0.5", "10", "0.75"],
        ["", "20", "0.875"],
    ]
    assert float(rows[1][2]) <= float(rows[2][2])  # monotonic timestamps


def test_metric_missing_from_header_raises_clear_error_at_flush(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    logger = CSVLogger(str(path), steps_before_flushing=100)
    logger.log("a", 1, 0)
    logger.log("late", 2, 1)
    with pytest.raises(ValueError, match=r"cannot write metric\(s\) \['late'\] logged at step 1"):
        logger.flush()
    assert not path.exists()
    atexit.unregister(logger.close)  # it would fail the same way at interpreter exit


def test_automatic_flush_rewrites_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    logger = CSVLogger(str(path), steps_before_flushing=2)
    logger.log("x", 0, 0)
    assert not path.exists()
    logger.log("x", 1, 1)
    assert _without_time(_read_rows(path)) == [["x", "step"], ["0.0", "0"], ["1.0", "1"]]
    logger.log("x", 2, 2)
    logger.log("x", 3, 3)
    assert _without_time(_read_rows(path)) == [
        ["x", "step"],
        ["0.0", "0"],
        ["1.0", "1"],
        ["2.0", "2"],
        ["3.0", "3"],
    ]


def test_flush_with_empty_buffer_writes_nothing(tmp_path: Path) -> None:
    logger = CSVLogger(str(tmp_path / "m.csv"))
    logger.flush()
    logger.close()
    assert list(tmp_path.iterdir()) == []


def test_nan_and_inf_are_logged(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    logger = CSVLogger(str(path))
    logger.log_dict({"nan": torch.tensor(float("nan")), "inf": math.inf, "ninf": -np.inf}, 0)
    logger.close()
    rows = _without_time(_read_rows(path))
    assert rows == [["nan", "step", "inf", "ninf"], ["nan", "0", "inf", "-inf"]]


def test_async_write_matches_sync_write(tmp_path: Path) -> None:
    sync_logger = CSVLogger(str(tmp_path / "sync.csv"), steps_before_flushing=1)
    async_logger = CSVLogger(str(tmp_path / "async.csv"), steps_before_flushing=1, async_write=True)
    for step in range(5):
        for logger in (sync_logger, async_logger):
            logger.log_dict({"loss": 1.0 / (step + 1), "lr": 0.1}, step)
    sync_logger.close()
    async_logger.close()
    assert async_logger._thread is None
    assert _without_time(_read_rows(tmp_path / "async.csv")) == _without_time(
        _read_rows(tmp_path / "sync.csv")
    )
    assert len(_read_rows(tmp_path / "async.csv")) == 6


def test_async_write_error_is_raised_on_next_flush(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "m.csv"
    logger = CSVLogger(str(target), steps_before_flushing=100, async_write=True)
    # Make the directory impossible to create after the constructor's check.
    (tmp_path / "sub").write_text("")
    logger.log("x", 1, 0)
    logger.flush()
    with pytest.raises(RuntimeError, match=r"CSVLogger failed to write .*m.csv' in the background"):
        logger.close()
    atexit.unregister(logger.close)


def test_fsspec_url(tmp_path: Path) -> None:
    url = "memory://torchtnt-test-csv/run/m.csv"
    logger = CSVLogger(url, steps_before_flushing=1)
    logger.log("x", 2, 7)
    with fsspec.open(url, "r", newline="") as f:
        rows = list(csv.reader(f))
    assert _without_time(rows) == [["x", "step"], ["2.0", "7"]]
    fsspec.filesystem("memory").rm("/torchtnt-test-csv", recursive=True)


def test_non_zero_rank_does_not_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    quiet = CSVLogger(str(tmp_path / "quiet.csv"), steps_before_flushing=1)
    loud = CSVLogger(str(tmp_path / "loud.csv"), steps_before_flushing=1, log_all_ranks=True)
    for logger in (quiet, loud):
        logger.log("x", 1, 0)
        logger.close()
    assert [p.name for p in tmp_path.iterdir()] == ["loud.csv"]
