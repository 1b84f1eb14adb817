"""Shared pieces of the resume tests: a unit that uses every RNG, its data, and runners.

Also runnable as a script (``python -m tests.framework.callbacks._resume_kit MODE DIR``)
so the kill / SIGTERM tests can drive a real child process.
"""

import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from torchtnt.framework.auto_unit import AutoUnit
from torchtnt.framework.state import State
from torchtnt.framework.unit import TrainUnit

Batch = Tuple[torch.Tensor, torch.Tensor]
NUM_SAMPLES, BATCH_SIZE, DIM = 10, 2, 4  # 5 batches per epoch


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(DIM, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1))


def make_dataloader() -> Any:
    from torchdata.stateful_dataloader import StatefulDataLoader

    gen = torch.Generator().manual_seed(1234)
    data = TensorDataset(
        torch.randn(NUM_SAMPLES, DIM, generator=gen), torch.randn(NUM_SAMPLES, 1, generator=gen)
    )
    return StatefulDataLoader(data, batch_size=BATCH_SIZE, shuffle=True)


def _noisy_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # numpy and Python RNGs take part too, so all three must be restored exactly.
    scale = 1.0 + float(np.random.rand()) + random.random()
    return nn.functional.mse_loss(pred, target) * scale


class RNGTrainUnit(TrainUnit[Batch]):
    """Dropout, momentum SGD and a step LR schedule; records every loss and batch."""

    def __init__(
        self,
        fail_at_step: Optional[int] = None,
        block_at_step: Optional[int] = None,
        signal_dir: Optional[str] = None,
    ) -> None:
        super().__init__()
        self.model = make_model()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        self.lr_scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=3, gamma=0.5)
        self.losses: List[float] = []
        self.batches: List[List[float]] = []
        self.fail_at_step = fail_at_step
        self.block_at_step = block_at_step
        self.signal_dir = signal_dir
        self.ended = False

    def train_step(self, state: State, data: Batch) -> Any:
        step = self.train_progress.num_steps_completed + 1
        if step == self.fail_at_step:
            raise RuntimeError(f"injected failure at step {step}")
        if step == self.block_at_step and self.signal_dir:
            _wait_for_parent(self.signal_dir)
        inputs, targets = data
        loss = _noisy_loss(self.model(inputs), targets)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.lr_scheduler.step()
        self.losses.append(loss.item())
        self.batches.append(targets.flatten().tolist())
        return loss

    def on_train_end(self, state: State) -> None:
        self.ended = True


class RNGAutoUnit(AutoUnit[Batch]):
    """The same model under AutoUnit (prefetch on by default)."""

    def __init__(self) -> None:
        super().__init__(module=make_model(), device=torch.device("cpu"), step_lr_interval="step")
        self.losses: List[float] = []
        self.batches: List[List[float]] = []

    def compute_loss(self, state: State, data: Batch) -> Tuple[torch.Tensor, Any]:
        inputs, targets = data
        loss = _noisy_loss(self.module(inputs), targets)
        self.losses.append(loss.item())
        self.batches.append(targets.flatten().tolist())
        return loss, None

    def configure_optimizers_and_lr_scheduler(self, module: nn.Module) -> Tuple[Any, Any]:
        optimizer = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9)
        return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)


def _wait_for_parent(signal_dir: str) -> None:
    Path(signal_dir, "ready").write_text("")
    deadline = time.monotonic() + 20
    while not Path(signal_dir, "signal_sent").exists() and time.monotonic() < deadline:
        time.sleep(0.005)


def states_of(unit: Any) -> Dict[str, Any]:
    """Deep copies of the module, optimizer and scheduler states."""
    module = unit.model if hasattr(unit, "model") else unit.module
    return {
        "module": {k: v.clone() for k, v in module.state_dict().items()},
        "optimizer": _clone(unit.optimizer.state_dict()),
        "lr_scheduler": dict(unit.lr_scheduler.state_dict()),
    }


def _clone(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.clone()
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clone(v) for v in obj]
    return obj


def assert_states_equal(a: Dict[str, Any], b: Dict[str, Any]) -> None:
    def check(x: Any, y: Any, where: str) -> None:
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), where
        elif isinstance(x, dict):
            assert x.keys() == y.keys(), where
            for k in x:
                check(x[k], y[k], f"{where}.{k}")
        elif isinstance(x, list):
            assert len(x) == len(y), where
            for i, (u, v) in enumerate(zip(x, y)):
                check(u, v, f"{where}[{i}]")
        else:
            assert x == y, f"{where}: {x!r} != {y!r}"

    check(a, b, "state")


def _child_main(mode: str, root: str) -> None:
    """Entry point of the child processes of the kill / preemption tests."""
    from torchtnt.framework.callbacks.dcp_saver import DistributedCheckpointSaver
    from torchtnt.framework.train import train

    seed_all(0)
    ckpt_dir = os.path.join(root, "ckpts")
    if mode == "kill_mid_save":
        from torch.distributed.checkpoint._fsspec_filesystem import FsspecWriter

        calls = {"n": 0}
        real_finish = FsspecWriter.finish

        def finish_then_die(self: Any, metadata: Any, results: Any) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                # The 2nd checkpoint's data files are written; die before its metadata.
                os.kill(os.getpid(), 9)
            real_finish(self, metadata, results)

        FsspecWriter.finish = finish_then_die  # type: ignore[method-assign]
        unit = RNGTrainUnit()
        cb = DistributedCheckpointSaver(
            ckpt_dir, save_every_n_train_steps=3, keep_last_n_checkpoints=1
        )

        def record(state: State, checkpoint_id: str) -> None:
            torch.save(
                states_of(unit)["module"],
                os.path.join(root, os.path.basename(checkpoint_id) + ".pt"),
            )

        unit.on_checkpoint_save = record  # type: ignore[method-assign]
        train(unit, make_dataloader(), max_steps=10, callbacks=[cb])
    elif mode == "preempt":
        unit = RNGTrainUnit(block_at_step=4, signal_dir=root)
        cb = DistributedCheckpointSaver(
            ckpt_dir, save_every_n_train_steps=3, save_on_preemption=True
        )
        train(unit, make_dataloader(), max_steps=10, callbacks=[cb])
        torch.save(
            {
                "losses": unit.losses,
                "ended": unit.ended,
                "steps": unit.train_progress.num_steps_completed,
            },
            os.path.join(root, "child_result.pt"),
        )
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    _child_main(sys.argv[1], sys.argv[2])
