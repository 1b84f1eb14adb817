"""Train a small CNN on scikit-learn's bundled 8x8 digits with ``fit()``.

No download: the 1,797 images ship with scikit-learn. Prints the mean train loss and the
eval accuracy after every epoch, logs both to a JSON file and ends by writing an HTML report
of the run (``--logdir``, default ``runs/digits``).

    python examples/digits.py [--epochs 12] [--batch-size 32] [--seed 0] [--logdir DIR]
"""

import argparse
import os
import time
from typing import List, Optional, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchtnt.framework import EvalUnit, State, TrainUnit, fit
from torchtnt.framework.callbacks.run_report import RunReport
from torchtnt.utils.loggers import JSONLogger, MetricLogger

Batch = Tuple[torch.Tensor, torch.Tensor]


def load_digits_split(seed: int) -> Tuple[TensorDataset, TensorDataset]:
    """The digits as (N, 1, 8, 8) float images in [0, 1], split 80/20 at random."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError("this example needs scikit-learn: pip install torchtnt[demo]") from err
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    split = int(0.8 * len(labels))
    train_idx, eval_idx = order[:split], order[split:]
    return (
        TensorDataset(images[train_idx], labels[train_idx]),
        TensorDataset(images[eval_idx], labels[eval_idx]),
    )


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


class DigitsUnit(TrainUnit[Batch], EvalUnit[Batch]):
    """Cross-entropy training with Adam; evaluation counts correct predictions."""

    def __init__(self, lr: float, logger: Optional[MetricLogger] = None) -> None:
        super().__init__()
        self.logger = logger
        self.model = make_model()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.train_losses: List[float] = []
        self.correct = 0
        self.seen = 0
        self.history: List[Tuple[int, float, float]] = []

    def train_step(self, state: State, data: Batch) -> torch.Tensor:
        images, labels = data
        loss = nn.functional.cross_entropy(self.model(images), labels)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.train_losses.append(loss.item())
        if self.logger is not None:
            self.logger.log(
                "train/loss", self.train_losses[-1], self.train_progress.num_steps_completed + 1
            )
        return loss

    def on_eval_start(self, state: State) -> None:
        self.correct = 0
        self.seen = 0

    def eval_step(self, state: State, data: Batch) -> torch.Tensor:
        images, labels = data
        predictions = self.model(images).argmax(dim=1)
        self.correct += int((predictions == labels).sum())
        self.seen += len(labels)
        return predictions

    def on_eval_end(self, state: State) -> None:
        epoch = self.train_progress.num_epochs_completed
        train_loss = sum(self.train_losses) / max(len(self.train_losses), 1)
        accuracy = self.correct / max(self.seen, 1)
        self.history.append((epoch, train_loss, accuracy))
        if self.logger is not None:
            step = self.train_progress.num_steps_completed
            self.logger.log_dict({"eval/accuracy": accuracy, "train/epoch_loss": train_loss}, step)
        self.train_losses.clear()
        print(f"epoch {epoch:2d}  train loss {train_loss:.4f}  eval accuracy {accuracy:.2%}")


def main(argv: List[str] | None = None) -> DigitsUnit:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--max-steps", type=int, default=None, help="stop early (smoke tests)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--logdir", default="runs/digits", help="where logs and the report go")
    args = parser.parse_args(argv)

    # A model this small runs fastest on one thread; more only add synchronisation.
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_set, eval_set = load_digits_split(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    eval_loader = DataLoader(eval_set, batch_size=256)
    os.makedirs(args.logdir, exist_ok=True)
    logger = JSONLogger(os.path.join(args.logdir, "metrics.json"))
    unit = DigitsUnit(lr=args.lr, logger=logger)
    report = RunReport(args.logdir, loggers=[logger])

    start = time.perf_counter()
    fit(
        unit,
        train_loader,
        eval_loader,
        max_epochs=args.epochs,
        max_steps=args.max_steps,
        callbacks=[report],
    )
    elapsed = time.perf_counter() - start
    logger.close()
    final = unit.history[-1][2] if unit.history else float("nan")
    print(
        f"done: {unit.train_progress.num_steps_completed} steps in {elapsed:.1f}s, "
        f"final eval accuracy {final:.2%}"
    )
    print(f"run report: {report.report_path}")
    return unit


if __name__ == "__main__":
    main()
