import numpy as np
import pytest
import torch

from torchtnt.utils.loggers import StdoutLogger


def test_spec_example_output(capsys: pytest.CaptureFixture[str]) -> None:
    logger = StdoutLogger()
    logger.log("m", 1.23456, 3)
    logger.log_dict({"n": 2}, 3)
    logger.log("m", 1, 4)
    assert capsys.readouterr().out == "\n[Step 3] m=1.2346 n=2.0000\n[Step 4] m=1.0000"
    logger.close()
    assert capsys.readouterr().out == "\n\n"


def test_precision_tensor_values_and_nan(capsys: pytest.CaptureFixture[str]) -> None:
    logger = StdoutLogger(precision=1)
    logger.log_dict({"a": torch.tensor([[2.26]]), "b": np.array(float("nan")), "c": -np.inf}, 0)
    assert capsys.readouterr().out == "\n[Step 0] a=2.3 b=nan c=-inf"


def test_non_scalar_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    logger = StdoutLogger()
    with pytest.raises(ValueError, match=r"^Cannot log metric 'w' at step 0: Scalar tensor"):
        logger.log("w", torch.ones(3), 0)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_invalid_precision(bad: object) -> None:
    with pytest.raises(ValueError, match=rf"^precision={bad!r} is invalid: expected an int >= 0"):
        StdoutLogger(precision=bad)  # type: ignore[arg-type]


def test_prints_on_rank_zero_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "1")
    logger = StdoutLogger()
    logger.log("m", 1.0, 0)
    logger.log_dict({"n": 2.0}, 1)
    assert capsys.readouterr().out == ""
