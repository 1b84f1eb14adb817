"""examples/predict_to_file.py: the CSV holds exactly the model's predictions, one row each."""

import csv
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "predict_to_file.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("predict_to_file_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_csv_rows_match_the_models_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ex = load_example()
    argv = ["--num-points", "50", "--batch-size", "16", "--out-dir", str(tmp_path)]
    model, csv_path = ex.main(argv)
    assert csv_path == str(tmp_path / "predictions.csv")
    # 50 points in batches of 16: 3 full batches and one of 2
    assert capsys.readouterr().out == f"wrote 50 predictions in 4 steps to {csv_path}\n"

    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["index", "label", "confidence"]
    assert len(rows) == 1 + 50

    points, true_labels = ex.make_points(50, seed=2)
    with torch.no_grad():  # batch by batch as predict() ran, so every float is the same
        logits = torch.cat([model(points[i : i + 16]) for i in range(0, 50, 16)])
    confidence, labels = logits.softmax(dim=1).max(dim=1)
    expected = [[str(i), str(int(labels[i])), f"{float(confidence[i]):.6f}"] for i in range(50)]
    assert rows[1:] == expected
    # The predictions are those of a trained model, not a random one.
    assert (labels == true_labels).float().mean() > 0.8

    # A second run replaces the file instead of appending a second table to it.
    ex.main(argv)
    with open(csv_path, newline="") as f:
        assert list(csv.reader(f)) == rows
