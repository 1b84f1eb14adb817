"""examples/multiple_dataloaders.py: the exact loader sequence of each strategy."""

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import List

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multiple_dataloaders.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("multiple_dataloaders_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(argv: List[str], capsys: pytest.CaptureFixture[str]) -> List[List[str]]:
    """Run the example; check its printed lines agree with what the unit recorded."""
    unit = load_example().main(argv)
    lines = capsys.readouterr().out.splitlines()
    printed = [line.split(": ")[1] for line in lines[1:]]
    assert printed == [task for epoch in unit.drawn for task in epoch]
    steps = len(printed)
    assert lines[-1].startswith(f"epoch {len(unit.drawn) - 1} step {steps:2d}: ")
    assert unit.train_progress.num_steps_completed == steps
    return unit.drawn


SUM4_SIGN2 = ["sum", "sign", "sum", "sign", "sum", "sum"]


@pytest.mark.parametrize(
    "strategy, header, epoch",
    [
        ("round_robin", "RoundRobin", SUM4_SIGN2),
        ("in_order", "InOrder", ["sum", "sum", "sum", "sum", "sign", "sign"]),
        ("all", "AllDatasetBatches", ["sum+sign", "sum+sign", "sum", "sum"]),
        ("pattern", "Pattern", ["sum", "sign", "sign", "sum", "sum", "sum"]),
    ],
)
def test_deterministic_strategies(
    strategy: str, header: str, epoch: List[str], capsys: pytest.CaptureFixture[str]
) -> None:
    unit = load_example().main(["--strategy", strategy])
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"strategy: {header}"
    assert unit.drawn == [epoch, epoch]  # both epochs alike
    assert out.splitlines()[-1] == f"epoch 1 step {2 * len(epoch):2d}: {epoch[-1]}"


def test_stopping_mechanisms(capsys: pytest.CaptureFixture[str]) -> None:
    smallest = ["--strategy", "round_robin", "--stopping", "SMALLEST_DATASET_EXHAUSTED"]
    # sign runs out on its 3rd turn (step 6 would be sign): the epoch ends there
    assert run(smallest, capsys) == [SUM4_SIGN2[:5]] * 2
    restart = ["--strategy", "all", "--stopping", "RESTART_UNTIL_ALL_DATASETS_EXHAUSTED"]
    # sign starts over until sum, the longer one, has run out once
    assert run(restart, capsys) == [["sum+sign"] * 4] * 2


def test_random_sampler_sequence_is_fixed_by_the_seed(capsys: pytest.CaptureFixture[str]) -> None:
    equal = run(["--strategy", "random", "--seed", "0"], capsys)
    assert equal == [
        ["sum", "sum", "sign", "sign", "sum", "sum"],
        ["sign", "sum", "sum", "sum", "sign", "sum"],
    ]
    assert run(["--strategy", "random", "--seed", "0"], capsys) == equal
    weighted = run(["--strategy", "random", "--seed", "3", "--weights", "sum=1,sign=3"], capsys)
    assert weighted == [["sign", "sign", "sum", "sum", "sum", "sum"]] * 2
    # every batch of both loaders exactly once per epoch (ALL_DATASETS_EXHAUSTED)
    for epoch in equal + weighted:
        assert sorted(epoch) == sorted(SUM4_SIGN2)

    endless = ["--strategy", "random", "--stopping", "WRAP_AROUND_UNTIL_KILLED"]
    (drawn,) = run([*endless, "--max-steps-per-epoch", "12", "--epochs", "1"], capsys)
    # loaders that run out start over: 8 sum batches from 4, 4 sign batches from 2
    assert drawn == ["sum", "sum", "sign", "sign", "sum", "sum"] + ["sign", "sign"] + ["sum"] * 4


def test_bad_pattern_and_weights_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    ex = load_example()
    with pytest.raises(
        ValueError, match=r"pattern=\['sum', 'foo'\] is invalid.*unknown: \['foo'\]"
    ):
        ex.main(["--strategy", "pattern", "--pattern", "sum,foo"])
    with pytest.raises(SystemExit):
        ex.main(["--strategy", "random", "--weights", "sum:1"])
    assert "argument --weights: 'sum:1' is invalid: expected name=weight pairs" in (
        capsys.readouterr().err
    )
