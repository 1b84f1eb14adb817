import logging
from typing import List

import pytest
import torch
from torch import nn

import torchtnt.framework.callbacks.module_summary as module_summary_module
from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyFitUnit,
    DummyPredictUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.module_summary import ModuleSummary
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.train import train
from torchtnt.utils.module_summary import ModuleSummary as ModuleSummaryObj


class Recorder:
    def __init__(self) -> None:
        self.calls: List[List[ModuleSummaryObj]] = []

    def __call__(self, summaries: List[ModuleSummaryObj]) -> None:
        self.calls.append(summaries)


def _dataloader(num_batches: int):
    torch.manual_seed(0)
    return generate_random_dataloader(num_batches * 2, 2, 2)


class NestedUnit(DummyTrainUnit):
    """A tracked ``module`` three levels deep and a second tracked ``head``."""

    def __init__(self) -> None:
        super().__init__(2)
        self.module = nn.Sequential(nn.Linear(2, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))
        self.head = nn.Linear(2, 2, bias=False)
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=0.01)


def test_train_summarizes_each_tracked_module_once() -> None:
    recorder = Recorder()
    train(
        NestedUnit(), _dataloader(2), max_epochs=2, callbacks=[ModuleSummary(process_fn=recorder)]
    )
    assert len(recorder.calls) == 1
    by_name = {s.module_name: s for s in recorder.calls[0]}
    assert set(by_name) == {"module", "head", "loss_fn"}
    module = by_name["module"]
    assert module.module_type == "Sequential"
    assert module.num_parameters == (2 * 4 + 4) + (4 * 2 + 2)
    assert module.num_trainable_parameters == 22
    assert module.size_bytes == 22 * 4
    assert set(module.submodule_summaries["1"].submodule_summaries) == {"1.0", "1.1"}
    assert by_name["head"].num_parameters == 4
    assert module.flops_forward == "?"


def test_max_depth_prunes_submodules() -> None:
    recorder = Recorder()
    train(
        NestedUnit(),
        _dataloader(1),
        max_epochs=1,
        callbacks=[ModuleSummary(max_depth=2, process_fn=recorder)],
    )
    module = {s.module_name: s for s in recorder.calls[0]}["module"]
    assert set(module.submodule_summaries) == {"0", "1"}
    assert module.submodule_summaries["1"].submodule_summaries == {}


def test_module_inputs_give_flops_and_sizes() -> None:
    recorder = Recorder()
    inputs = {"module": ((torch.rand(3, 2),), {})}
    predict(
        DummyPredictUnit(2),
        _dataloader(1),
        callbacks=[ModuleSummary(process_fn=recorder, module_inputs=inputs)],
    )
    (summary,) = recorder.calls[0]
    assert summary.module_name == "module"
    # Linear(2, 2) on a (3, 2) input: addmm of 3x2 by 2x2 = 12 multiply-adds.
    assert summary.flops_forward == 12
    assert summary.in_size == [3, 2]
    assert summary.out_size == [3, 2]
    assert summary.forward_elapsed_time_ms > 0


def test_retrieve_module_summaries_directly() -> None:
    callback = ModuleSummary(module_inputs={"module": ((torch.rand(2, 2),), {})})
    summary, loss_fn = callback._retrieve_module_summaries(DummyTrainUnit(2))
    assert (summary.module_name, loss_fn.module_name) == ("module", "loss_fn")
    assert summary.flops_forward == 8
    assert loss_fn.num_parameters == 0
    assert summary.num_parameters == 6


def test_evaluate_summarizes_but_eval_inside_fit_does_not() -> None:
    recorder = Recorder()
    callback = ModuleSummary(process_fn=recorder)
    evaluate(DummyEvalUnit(2), _dataloader(1), callbacks=[callback])
    assert len(recorder.calls) == 1
    fit(DummyFitUnit(2), _dataloader(1), _dataloader(1), max_epochs=2, callbacks=[callback])
    assert len(recorder.calls) == 2  # only fit's on_train_start


def test_default_logs_a_table_per_module(caplog) -> None:
    with caplog.at_level(logging.INFO, logger=module_summary_module.__name__):
        train(NestedUnit(), _dataloader(1), max_epochs=1, callbacks=[ModuleSummary()])
    tables = [r.getMessage() for r in caplog.records if r.name == module_summary_module.__name__]
    assert len(tables) == 3  # module, loss_fn, head
    for table in tables:
        assert table.startswith("\n")
        assert "Name" in table and "# Parameters" in table
    first_rows = sorted(table.splitlines()[3].split("|")[0].strip() for table in tables)
    assert first_rows == ["head", "loss_fn", "module"]


def test_nothing_logged_off_rank_zero(monkeypatch, caplog) -> None:
    monkeypatch.setenv("RANK", "1")
    with caplog.at_level(logging.INFO, logger=module_summary_module.__name__):
        train(DummyTrainUnit(2), _dataloader(1), max_epochs=1, callbacks=[ModuleSummary()])
    assert not [r for r in caplog.records if r.name == module_summary_module.__name__]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"max_depth": -1}, ValueError, "max_depth=-1 is invalid"),
        ({"max_depth": 1.5}, ValueError, "max_depth=1.5 is invalid"),
        ({"process_fn": "print"}, TypeError, "process_fn='print' is invalid"),
        ({"module_inputs": [1]}, TypeError, r"module_inputs=\[1\] is invalid"),
        (
            {"module_inputs": {"net": (torch.ones(1),)}},
            TypeError,
            r"module_inputs\['net'\] is invalid: expected a pair \(args, kwargs\)",
        ),
    ],
)
def test_invalid_arguments(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        ModuleSummary(**kwargs)
