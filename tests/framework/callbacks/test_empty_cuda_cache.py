from typing import List, Tuple

import pytest
import torch

from torchtnt.framework._test_utils import (
    Batch,
    DummyFitUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.empty_cuda_cache import EmptyCudaCache
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.state import State
from torchtnt.framework.train import train


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """Records "empty" for each torch.cuda.empty_cache call (the real call still runs)."""
    log: List[str] = []
    real = torch.cuda.empty_cache

    def spy() -> None:
        log.append("empty")
        real()

    monkeypatch.setattr("torchtnt.framework.callbacks.empty_cuda_cache.torch.cuda.empty_cache", spy)
    return log


def _mark(log: List[str], tag: str):
    return lambda state, unit: log.append(tag)


def _data(num_batches: int):
    return generate_random_dataloader(num_samples=2 * num_batches, input_dim=2, batch_size=2)


def test_train_empties_on_interval(events: List[str]) -> None:
    callbacks = [EmptyCudaCache(step_interval=2), Lambda(on_train_step_end=_mark(events, "T"))]
    train(DummyTrainUnit(2), _data(5), max_epochs=1, callbacks=callbacks)
    assert events == ["T", "empty", "T", "T", "empty", "T", "T"]


def test_fit_counts_train_and_eval_steps_together(events: List[str]) -> None:
    callbacks = [
        EmptyCudaCache(step_interval=3),
        Lambda(on_train_step_end=_mark(events, "T"), on_eval_step_end=_mark(events, "E")),
    ]
    # Step totals in order: T1 T2 E3 E4 T5 T6 E7 E8 -> empties after totals 3 and 6.
    fit(DummyFitUnit(2), _data(2), _data(2), max_epochs=2, callbacks=callbacks)
    assert events == ["T", "T", "empty", "E", "E", "T", "empty", "T", "E", "E"]


def test_predict_uses_predict_steps(events: List[str]) -> None:
    callbacks = [EmptyCudaCache(step_interval=2), Lambda(on_predict_step_end=_mark(events, "P"))]
    predict(DummyPredictUnit(2), _data(4), callbacks=callbacks)
    assert events == ["P", "empty", "P", "P", "empty", "P"]


def test_runs_on_cpu_without_initializing_cuda() -> None:
    train(DummyTrainUnit(2), _data(2), max_epochs=1, callbacks=[EmptyCudaCache(step_interval=1)])
    if not torch.cuda.is_available():
        assert not torch.cuda.is_initialized()


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), ("2", TypeError)])
def test_bad_step_interval(bad: object, error: type) -> None:
    with pytest.raises(error, match=f"step_interval={bad!r} is invalid"):
        EmptyCudaCache(step_interval=bad)  # type: ignore[arg-type]


class CudaScratchUnit(DummyTrainUnit):
    """Allocates and drops a 4 MiB CUDA buffer in every step."""

    def train_step(self, state: State, data: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
        scratch = torch.ones(1 << 20, device="cuda")
        del scratch
        return super().train_step(state, data)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cache_is_released_on_interval_steps_only() -> None:
    torch.cuda.empty_cache()
    reserved: List[int] = []
    callbacks = [
        EmptyCudaCache(step_interval=2),
        Lambda(on_train_step_end=lambda s, u: reserved.append(torch.cuda.memory_reserved())),
    ]
    train(CudaScratchUnit(2), _data(4), max_epochs=1, callbacks=callbacks)
    # The scratch buffer's block stays cached after odd steps and is released after even ones.
    assert [r > 0 for r in reserved] == [True, False, True, False]
