"""Evaluate saved checkpoints with ``evaluate()``: load only the weights into a fresh unit.

The first run trains a small classifier on made-up data (three Gaussian blobs in 16
dimensions) for ``--epochs`` epochs, saving a checkpoint after each with
``DistributedCheckpointSaver``. Every run then evaluates each complete checkpoint in
``--ckpt-dir`` on held-out data: a new evaluation-only unit is built for each, and only its
module is restored (``RestoreOptions``), not the optimizer, the progress counters or the
random generators that the training checkpoint also holds:

    python examples/evaluate_checkpoint.py                        # trains, then evaluates
    python examples/evaluate_checkpoint.py                        # evaluates what is there
    python examples/evaluate_checkpoint.py --checkpoint runs/evaluate_checkpoint/epoch_1_train_step_16

The evaluation unit is a different class from the training unit; restoring works because its
model attribute has the same name (``model``): checkpoint keys are attribute names.
"""

import argparse
import os
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchtnt.framework import EvalUnit, State, TrainUnit, evaluate, train
from torchtnt.framework.callbacks import DistributedCheckpointSaver
from torchtnt.framework.callbacks.checkpointer_types import RestoreOptions
from torchtnt.utils.checkpoint import get_checkpoint_dirpaths

Batch = Tuple[torch.Tensor, torch.Tensor]
NUM_CLASSES, DIM = 3, 16

# Only the weights: an evaluation needs neither the optimizer, nor the LR schedule, nor
# the training progress or random generator states stored alongside them.
WEIGHTS_ONLY = RestoreOptions(
    restore_modules=True,
    restore_optimizers=False,
    restore_lr_schedulers=False,
    restore_train_progress=False,
    restore_eval_progress=False,
    restore_predict_progress=False,
    restore_rng_states=False,
)


def make_blobs(num_samples: int, seed: int) -> TensorDataset:
    """Points around three fixed centres (the same for every seed), labelled by centre."""
    centres = torch.randn(NUM_CLASSES, DIM, generator=torch.Generator().manual_seed(1234))
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_CLASSES, (num_samples,), generator=gen)
    points = centres[labels] + 1.2 * torch.randn(num_samples, DIM, generator=gen)
    return TensorDataset(points, labels)


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(DIM, 32), nn.ReLU(), nn.Linear(32, NUM_CLASSES))


class TrainClassifier(TrainUnit[Batch]):
    """Adam on cross-entropy; the checkpoint will hold ``model``, ``optimizer``, progress."""

    def __init__(self, lr: float) -> None:
        super().__init__()
        self.model = make_model()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)

    def train_step(self, state: State, data: Batch) -> torch.Tensor:
        inputs, labels = data
        loss = nn.functional.cross_entropy(self.model(inputs), labels)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss


class EvalClassifier(EvalUnit[Batch]):
    """Sums the loss and counts correct predictions over one evaluation."""

    def __init__(self) -> None:
        super().__init__()
        self.model = make_model()  # same attribute name as in TrainClassifier
        self.loss_sum = 0.0
        self.correct = 0
        self.seen = 0

    def eval_step(self, state: State, data: Batch) -> None:
        inputs, labels = data
        logits = self.model(inputs)
        self.loss_sum += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        self.correct += int((logits.argmax(dim=1) == labels).sum())
        self.seen += len(labels)

    def metrics(self) -> Dict[str, float]:
        return {"loss": self.loss_sum / self.seen, "accuracy": self.correct / self.seen}


def train_and_save(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    data = DataLoader(make_blobs(args.train_size, seed=args.seed + 1), batch_size=32, shuffle=True)
    checkpointer = DistributedCheckpointSaver(args.ckpt_dir, save_every_n_epochs=1)
    train(TrainClassifier(lr=args.lr), data, max_epochs=args.epochs, callbacks=[checkpointer])


def evaluate_checkpoint(path: str, eval_data: DataLoader) -> Dict[str, float]:
    unit = EvalClassifier()
    DistributedCheckpointSaver.restore(path, unit, restore_options=WEIGHTS_ONLY)
    evaluate(unit, eval_data)
    return unit.metrics()


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt-dir", default="runs/evaluate_checkpoint")
    parser.add_argument("--checkpoint", default=None, help="evaluate only this checkpoint")
    parser.add_argument("--epochs", type=int, default=3, help="train epochs, if training")
    parser.add_argument("--train-size", type=int, default=512)
    parser.add_argument("--eval-size", type=int, default=300)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.checkpoint is not None:
        paths = [args.checkpoint]
    else:
        # metadata_fname: list only complete checkpoints (a save cut short has no .metadata).
        found = get_checkpoint_dirpaths(args.ckpt_dir, metadata_fname=".metadata")
        if not found:
            print(f"no checkpoint in {args.ckpt_dir}: training {args.epochs} epochs first")
            train_and_save(args)
            found = get_checkpoint_dirpaths(args.ckpt_dir, metadata_fname=".metadata")
        paths = [ckpt.path for ckpt in sorted(found)]  # oldest first

    eval_data = DataLoader(make_blobs(args.eval_size, seed=args.seed + 2), batch_size=64)
    results = {}
    for path in paths:
        results[path] = evaluate_checkpoint(path, eval_data)
        metrics = results[path]
        print(
            f"{os.path.basename(path):24s} loss {metrics['loss']:.4f}  "
            f"accuracy {metrics['accuracy']:.2%}"
        )
    return results


if __name__ == "__main__":
    main()
