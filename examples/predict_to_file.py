"""Run ``predict()`` and write every prediction to a CSV file with a ``BaseCSVWriter``.

A small classifier is first trained for a moment on made-up data (three Gaussian blobs),
so that its predictions mean something. Then ``predict()`` runs it over new, unlabelled
points, and a callback turns each predict step's output into CSV rows, one per point:

    python examples/predict_to_file.py [--num-points 50] [--out-dir runs/predict_to_file]

The file (``--out-dir``/predictions.csv) looks like::

    index,label,confidence
    0,0,0.995088
    1,0,0.861888
    2,2,0.919395
    ...

``BaseCSVWriter`` opens its file for *appending* when it is created and writes the header
when prediction starts, so this script deletes an old file first: run it twice and you get
one table, not two.
"""

import argparse
import os
from typing import Any, List, Optional, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchtnt.framework import PredictUnit, State, TrainUnit, predict, train
from torchtnt.framework.callbacks import BaseCSVWriter

NUM_CLASSES, DIM = 3, 16
CENTRES = torch.randn(NUM_CLASSES, DIM, generator=torch.Generator().manual_seed(1234))


def make_points(num_samples: int, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(points, labels)``: points scattered around the centre of their class."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_CLASSES, (num_samples,), generator=gen)
    return CENTRES[labels] + 1.2 * torch.randn(num_samples, DIM, generator=gen), labels


class Trainer(TrainUnit[Tuple[torch.Tensor, torch.Tensor]]):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def train_step(self, state: State, data: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        points, labels = data
        loss = nn.functional.cross_entropy(self.model(points), labels)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss


# A predict batch is (indices, points): the index travels with each point, so every CSV row
# can say which input it belongs to, whatever the batch size.
PredictBatch = Tuple[torch.Tensor, torch.Tensor]


class Predictor(PredictUnit[PredictBatch]):
    """Returns ``(indices, predicted labels, confidence)`` for each batch."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def predict_step(
        self, state: State, data: PredictBatch
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        indices, points = data
        confidence, labels = self.model(points).softmax(dim=1).max(dim=1)
        return indices, labels, confidence


class PredictionWriter(BaseCSVWriter):
    """One CSV row per input point: its index, the predicted label and the confidence."""

    def get_step_output_rows(
        self, state: State, unit: Predictor, step_output: Any
    ) -> List[List[str]]:
        indices, labels, confidence = step_output
        return [
            [str(i), str(label), f"{conf:.6f}"]
            for i, label, conf in zip(indices.tolist(), labels.tolist(), confidence.tolist())
        ]


def main(argv: Optional[List[str]] = None) -> Tuple[nn.Module, str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-points", type=int, default=50, help="points to predict")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--train-epochs", type=int, default=5)
    parser.add_argument("--out-dir", default="runs/predict_to_file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(DIM, 32), nn.ReLU(), nn.Linear(32, NUM_CLASSES))
    train_set = TensorDataset(*make_points(512, seed=args.seed + 1))
    train(Trainer(model), DataLoader(train_set, batch_size=32), max_epochs=args.train_epochs)

    points, _ = make_points(args.num_points, seed=args.seed + 2)  # labels unseen
    predict_set = TensorDataset(torch.arange(args.num_points), points)
    csv_path = os.path.join(args.out_dir, "predictions.csv")
    if os.path.exists(csv_path):
        os.remove(csv_path)
    writer = PredictionWriter(
        header_row=["index", "label", "confidence"],
        dir_path=args.out_dir,
        delimiter=",",
        filename="predictions.csv",
    )
    unit = Predictor(model)
    predict(unit, DataLoader(predict_set, batch_size=args.batch_size), callbacks=[writer])
    steps = unit.predict_progress.num_steps_completed
    print(f"wrote {args.num_points} predictions in {steps} steps to {csv_path}")
    return model, csv_path


if __name__ == "__main__":
    main()
