import gc
from typing import Iterator, List

import pytest

from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyFitUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.garbage_collector import GarbageCollector
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.train import train


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[str]]:
    """Records every gc.collect call ("gen1" or "full") next to the loop's step markers."""
    assert gc.isenabled()
    log: List[str] = []
    real_collect = gc.collect

    def spy(generation: int = 2) -> int:
        log.append("gen1" if generation == 1 else "full")
        return real_collect(generation)

    monkeypatch.setattr("torchtnt.framework.callbacks.garbage_collector.gc.collect", spy)
    yield log
    gc.enable()  # never leave the worker with gc off, even if an assertion failed


def _marker(log: List[str], tag: str):
    """A step-end hook, placed after GarbageCollector, that marks the step and gc's state."""
    return lambda state, unit: log.append(f"{tag}:{'on' if gc.isenabled() else 'off'}")


def _data(num_batches: int):
    return generate_random_dataloader(num_samples=2 * num_batches, input_dim=2, batch_size=2)


def _expected(kinds: str, full_at: List[int]) -> List[str]:
    """Per step (letter of ``kinds``): a gen-1 collect, a full one on ``full_at``, the marker."""
    out: List[str] = []
    for i, kind in enumerate(kinds, start=1):
        out.append("gen1")
        if i in full_at:
            out.append("full")
        out.append(f"{kind}:off")
    return out


def test_train_collects_every_step_and_fully_on_interval(events: List[str]) -> None:
    gc_states: List[bool] = []
    callbacks = [
        Lambda(on_train_start=lambda s, u: gc_states.append(gc.isenabled())),
        GarbageCollector(step_interval=2),
        Lambda(on_train_step_end=_marker(events, "T")),
    ]
    train(DummyTrainUnit(2), _data(2), max_epochs=2, callbacks=callbacks)
    assert events == _expected("TTTT", full_at=[2, 4])
    # The Lambda before GarbageCollector saw gc still on; afterwards it is on again.
    assert gc_states == [True]
    assert gc.isenabled()


def test_fit_counts_train_and_eval_steps_together(events: List[str]) -> None:
    callbacks = [
        GarbageCollector(step_interval=5),
        Lambda(
            on_train_step_end=_marker(events, "T"),
            on_eval_step_end=_marker(events, "E"),
            on_eval_end=lambda s, u: events.append(f"eval_end:{gc.isenabled()}"),
        ),
    ]
    fit(DummyFitUnit(2), _data(2), _data(2), max_epochs=2, callbacks=callbacks)
    # Totals per step: T1 T2 E3 E4 T5 T6 E7 E8 -> the full collection comes at the third
    # train step (total 5); gc stays off across the evaluations inside fit.
    assert events == [
        *("gen1", "T:off", "gen1", "T:off"),
        *("gen1", "E:off", "gen1", "E:off", "eval_end:False"),
        *("gen1", "full", "T:off", "gen1", "T:off"),
        *("gen1", "E:off", "gen1", "E:off", "eval_end:False"),
    ]
    assert gc.isenabled()


def test_evaluate_alone_toggles_gc(events: List[str]) -> None:
    callbacks = [GarbageCollector(step_interval=2), Lambda(on_eval_step_end=_marker(events, "E"))]
    evaluate(DummyEvalUnit(2), _data(3), callbacks=callbacks)
    assert events == _expected("EEE", full_at=[2])
    assert gc.isenabled()


def test_predict_toggles_gc(events: List[str]) -> None:
    callbacks = [
        GarbageCollector(step_interval=2),
        Lambda(on_predict_step_end=_marker(events, "P")),
    ]
    predict(DummyPredictUnit(2), _data(3), callbacks=callbacks)
    assert events == _expected("PPP", full_at=[2])
    assert gc.isenabled()


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (1.5, TypeError)])
def test_bad_step_interval(bad: object, error: type) -> None:
    with pytest.raises(error, match=f"step_interval={bad!r} is invalid"):
        GarbageCollector(step_interval=bad)  # type: ignore[arg-type]


def _fail(*args: object) -> None:
    raise RuntimeError("step failed")


@pytest.mark.parametrize(
    "run, unit_cls, step",
    [
        (train, DummyTrainUnit, "train_step"),
        (evaluate, DummyEvalUnit, "eval_step"),
        (predict, DummyPredictUnit, "predict_step"),
    ],
)
def test_automatic_collection_is_back_on_after_a_failed_run(
    events: List[str], run: object, unit_cls: type, step: str
) -> None:
    failing = type("Failing", (unit_cls,), {step: _fail})
    with pytest.raises(RuntimeError, match="step failed"):
        run(failing(2), _data(2), callbacks=[GarbageCollector(2)])  # type: ignore[operator]
    assert gc.isenabled()
