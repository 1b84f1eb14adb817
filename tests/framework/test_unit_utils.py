from typing import Iterator

import pytest
import torch

from torchtnt.framework._unit_utils import _find_optimizers_for_module, _step_requires_iterator
from torchtnt.framework.state import State


def step_batch(state: State, data: int) -> None: ...


def step_iter(state: State, data: Iterator[int]) -> None: ...


def step_none(state, data): ...  # noqa: ANN001


def step_string(state: State, data: "Iterator[int]") -> None: ...


def test_step_requires_iterator(caplog: pytest.LogCaptureFixture) -> None:
    assert _step_requires_iterator(step_batch) is False
    assert _step_requires_iterator(step_iter) is True
    assert _step_requires_iterator(step_string) is False
    assert _step_requires_iterator(step_none) is False
    assert "no annotation for its 'data' parameter" in caplog.text


def test_find_optimizers_for_module() -> None:
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1)
    opt_both = torch.optim.SGD(list(a.parameters()) + list(b.parameters()), lr=0.1)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1)
    found = _find_optimizers_for_module(a, {"a": opt_a, "both": opt_both, "b": opt_b})
    assert found == [("a", opt_a), ("both", opt_both)]
