from typing import List

import pytest

from torchtnt.framework._test_utils import DummyTrainUnit, generate_random_dataloader
from torchtnt.framework.callbacks import torch_compile
from torchtnt.framework.callbacks.torch_compile import TorchCompile
from torchtnt.framework.train import train


def test_shuts_down_workers_once_at_the_given_step(monkeypatch: pytest.MonkeyPatch) -> None:
    unit = DummyTrainUnit(2)
    calls: List[int] = []
    real_shutdown = torch_compile.shutdown_compile_workers

    def spy() -> None:
        calls.append(unit.train_progress.num_steps_completed)
        real_shutdown()  # the real inductor call: a no-op when no worker pool was started

    monkeypatch.setattr(torch_compile, "shutdown_compile_workers", spy)
    data = generate_random_dataloader(num_samples=10, input_dim=2, batch_size=2)
    train(unit, data, max_epochs=2, callbacks=[TorchCompile(step_shutdown_compile_workers=3)])
    assert unit.train_progress.num_steps_completed == 10
    assert calls == [3]


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (2.0, TypeError)])
def test_bad_step(bad: object, error: type) -> None:
    with pytest.raises(error, match=f"step_shutdown_compile_workers={bad!r} is invalid"):
        TorchCompile(step_shutdown_compile_workers=bad)  # type: ignore[arg-type]
