"""Shared pieces of the checkpoint tests: a unit that uses every RNG, its data, runners.

Child processes (the ranks of a multi-process test, the victims of kill -9 and SIGTERM)
are forked from a multiprocessing *forkserver* that has torch, torchtnt and these test
modules imported already: a fresh interpreter spends seconds importing torch and
``torch._dynamo`` (which the first optimizer pulls in), a fork from the server a few
milliseconds. The server never runs torch ops, so its children start clean (no thread
pools, no process group). Without forkserver support the children are spawned instead.

Also runnable as a script (``python -m tests.framework.callbacks._resume_kit MODE DIR``).
"""

import multiprocessing
import os
import pickle
import random
import socket
import sys
import tempfile
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from torchtnt.framework.auto_unit import AutoUnit
from torchtnt.framework.state import State
from torchtnt.framework.unit import EvalUnit, PredictUnit, TrainUnit

Batch = Tuple[torch.Tensor, torch.Tensor]
NUM_SAMPLES, BATCH_SIZE, DIM = 10, 2, 4  # 5 batches per epoch
TOTAL = 14  # train steps of a full run: 2.8 epochs


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


def make_eval_dataloader() -> Any:
    """3 fixed batches (not shuffled), as evaluation data usually is."""
    from torchdata.stateful_dataloader import StatefulDataLoader

    gen = torch.Generator().manual_seed(4321)
    data = TensorDataset(torch.randn(6, DIM, generator=gen), torch.randn(6, 1, generator=gen))
    return StatefulDataLoader(data, batch_size=BATCH_SIZE)


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


class RNGFitUnit(RNGTrainUnit, EvalUnit[Batch]):
    """:class:`RNGTrainUnit` that also evaluates; records eval batches and end hooks."""

    def __init__(
        self, block_at_eval_step: Optional[int] = None, signal_dir: Optional[str] = None
    ) -> None:
        super().__init__(signal_dir=signal_dir)
        self.block_at_eval_step = block_at_eval_step
        self.eval_batches: List[List[float]] = []
        self.eval_ends = 0

    def eval_step(self, state: State, data: Batch) -> Any:
        step = self.eval_progress.num_steps_completed + 1
        if step == self.block_at_eval_step and self.signal_dir:
            _wait_for_parent(self.signal_dir)
        inputs, targets = data
        self.eval_batches.append(targets.flatten().tolist())
        return nn.functional.mse_loss(self.model(inputs), targets)

    def on_eval_end(self, state: State) -> None:
        self.eval_ends += 1


class RNGPredictUnit(PredictUnit[Batch]):
    """Predicts with :func:`make_model` (dropout off); records outputs and batches."""

    def __init__(
        self, block_at_step: Optional[int] = None, signal_dir: Optional[str] = None
    ) -> None:
        super().__init__()
        self.model = make_model()
        self.block_at_step = block_at_step
        self.signal_dir = signal_dir
        self.outputs: List[List[float]] = []
        self.batches: List[List[float]] = []
        self.ended = False

    def predict_step(self, state: State, data: Batch) -> Any:
        step = self.predict_progress.num_steps_completed + 1
        if step == self.block_at_step and self.signal_dir:
            _wait_for_parent(self.signal_dir)
        inputs, targets = data
        out = self.model(inputs)
        self.outputs.append(out.flatten().tolist())
        self.batches.append(targets.flatten().tolist())
        return out

    def on_predict_end(self, state: State) -> None:
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


# ----------------------------------------------------------------------------------------
# child processes
# ----------------------------------------------------------------------------------------

_PRELOAD = [
    "torch",
    "torch._dynamo",
    "torch.distributed.checkpoint",
    "torch.distributed.fsdp",
    "torch.nn.parallel",
    "numpy",
    "fsspec",
    "s3fs",
    "torchdata.stateful_dataloader",
    "torchtnt.framework",
    "torchtnt.framework.callbacks.dcp_saver",
    # Modules whose import only raises ImportError when something is missing: the server
    # skips those, but any other exception (e.g. pytest's Skipped) would kill it.
    "tests.framework.callbacks._resume_kit",
    "tests.framework.callbacks.test_dcp_saver",
]


def _start_method() -> str:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    # Only takes effect if this process has not started its forkserver yet.
    multiprocessing.get_context("forkserver").set_forkserver_preload(_PRELOAD)
    return "forkserver"


def child_process(target: Callable[..., None], *args: Any) -> Any:
    """A started ``multiprocessing.Process`` running ``target(*args)`` (a real process)."""
    proc = multiprocessing.get_context(_start_method()).Process(target=target, args=args)
    proc.start()
    return proc


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(
    rank: int,
    world_size: int,
    port: int,
    out_dir: str,
    fn: Callable[..., Any],
    args: Tuple[Any, ...],
) -> None:
    import torch.distributed as dist

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world_size),
    )
    torch.set_num_threads(1)  # two ranks share the cores
    dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=timedelta(60))
    try:
        result = fn(*args)
    finally:
        dist.destroy_process_group()
    with open(os.path.join(out_dir, f"rank_{rank}"), "wb") as f:
        pickle.dump(result, f)


def run_ranks(world_size: int, fn: Callable[..., Any], *args: Any) -> List[Any]:
    """Run ``fn(*args)`` on ``world_size`` processes joined by a gloo group.

    Like :func:`torchtnt.utils.distributed.spawn_multi_process`, but the processes are
    forked from the preloaded forkserver. Returns the results by rank; a failing rank
    raises ``torch.multiprocessing.ProcessRaisedException`` with its traceback.
    """
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="tnt_ranks_") as out_dir:
        mp.start_processes(
            _rank_main,
            args=(world_size, _free_port(), out_dir, fn, args),
            nprocs=world_size,
            join=True,
            start_method=_start_method(),
        )
        results = []
        for rank in range(world_size):
            with open(os.path.join(out_dir, f"rank_{rank}"), "rb") as f:
                results.append(pickle.load(f))
        return results


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


# Fit runs of the eval-preemption test: evaluations at train steps 4, 8 and 12.
EVAL_EVERY = 4


def run_fit(unit: RNGFitUnit, train_dl: Any, eval_dl: Any, callbacks: List[Any]) -> None:
    """Fit ``unit`` for :data:`TOTAL` steps, evaluating every :data:`EVAL_EVERY` steps."""
    from torchtnt.framework.fit import fit

    fit(
        unit,
        train_dl,
        eval_dl,
        max_steps=TOTAL,
        evaluate_every_n_steps=EVAL_EVERY,
        evaluate_every_n_epochs=None,
        callbacks=callbacks,
    )


def child_main(mode: str, root: str) -> None:
    """Entry point of the child processes of the kill / preemption tests.

    A failure is written to ``root/child_error.txt`` for the test to show.
    """
    try:
        torch.set_num_threads(1)
        _child_modes()[mode](root, os.path.join(root, "ckpts"))
    except BaseException:
        Path(root, "child_error.txt").write_text(traceback.format_exc())
        raise


def _child_modes() -> Dict[str, Callable[[str, str], None]]:
    return {
        "kill_mid_save": _kill_mid_save,
        "preempt": _preempt_train,
        "preempt_eval": _preempt_eval_in_fit,
        "preempt_predict": _preempt_predict,
    }


def _kill_mid_save(root: str, ckpt_dir: str) -> None:
    from torch.distributed.checkpoint._fsspec_filesystem import FsspecWriter

    from torchtnt.framework.callbacks.dcp_saver import DistributedCheckpointSaver
    from torchtnt.framework.train import train

    calls = {"n": 0}
    real_finish = FsspecWriter.finish

    def finish_then_die(self: Any, metadata: Any, results: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            # The 2nd checkpoint's data files are written; die before its metadata.
            os.kill(os.getpid(), 9)
        real_finish(self, metadata, results)

    FsspecWriter.finish = finish_then_die  # type: ignore[method-assign]
    seed_all(0)
    unit = RNGTrainUnit()
    cb = DistributedCheckpointSaver(ckpt_dir, save_every_n_train_steps=3, keep_last_n_checkpoints=1)

    def record(state: State, checkpoint_id: str) -> None:
        torch.save(
            states_of(unit)["module"], os.path.join(root, os.path.basename(checkpoint_id) + ".pt")
        )

    unit.on_checkpoint_save = record  # type: ignore[method-assign]
    train(unit, make_dataloader(), max_steps=10, callbacks=[cb])


def _preempt_train(root: str, ckpt_dir: str) -> None:
    from torchtnt.framework.callbacks.dcp_saver import DistributedCheckpointSaver
    from torchtnt.framework.train import train

    seed_all(0)
    unit = RNGTrainUnit(block_at_step=4, signal_dir=root)
    cb = DistributedCheckpointSaver(ckpt_dir, save_every_n_train_steps=3, save_on_preemption=True)
    train(unit, make_dataloader(), max_steps=10, callbacks=[cb])
    _save_result(
        root,
        losses=unit.losses,
        ended=unit.ended,
        steps=unit.train_progress.num_steps_completed,
    )


def _preempt_eval_in_fit(root: str, ckpt_dir: str) -> None:
    from torchtnt.framework.callbacks.dcp_saver import DistributedCheckpointSaver

    seed_all(0)
    # eval step 5 is the 2nd batch of the evaluation after train step 8
    unit = RNGFitUnit(block_at_eval_step=5, signal_dir=root)
    cb = DistributedCheckpointSaver(ckpt_dir, save_every_n_train_steps=3, save_on_preemption=True)
    run_fit(unit, make_dataloader(), make_eval_dataloader(), [cb])
    _save_result(
        root,
        losses=unit.losses,
        eval_batches=unit.eval_batches,
        ended=unit.ended,
        eval_ends=unit.eval_ends,
        steps=unit.train_progress.num_steps_completed,
        eval_steps=unit.eval_progress.num_steps_completed,
    )


def _preempt_predict(root: str, ckpt_dir: str) -> None:
    from torchtnt.framework.callbacks.dcp_saver import DistributedCheckpointSaver
    from torchtnt.framework.predict import predict

    seed_all(0)
    unit = RNGPredictUnit(block_at_step=3, signal_dir=root)
    cb = DistributedCheckpointSaver(ckpt_dir, save_every_n_predict_steps=2, save_on_preemption=True)
    predict(unit, make_dataloader(), callbacks=[cb])
    _save_result(
        root,
        outputs=unit.outputs,
        batches=unit.batches,
        ended=unit.ended,
        steps=unit.predict_progress.num_steps_completed,
    )


def _save_result(root: str, **result: Any) -> None:
    torch.save(result, os.path.join(root, "child_result.pt"))


if __name__ == "__main__":
    child_main(sys.argv[1], sys.argv[2])
