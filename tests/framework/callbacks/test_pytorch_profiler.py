import glob
import json
import os
import warnings
from typing import List, Set

import pytest
import torch
from torch.profiler import ProfilerActivity, profile, schedule, tensorboard_trace_handler

from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyFitUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.pytorch_profiler import PyTorchProfiler
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.train import train


def _data(num_batches: int):
    return generate_random_dataloader(num_samples=2 * num_batches, input_dim=2, batch_size=2)


def _record_everything_profiler() -> profile:
    # A schedule makes the profiler emit ProfilerStep#N ranges; this one records every step.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Profiler won't be using warmup")
        return profile(
            activities=[ProfilerActivity.CPU], schedule=schedule(wait=0, warmup=0, active=100)
        )


def _event_names(trace_path: str) -> List[str]:
    with open(trace_path) as f:
        trace = json.load(f)
    return [event["name"] for event in trace["traceEvents"] if "name" in event]


def _profiler_steps(names: List[str]) -> Set[str]:
    return {name for name in names if name.startswith("ProfilerStep#")}


def test_train_trace_follows_schedule_and_names_loop_regions(tmp_path: str) -> None:
    profiler = profile(
        activities=[ProfilerActivity.CPU],
        schedule=schedule(wait=1, warmup=1, active=2, repeat=1),
        on_trace_ready=tensorboard_trace_handler(str(tmp_path)),
    )
    train(DummyTrainUnit(2), _data(6), max_epochs=1, callbacks=[PyTorchProfiler(profiler)])

    traces = glob.glob(os.path.join(tmp_path, "*.pt.trace.json"))
    assert len(traces) == 1
    names = _event_names(traces[0])
    # Steps 0 (wait) and 1 (warmup) are not recorded; steps 2 and 3 are the active window.
    assert _profiler_steps(names) == {"ProfilerStep#2", "ProfilerStep#3"}
    assert names.count("train.next(data_iter)") == 2
    assert "Optimizer.step#SGD.step" in names


def test_evaluate_trace_exported_as_chrome_trace(tmp_path: str) -> None:
    profiler = _record_everything_profiler()
    evaluate(DummyEvalUnit(2), _data(3), callbacks=[PyTorchProfiler(profiler)])
    path = os.path.join(tmp_path, "eval_trace.json")
    profiler.export_chrome_trace(path)

    names = _event_names(path)
    # One range per step, plus the open one from the last step() to stop().
    assert _profiler_steps(names) == {f"ProfilerStep#{i}" for i in range(4)}
    # Three batches plus the fetch that finds the iterator exhausted.
    assert names.count("evaluate.next(data_iter)") == 4
    assert "aten::linear" in names


def test_fit_profiles_train_and_eval_in_one_session(tmp_path: str) -> None:
    profiler = _record_everything_profiler()
    fit(DummyFitUnit(2), _data(2), _data(1), max_epochs=1, callbacks=[PyTorchProfiler(profiler)])
    path = os.path.join(tmp_path, "fit_trace.json")
    profiler.export_chrome_trace(path)

    names = _event_names(path)
    # 2 train steps then 1 eval step, all counted by the profiler started for training.
    assert _profiler_steps(names) == {f"ProfilerStep#{i}" for i in range(4)}
    assert "train.next(data_iter)" in names
    assert "evaluate.next(data_iter)" in names


def test_predict_starts_steps_and_stops(tmp_path: str) -> None:
    profiler = _record_everything_profiler()
    predict(DummyPredictUnit(2), _data(2), callbacks=[PyTorchProfiler(profiler)])
    assert not torch.autograd.profiler._is_profiler_enabled
    path = os.path.join(tmp_path, "predict_trace.json")
    profiler.export_chrome_trace(path)
    names = _event_names(path)
    assert _profiler_steps(names) == {f"ProfilerStep#{i}" for i in range(3)}
    assert names.count("predict.next(data_iter)") == 3


def test_a_failed_run_leaves_no_profiler_running() -> None:
    class Failing(DummyTrainUnit):
        def train_step(self, state: object, data: object) -> None:
            raise RuntimeError("step failed")

    callback = PyTorchProfiler(_record_everything_profiler())
    with pytest.raises(RuntimeError, match="step failed"):
        train(Failing(2), _data(2), max_epochs=1, callbacks=[callback])
    assert not torch.autograd.profiler._is_profiler_enabled
    callback.on_exception(None, None, RuntimeError())  # type: ignore[arg-type]  # no-op now


def test_rejects_non_profiler() -> None:
    with pytest.raises(TypeError, match="profiler='trace.json' is invalid"):
        PyTorchProfiler("trace.json")  # type: ignore[arg-type]
