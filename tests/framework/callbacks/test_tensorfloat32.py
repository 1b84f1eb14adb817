from typing import Iterator, List, Tuple

import pytest
import torch

from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyFitUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.callbacks.tensorfloat32 import EnableTensorFloat32
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.train import train

Settings = Tuple[str, bool, bool]

OFF: Settings = ("highest", False, False)


def _settings() -> Settings:
    return (
        torch.get_float32_matmul_precision(),
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )


def _apply(settings: Settings) -> None:
    # Precision last: newer torch rejects reading it after a legacy flag overrode it.
    torch.backends.cuda.matmul.allow_tf32 = settings[1]
    torch.backends.cudnn.allow_tf32 = settings[2]
    torch.set_float32_matmul_precision(settings[0])


@pytest.fixture(autouse=True)
def tf32_off() -> Iterator[None]:
    """Start every test with TF32 fully off and restore the process's settings after."""
    saved = _settings()
    _apply(OFF)
    yield
    _apply(saved)


def _data(num_batches: int):
    return generate_random_dataloader(num_samples=2 * num_batches, input_dim=2, batch_size=2)


def _recorder(seen: List[Tuple[str, Settings]]) -> Lambda:
    def record(tag: str):
        return lambda state, unit: seen.append((tag, _settings()))

    return Lambda(
        on_train_step_end=record("train"),
        on_eval_step_end=record("eval"),
        on_predict_step_end=record("predict"),
    )


def _assert_idle(callback: EnableTensorFloat32) -> None:
    assert callback.original_float32_matmul_precision is None
    assert callback.original_cuda_matmul is None
    assert callback.original_cudnn is None


def test_train_enables_during_steps_and_restores() -> None:
    seen: List[Tuple[str, Settings]] = []
    callback = EnableTensorFloat32()
    train(DummyTrainUnit(2), _data(2), max_epochs=1, callbacks=[callback, _recorder(seen)])
    assert seen == [("train", ("high", True, True))] * 2
    assert _settings() == OFF
    _assert_idle(callback)


def test_fit_keeps_tf32_on_across_evaluations() -> None:
    seen: List[Tuple[str, Settings]] = []
    callback = EnableTensorFloat32(float32_matmul_precision="medium")
    fit(DummyFitUnit(2), _data(1), _data(1), max_epochs=2, callbacks=[callback, _recorder(seen)])
    on = ("medium", True, True)
    assert seen == [("train", on), ("eval", on), ("train", on), ("eval", on)]
    assert _settings() == OFF
    _assert_idle(callback)


def test_evaluate_and_predict_each_enable_and_restore() -> None:
    seen: List[Tuple[str, Settings]] = []
    callback = EnableTensorFloat32()
    evaluate(DummyEvalUnit(2), _data(1), callbacks=[callback, _recorder(seen)])
    assert _settings() == OFF
    predict(DummyPredictUnit(2), _data(1), callbacks=[callback, _recorder(seen)])
    assert _settings() == OFF
    assert seen == [("eval", ("high", True, True)), ("predict", ("high", True, True))]
    _assert_idle(callback)


@pytest.mark.parametrize("before_precision", ["highest", "high", "medium"])
@pytest.mark.parametrize("before_cudnn", [False, True])
@pytest.mark.parametrize("target", ["high", "medium"])
def test_restores_whatever_was_set_before(
    before_precision: str, before_cudnn: bool, target: str
) -> None:
    torch.set_float32_matmul_precision(before_precision)
    torch.backends.cudnn.allow_tf32 = before_cudnn
    before = _settings()
    seen: List[Tuple[str, Settings]] = []
    callback = EnableTensorFloat32(float32_matmul_precision=target)
    train(DummyTrainUnit(2), _data(1), max_epochs=1, callbacks=[callback, _recorder(seen)])
    assert seen == [("train", (target, True, True))]
    assert _settings() == before


def test_enable_twice_without_reset_is_a_bug() -> None:
    callback = EnableTensorFloat32()
    callback._enable()
    with pytest.raises(AssertionError):
        callback._enable()
    callback._reset()
    assert _settings() == OFF


def test_unknown_precision() -> None:
    with pytest.raises(ValueError, match="float32_matmul_precision='low' is invalid"):
        EnableTensorFloat32(float32_matmul_precision="low")
