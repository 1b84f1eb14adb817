"""Per-step overhead of torchtnt's loop over a hand-written loop doing the same work.

Workload: ``Linear(32, 1)``, batch 8, MSE loss, SGD, 2,000 pre-built batches. Each repetition
runs the hand-written loop and ``train()`` back to back in this process (interleaved, order
alternating), and the medians over all repetitions are reported.

Run: ``make bench`` or ``.venv/bin/python bench/loop_overhead.py [--reps 7]``.
"""

import argparse
import gc
import statistics
import time
from typing import Callable, List, Tuple

import torch

from torchtnt.framework.state import State
from torchtnt.framework.train import train
from torchtnt.framework.unit import TrainUnit

Batch = Tuple[torch.Tensor, torch.Tensor]
NUM_BATCHES = 2_000


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
    start = time.perf_counter()
    for inputs, targets in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


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
    start = time.perf_counter()
    train(unit, batches, max_epochs=1)
    elapsed = time.perf_counter() - start
    assert unit.train_progress.num_steps_completed == NUM_BATCHES
    return elapsed


def measure(reps: int, rows: List[Tuple[str, Callable[[List[Batch]], float]]]) -> None:
    batches = make_batches()
    baseline_times: List[float] = []
    times = {name: [] for name, _ in rows}
    hand_written(batches)  # warm-up
    for _, fn in rows:
        fn(batches)
    for rep in range(reps):
        order = [("hand-written", hand_written)] + list(rows)
        if rep % 2:
            order.reverse()
        for name, fn in order:
            gc.collect()
            elapsed = fn(batches)
            (baseline_times if name == "hand-written" else times[name]).append(elapsed)
    base_us = statistics.median(baseline_times) / NUM_BATCHES * 1e6
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {reps} reps, median")
    print(f"{'loop':<28}{'us/step':>10}{'overhead us':>14}{'ratio':>8}")
    print(f"{'hand-written':<28}{base_us:>10.2f}{'':>14}{1.0:>8.3f}")
    for name, _ in rows:
        us = statistics.median(times[name]) / NUM_BATCHES * 1e6
        print(f"{name:<28}{us:>10.2f}{us - base_us:>+14.2f}{us / base_us:>8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    measure(args.reps, [("train() + TrainUnit", torchtnt_train_unit)])


if __name__ == "__main__":
    main()
