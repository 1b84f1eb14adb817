import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from torchtnt.utils.loggers.json import JSONLogger


def test_spec_example_exact_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    logger = JSONLogger(str(path))
    logger.log_dict({"x": 1, "y": 2}, 5)
    logger.close()
    t = logger._log_buffer[5]["time"]
    assert path.read_text() == f'[{{"x": 1.0, "step": 5, "time": {t}, "y": 2.0}}]'


def test_rows_in_step_order_with_metric_order(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    logger = JSONLogger(str(path), steps_before_flushing=100)
    logger.log("loss", torch.tensor([0.5]), 1)
    logger.log("acc", np.array(0.25), 2)
    logger.log("loss", 0.125, 2)
    logger.flush()
    rows = json.loads(path.read_text())
    assert [list(r) for r in rows] == [["loss", "step", "time"], ["acc", "step", "time", "loss"]]
    assert [{k: v for k, v in r.items() if k != "time"} for r in rows] == [
        {"loss": 0.5, "step": 1},
        {"acc": 0.25, "step": 2, "loss": 0.125},
    ]
    assert "\n" not in path.read_text()


def test_automatic_flush_and_close(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    logger = JSONLogger(str(path), steps_before_flushing=3)
    for step in range(4):
        logger.log("x", step, step)
        if step == 1:
            assert not path.exists()
    assert [r["step"] for r in json.loads(path.read_text())] == [0, 1, 2]
    logger.close()
    assert [r["x"] for r in json.loads(path.read_text())] == [0.0, 1.0, 2.0, 3.0]


def test_flush_with_empty_buffer_writes_nothing(tmp_path: Path) -> None:
    logger = JSONLogger(str(tmp_path / "m.json"))
    logger.close()
    assert list(tmp_path.iterdir()) == []


def test_nan_and_inf_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    logger = JSONLogger(str(path))
    logger.log_dict({"a": float("nan"), "b": torch.tensor(math.inf), "c": -math.inf}, 0)
    logger.close()
    assert '"a": NaN' in path.read_text() and '"b": Infinity' in path.read_text()
    (row,) = json.loads(path.read_text())
    assert math.isnan(row["a"]) and row["b"] == math.inf and row["c"] == -math.inf


def test_bad_input_is_rejected_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    logger = JSONLogger(str(path), steps_before_flushing=1)
    with pytest.raises(ValueError, match=r"metric 'v' at step 0: Scalar ndarray must contain"):
        logger.log("v", np.zeros(3), 0)
    logger.close()
    assert not path.exists()
    with pytest.raises(ValueError, match=r"^steps_before_flushing=-2 is invalid"):
        JSONLogger(str(path), steps_before_flushing=-2)


def test_non_zero_rank_does_not_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "3")
    JSONLogger(str(tmp_path / "quiet.json"), steps_before_flushing=0).log("x", 1, 0)
    JSONLogger(str(tmp_path / "loud.json"), steps_before_flushing=0, log_all_ranks=True).log(
        "x", 1, 0
    )
    assert [p.name for p in tmp_path.iterdir()] == ["loud.json"]
