"""Train on two dataloaders at once with ``MultiDataLoader`` and an iteration strategy.

Two made-up tasks share one network: ``sum`` (regress the sum of 8 numbers, 4 batches per
epoch) and ``sign`` (classify whether that sum is positive, 2 batches per epoch). A
``MultiDataLoader`` combines their loaders; each step receives a ``{task: batch}`` dict, and
the strategy decides which loader each step draws from and when the epoch ends. The script
prints, for each step, the task(s) it drew from:

    python examples/multiple_dataloaders.py --strategy round_robin   # sum sign sum sign sum sum
    python examples/multiple_dataloaders.py --strategy in_order      # sum sum sum sum sign sign
    python examples/multiple_dataloaders.py --strategy all           # sum+sign sum+sign sum sum
    python examples/multiple_dataloaders.py --strategy random --seed 3 --weights sum=1,sign=3
    python examples/multiple_dataloaders.py --strategy pattern --pattern sum,sign,sign

``random`` (``RandomizedBatchSampler``) picks a loader for each batch in proportion to its
weight, with Python's ``random`` module: the same ``--seed``, the same sequence. ``pattern``
is not built in: ``PatternIterator`` below shows how to write your own ``MultiIterator``
and hand it to ``MultiDataLoader(..., iterator_cls=...)``.
"""

import argparse
import itertools
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchtnt.framework import State, TrainUnit, train
from torchtnt.utils import seed
from torchtnt.utils.data import MultiDataLoader
from torchtnt.utils.data.iterators import (
    AllDatasetBatches,
    DataIterationStrategy,
    InOrder,
    MultiIterator,
    RandomizedBatchSampler,
    RoundRobin,
    StoppingMechanism,
)

Batch = Tuple[torch.Tensor, torch.Tensor]


@dataclass
class Pattern(DataIterationStrategy):
    """Draw from the loaders in this repeating order, e.g. ``["sum", "sign", "sign"]``."""

    pattern: List[str] = field(default_factory=list)


class PatternIterator(MultiIterator):
    """Follows ``Pattern.pattern`` round and round, skipping loaders that ran out.

    The epoch ends when every loader named in the pattern has run out.
    """

    def __init__(
        self, individual_dataloaders: Mapping[str, Iterable], iteration_strategy: Pattern
    ) -> None:
        super().__init__(individual_dataloaders, iteration_strategy)
        unknown = sorted(set(iteration_strategy.pattern) - set(individual_dataloaders))
        if not iteration_strategy.pattern or unknown:
            raise ValueError(
                f"pattern={iteration_strategy.pattern!r} is invalid: expected a non-empty "
                f"list of names from {sorted(individual_dataloaders)} (unknown: {unknown})"
            )
        names = set(iteration_strategy.pattern)
        self.iterators = {name: iter(individual_dataloaders[name]) for name in names}
        self.turns = itertools.cycle(iteration_strategy.pattern)
        self.exhausted: set = set()

    def __next__(self) -> Dict[str, Any]:
        while len(self.exhausted) < len(self.iterators):
            name = next(self.turns)
            if name in self.exhausted:
                continue
            try:
                return {name: next(self.iterators[name])}
            except StopIteration:
                self.exhausted.add(name)
        raise StopIteration


def make_loaders(batch_size: int) -> Dict[str, DataLoader]:
    gen = torch.Generator().manual_seed(0)
    x_sum, x_sign = torch.randn(4 * batch_size, 8, generator=gen), torch.randn(2 * batch_size, 8)
    return {
        "sum": DataLoader(TensorDataset(x_sum, x_sum.sum(dim=1)), batch_size=batch_size),
        "sign": DataLoader(
            TensorDataset(x_sign, (x_sign.sum(dim=1) > 0).long()), batch_size=batch_size
        ),
    }


def parse_weights(text: str) -> Dict[str, float]:
    """``"sum=1,sign=3"`` -> ``{"sum": 1.0, "sign": 3.0}`` (for ``--weights``)."""
    try:
        return {name: float(w) for name, w in (item.split("=") for item in text.split(","))}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid: expected name=weight pairs separated by commas, "
            "e.g. sum=1,sign=3"
        ) from None


def make_strategy(args: argparse.Namespace) -> Tuple[DataIterationStrategy, Optional[type]]:
    """The strategy config, and the iterator class when it is not a built-in one."""
    stopping = StoppingMechanism[args.stopping]
    if args.strategy == "round_robin":
        return RoundRobin(stopping_mechanism=stopping), None
    if args.strategy == "in_order":
        return InOrder(), None
    if args.strategy == "all":
        return AllDatasetBatches(stopping_mechanism=stopping), None
    if args.strategy == "random":
        return RandomizedBatchSampler(weights=args.weights, stopping_mechanism=stopping), None
    return Pattern(pattern=args.pattern.split(",")), PatternIterator


class TwoTasks(TrainUnit[Dict[str, Batch]]):
    """A shared backbone with one head per task; records which tasks every step drew."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(8, 32), nn.ReLU())
        self.heads = nn.ModuleDict({"sum": nn.Linear(32, 1), "sign": nn.Linear(32, 2)})
        params = [*self.backbone.parameters(), *self.heads.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=1e-2)
        self.drawn: List[List[str]] = []  # per epoch, per step: "sum", "sign" or "sum+sign"

    def on_train_epoch_start(self, state: State) -> None:
        self.drawn.append([])

    def train_step(self, state: State, data: Dict[str, Batch]) -> torch.Tensor:
        loss = torch.zeros(())
        for task, (inputs, targets) in data.items():
            out = self.heads[task](self.backbone(inputs))
            if task == "sum":
                loss = loss + nn.functional.mse_loss(out.squeeze(1), targets)
            else:
                loss = loss + nn.functional.cross_entropy(out, targets)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        tasks = "+".join(data)
        self.drawn[-1].append(tasks)
        step = self.train_progress.num_steps_completed + 1
        print(f"epoch {self.train_progress.num_epochs_completed} step {step:2d}: {tasks}")
        return loss


def main(argv: Optional[List[str]] = None) -> TwoTasks:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--strategy",
        choices=["round_robin", "in_order", "all", "random", "pattern"],
        default="round_robin",
    )
    parser.add_argument(
        "--stopping",
        choices=[m.name for m in StoppingMechanism],
        default="ALL_DATASETS_EXHAUSTED",
        help="when an epoch ends (round_robin, all, random)",
    )
    parser.add_argument(
        "--weights", type=parse_weights, default=None, help="for random, e.g. sum=1,sign=3"
    )
    parser.add_argument("--pattern", default="sum,sign,sign", help="for pattern")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-steps-per-epoch", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # Seeds torch, numpy and Python's random (which RandomizedBatchSampler draws with).
    seed(args.seed)
    strategy, iterator_cls = make_strategy(args)
    dataloader = MultiDataLoader(make_loaders(args.batch_size), strategy, iterator_cls)
    print(f"strategy: {type(strategy).__name__}")
    unit = TwoTasks()
    train(
        unit,
        dataloader,
        max_epochs=args.epochs,
        max_steps_per_epoch=args.max_steps_per_epoch,
    )
    return unit


if __name__ == "__main__":
    main()
