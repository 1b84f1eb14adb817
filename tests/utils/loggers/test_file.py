import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
import torch

from torchtnt.utils.distributed import spawn_multi_process
from torchtnt.utils.loggers.csv import CSVLogger
from torchtnt.utils.loggers.file import FileLogger
from torchtnt.utils.loggers.json import JSONLogger


class RecordingFileLogger(FileLogger):
    """A real FileLogger that keeps a copy of the rows at each flush instead of writing."""

    def __init__(self, path: str, steps_before_flushing: int, log_all_ranks: bool = False):
        super().__init__(path, steps_before_flushing, log_all_ranks)
        self.flushes: List[List[Dict[str, float]]] = []

    def flush(self) -> None:
        self.flushes.append(self._rows())

    def close(self) -> None:
        pass


def test_row_key_order_and_values(tmp_path: Path) -> None:
    logger = RecordingFileLogger(str(tmp_path / "m"), steps_before_flushing=100)
    logger.log("a", torch.tensor(1.5), 0)
    logger.log_dict({"b": 2, "c": torch.tensor([[3.0]])}, 0)
    logger.log("a", 4, 1)
    buffer = logger._log_buffer
    assert list(buffer.keys()) == [0, 1]
    assert list(buffer[0].keys()) == ["a", "step", "time", "b", "c"]
    assert {k: v for k, v in buffer[0].items() if k != "time"} == {
        "a": 1.5,
        "step": 0,
        "b": 2.0,
        "c": 3.0,
    }
    assert list(buffer[1].keys()) == ["a", "step", "time"]
    assert buffer[1]["a"] == 4.0 and type(buffer[1]["a"]) is float
    # "time" is refreshed on every log of the step.
    assert buffer[0]["time"] <= buffer[1]["time"]
    assert logger.path == str(tmp_path / "m")


def test_automatic_flush_counts_new_steps(tmp_path: Path) -> None:
    logger = RecordingFileLogger(str(tmp_path / "m"), steps_before_flushing=2)
    logger.log("x", 0.0, 0)
    assert logger.flushes == []
    logger.log("x", 1.0, 1)  # two new steps -> flush
    assert [[r["step"] for r in rows] for rows in logger.flushes] == [[0, 1]]
    logger.log("y", 1.0, 1)  # same step: no new row
    logger.log("x", 2.0, 2)
    assert len(logger.flushes) == 1
    logger.log("x", 3.0, 3)
    # The buffer is never cleared: the second flush carries all rows.
    assert [[r["step"] for r in rows] for rows in logger.flushes] == [[0, 1], [0, 1, 2, 3]]


def test_steps_before_flushing_zero_flushes_every_log(tmp_path: Path) -> None:
    logger = RecordingFileLogger(str(tmp_path / "m"), steps_before_flushing=0)
    logger.log("x", 0.0, 0)
    logger.log("y", 1.0, 0)
    assert len(logger.flushes) == 2


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10", None])
def test_invalid_steps_before_flushing(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError, match=rf"^steps_before_flushing={bad!r} is invalid"):
        RecordingFileLogger(str(tmp_path / "m"), steps_before_flushing=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["step", "time"])
def test_metric_named_like_a_row_column_is_overwritten_with_one_warning(
    tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    logger = RecordingFileLogger(str(tmp_path / "m"), steps_before_flushing=100)
    with caplog.at_level(logging.WARNING):
        logger.log(name, 123.0, 4)
        logger.log(name, 456.0, 5)
    warnings = [r for r in caplog.records if "collides" in r.getMessage()]
    assert len(warnings) == 1 and repr(name) in warnings[0].getMessage()
    rows = list(logger._log_buffer.values())
    assert [row["step"] for row in rows] == [4, 5]  # the row's own columns win
    assert all(row["time"] != 123.0 and row["time"] != 456.0 for row in rows)


def test_non_scalar_rejected_at_log_time_and_nothing_buffered(tmp_path: Path) -> None:
    logger = RecordingFileLogger(str(tmp_path / "m"), steps_before_flushing=1)
    with pytest.raises(ValueError, match=r"Cannot log metric 'w' at step 3: Scalar tensor"):
        logger.log("w", torch.ones(2, 2), 3)
    with pytest.raises(TypeError, match=r"Cannot log metric 'w' at step 3"):
        logger.log("w", [1.0], 3)
    assert not logger._log_buffer and logger.flushes == []


def test_steps_are_integers(tmp_path: Path) -> None:
    logger = RecordingFileLogger(str(tmp_path / "m"), steps_before_flushing=1)
    logger.log("a", 1.0, np.int64(3))  # NumPy and one-element integer tensors are converted
    logger.log("a", 2.0, torch.tensor(4))
    assert [(row["step"], type(row["step"])) for row in logger.flushes[-1]] == [
        (3, int),
        (4, int),
    ]
    for bad in (1.5, "5", torch.tensor(5.0), None):
        with pytest.raises(TypeError, match=r"step=.* \(logging 'a'\) is invalid: expected an int"):
            logger.log("a", 1.0, bad)  # type: ignore[arg-type]
    assert len(logger.flushes) == 2


@pytest.mark.parametrize(
    "logger_cls, unwritable_row",
    [
        (CSVLogger, {"a": 2.0, "new": 1.0, "step": 1, "time": 0.0}),  # a column too many
        (JSONLogger, {"a": 2.0, "step": object(), "time": 0.0}),  # not JSON
    ],
)
def test_a_failed_flush_leaves_the_written_file_intact(
    tmp_path: Path, logger_cls: type, unwritable_row: Dict[str, object]
) -> None:
    path = tmp_path / "m.log"
    logger = logger_cls(str(path), steps_before_flushing=100)
    logger.log("a", 1.0, 0)
    logger.flush()
    before = path.read_text()
    logger._log_buffer[1] = unwritable_row
    with pytest.raises((ValueError, TypeError)):
        logger.flush()
    assert path.read_text() == before
    logger._log_buffer.pop(1)


def test_unwritable_path_fails_in_constructor(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"^path=.*file/m.csv' cannot be created"):
        CSVLogger(str(tmp_path / "file" / "m.csv"))
    with pytest.raises(ValueError, match=r"^path=.* is a directory"):
        JSONLogger(str(tmp_path))


def test_other_ranks_buffer_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    logger = RecordingFileLogger(str(tmp_path / "m"), steps_before_flushing=100)
    logger.log("x", 1.0, 0)
    assert not logger._log_buffer
    everyone = RecordingFileLogger(
        str(tmp_path / "n"), steps_before_flushing=100, log_all_ranks=True
    )
    everyone.log("x", 1.0, 0)
    assert list(everyone._log_buffer) == [0]


def test_close_runs_at_interpreter_exit(tmp_path: Path) -> None:
    # Nothing reaches the automatic flush threshold; only the atexit close writes.
    code = (
        "from torchtnt.utils.loggers import CSVLogger, JSONLogger\n"
        f"c = CSVLogger({str(tmp_path / 'm.csv')!r})\n"
        f"j = JSONLogger({str(tmp_path / 'm.json')!r})\n"
        "c.log('loss', 0.5, 1); j.log('loss', 0.25, 2)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])
    with open(tmp_path / "m.csv", newline="") as f:
        assert [r[:2] for r in csv.reader(f)] == [["loss", "step"], ["0.5", "1"]]
    assert [(r["loss"], r["step"]) for r in json.loads((tmp_path / "m.json").read_text())] == [
        (0.25, 2)
    ]


def _log_on_each_rank(log_dir: str) -> Tuple[int, List[str]]:
    from torchtnt.utils.distributed import get_global_rank

    rank = get_global_rank()
    loggers = [
        CSVLogger(os.path.join(log_dir, f"rank{rank}.csv"), steps_before_flushing=1),
        JSONLogger(os.path.join(log_dir, f"rank{rank}.json"), steps_before_flushing=1),
        JSONLogger(os.path.join(log_dir, f"all{rank}.json"), log_all_ranks=True),
    ]
    for logger in loggers:
        logger.log_dict({"rank": rank, "loss": 1.0 / (rank + 1)}, 3)
        logger.close()
    return rank, sorted(os.listdir(log_dir))


@pytest.mark.distributed
def test_only_rank_zero_writes_under_torch_distributed(tmp_path: Path) -> None:
    results = spawn_multi_process(2, "gloo", _log_on_each_rank, str(tmp_path))
    assert [rank for rank, _ in results] == [0, 1]
    assert sorted(os.listdir(tmp_path)) == ["all0.json", "all1.json", "rank0.csv", "rank0.json"]
    with open(tmp_path / "rank0.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["rank"], r["step"], r["loss"]) for r in rows] == [("0.0", "3", "1.0")]
    for rank in (0, 1):
        (row,) = json.loads((tmp_path / f"all{rank}.json").read_text())
        assert list(row) == ["rank", "step", "time", "loss"]
        assert (row["rank"], row["step"], row["loss"]) == (float(rank), 3, 1.0 / (rank + 1))
