"""Per-step overhead of torchtnt's loop over a hand-written loop doing the same work.

Workload: ``Linear(32, 1)``, batch 8, MSE loss, SGD, 2,000 pre-built batches. Each repetition
runs the hand-written loops and ``train()`` back to back in this process (interleaved, order
alternating), and the medians over all repetitions are reported.

Each row is compared with a hand-written loop doing the same work: the TrainUnit row with the
plain loop, the AutoUnit row with a loop that, like AutoUnit, moves every batch to the device
(a no-op copy on the CPU) and zeroes gradients with ``set_to_none=True`` after the step.

The progress-bar row attaches a ``TQDMProgressBar`` and an ``IterationTimeLogger`` writing to a
``CSVLogger``, both acting every 1,000 steps, and is compared with the plain TrainUnit row: its
overhead is what they add on the steps where they draw or log nothing.

Run: ``make bench`` or ``.venv/bin/python bench/loop_overhead.py [--reps 7]``.
"""

import argparse
import gc
import os
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Tuple

import torch

from torchtnt.framework.auto_unit import AutoUnit
from torchtnt.framework.callbacks.iteration_time_logger import IterationTimeLogger
from torchtnt.framework.callbacks.tqdm_progress_bar import TQDMProgressBar
from torchtnt.framework.state import State
from torchtnt.framework.train import train
from torchtnt.framework.unit import TrainUnit
from torchtnt.utils.loggers import CSVLogger

Batch = Tuple[torch.Tensor, torch.Tensor]
NUM_BATCHES = 2_000
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def make_batches(seed: int = 0) -> List[Batch]:
    gen = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(8, 32, generator=gen), torch.randn(8, 1, generator=gen))
        for _ in range(NUM_BATCHES)
    ]


def make_model() -> Tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Linear(32, 1)
    return model, torch.optim.SGD(model.parameters(), lr=0.01)


def hand_written(batches: List[Batch]) -> float:
    model, optimizer = make_model()
    loss_fn = torch.nn.functional.mse_loss
    start = clock()
    for inputs, targets in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
    return clock() - start


class BenchUnit(TrainUnit[Batch]):
    def __init__(self) -> None:
        super().__init__()
        self.model, self.optimizer = make_model()

    def train_step(self, state: State, data: Batch) -> torch.Tensor:
        inputs, targets = data
        self.optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(self.model(inputs), targets)
        loss.backward()
        self.optimizer.step()
        return loss


def torchtnt_train_unit(batches: List[Batch]) -> float:
    unit = BenchUnit()
    start = clock()
    train(unit, batches, max_epochs=1)
    elapsed = clock() - start
    assert unit.train_progress.num_steps_completed == NUM_BATCHES
    return elapsed


def torchtnt_bar_and_logger(batches: List[Batch]) -> float:
    unit = BenchUnit()
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as sink:
        logger = CSVLogger(os.path.join(tmp, "times.csv"), steps_before_flushing=1_000)
        callbacks = [
            TQDMProgressBar(refresh_rate=1_000, file=sink),
            IterationTimeLogger(logger, log_every_n_steps=1_000),
        ]
        start = clock()
        train(unit, batches, max_epochs=1, callbacks=callbacks)
        elapsed = clock() - start
        logger.close()
    assert unit.train_progress.num_steps_completed == NUM_BATCHES
    return elapsed


def hand_written_auto_work(batches: List[Batch]) -> float:
    """What AutoUnit does per step, written by hand (the baseline of the AutoUnit row)."""
    model, optimizer = make_model()
    device = torch.device("cpu")
    loss_fn = torch.nn.functional.mse_loss
    start = clock()
    for inputs, targets in batches:
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return clock() - start


class BenchAutoUnit(AutoUnit[Batch]):
    def compute_loss(self, state: State, data: Batch) -> Tuple[torch.Tensor, None]:
        inputs, targets = data
        return torch.nn.functional.mse_loss(self.module(inputs), targets), None

    def configure_optimizers_and_lr_scheduler(
        self, module: torch.nn.Module
    ) -> Tuple[torch.optim.Optimizer, None]:
        return torch.optim.SGD(module.parameters(), lr=0.01), None


def torchtnt_auto_unit(batches: List[Batch]) -> float:
    unit = BenchAutoUnit(module=make_model()[0], device=torch.device("cpu"))
    start = clock()
    train(unit, batches, max_epochs=1)
    elapsed = clock() - start
    assert unit.train_progress.num_steps_completed == NUM_BATCHES
    return elapsed


Timed = Callable[[List[Batch]], float]
BASELINES = {"hand-written": hand_written, "hand-written (AutoUnit work)": hand_written_auto_work}


def measure(reps: int, rows: List[Tuple[str, Timed, str]]) -> None:
    """Time each row and each baseline ``reps`` times, interleaved; print medians."""
    batches = make_batches()
    timed = {**BASELINES, **{name: fn for name, fn, _ in rows}}
    times: Dict[str, List[float]] = {name: [] for name in timed}
    for fn in timed.values():  # warm-up
        fn(batches)
    for rep in range(reps):
        order = list(timed.items())
        if rep % 2:
            order.reverse()
        for name, fn in order:
            gc.collect()
            times[name].append(fn(batches))
    us = {name: statistics.median(t) / NUM_BATCHES * 1e6 for name, t in times.items()}
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, {reps} reps, median, "
        f"clock {'cpu' if clock is time.process_time else 'wall'}"
    )
    print(f"{'loop':<30}{'us/step':>10}{'overhead us':>14}{'ratio':>8}{'paired us':>12}")
    for name in BASELINES:
        print(f"{name:<30}{us[name]:>10.2f}{'':>14}{1.0:>8.3f}")
    for name, _, baseline in rows:
        base = us[baseline]
        # Median of the per-repetition differences: each pair ran back to back, so slow
        # drift of the machine cancels out within a pair.
        paired = statistics.median(
            (row - ref) / NUM_BATCHES * 1e6 for row, ref in zip(times[name], times[baseline])
        )
        print(
            f"{name:<30}{us[name]:>10.2f}{us[name] - base:>+14.2f}{us[name] / base:>8.3f}"
            f"{paired:>+12.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall time, or this process's CPU time (steadier on a busy machine)",
    )
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    torch.set_num_threads(1)
    measure(
        args.reps,
        [
            ("train() + TrainUnit", torchtnt_train_unit, "hand-written"),
            ("  + progress bar + logger", torchtnt_bar_and_logger, "train() + TrainUnit"),
            ("train() + AutoUnit", torchtnt_auto_unit, "hand-written (AutoUnit work)"),
        ],
    )


if __name__ == "__main__":
    main()
