import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

from torchtnt.utils.loggers import InMemoryLogger


def test_log_buffer_rows() -> None:
    logger = InMemoryLogger()
    logger.log("loss", torch.tensor(0.5), 2)
    logger.log_dict({"acc": np.array([0.75]), "loss": 0.25}, 3)
    logger.log("lr", 1, 2)
    buffer = logger.log_buffer
    assert isinstance(buffer, OrderedDict)
    assert list(buffer) == [2, 3]
    assert list(buffer[2]) == ["loss", "step", "time", "lr"]
    assert {k: v for k, v in buffer[2].items() if k != "time"} == {
        "loss": 0.5,
        "step": 2,
        "lr": 1.0,
    }
    assert {k: v for k, v in buffer[3].items() if k != "time"} == {
        "acc": 0.75,
        "loss": 0.25,
        "step": 3,
    }
    assert all(type(buffer[2][k]) is float for k in ("loss", "lr"))


def test_nan_is_kept_and_non_scalars_rejected() -> None:
    logger = InMemoryLogger()
    logger.log("x", float("nan"), 0)
    assert math.isnan(logger.log_buffer[0]["x"])
    with pytest.raises(ValueError, match=r"metric 'y' at step 1: Scalar tensor"):
        logger.log("y", torch.zeros(4), 1)
    assert list(logger.log_buffer) == [0]


def test_flush_prints_buffer_and_close_clears(capsys: pytest.CaptureFixture[str]) -> None:
    logger = InMemoryLogger()
    logger.log("x", 1, 0)
    logger.flush()
    assert capsys.readouterr().out == f"{logger.log_buffer}\n"
    logger.close()
    assert logger.log_buffer == OrderedDict()
