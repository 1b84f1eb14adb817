import time
from typing import Any, Dict, List, Mapping, Tuple

import pytest
import torch

from torchtnt.framework._test_utils import DummyTrainUnit, generate_random_dataloader
from torchtnt.framework.callbacks import slow_rank_detector
from torchtnt.framework.callbacks.slow_rank_detector import (
    SlowRankDetector,
    _get_min_max_indices,
)
from torchtnt.framework.state import State
from torchtnt.framework.train import train
from torchtnt.framework.unit import TrainUnit
from torchtnt.utils.distributed import get_global_rank, spawn_multi_process

METRIC = "Difference between fastest/slowest rank (seconds)"


class ListLogger:
    """A MetricLogger that keeps every ``log`` call in order."""

    def __init__(self) -> None:
        self.records: List[Tuple[str, float, int]] = []

    def log(self, name: str, data: Any, step: int) -> None:
        self.records.append((name, float(data), step))

    def log_dict(self, payload: Mapping[str, Any], step: int) -> None:
        for name, data in payload.items():
            self.log(name, data, step)

    def close(self) -> None:
        pass


def _data(num_batches: int):
    return generate_random_dataloader(num_samples=2 * num_batches, input_dim=2, batch_size=2)


@pytest.mark.parametrize(
    "values, expected",
    [
        ([], (-1, -1)),
        ([0.5], (0, 0)),
        ([3.0, 1.0, 2.0, 1.0, 3.0], (1, 0)),
        ([2.0, 2.0], (0, 0)),
        ([1.0, 4.0, 0.5], (2, 1)),
    ],
)
def test_get_min_max_indices_picks_first_extremes(values: List[float], expected: tuple) -> None:
    assert _get_min_max_indices(values) == expected


def test_single_process_checks_on_steps_and_epochs() -> None:
    logger = ListLogger()
    callback = SlowRankDetector(check_every_n_steps=2, check_every_n_epochs=1, logger=logger)
    train(DummyTrainUnit(2), _data(3), max_epochs=2, callbacks=[callback])
    # Steps 2, 4, 6 plus the ends of epochs 1 (step 3) and 2 (step 6); one rank -> no spread.
    assert logger.records == [(METRIC, 0.0, s) for s in (2, 3, 4, 6, 6)]


def test_epoch_checks_only() -> None:
    logger = ListLogger()
    callback = SlowRankDetector(check_every_n_steps=None, check_every_n_epochs=2, logger=logger)
    train(DummyTrainUnit(2), _data(2), max_epochs=4, callbacks=[callback])
    assert [step for _, _, step in logger.records] == [4, 8]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"check_every_n_steps": None, "check_every_n_epochs": None}, ValueError, "at least one"),
        ({"check_every_n_steps": 0, "check_every_n_epochs": None}, ValueError, "at least one"),
        ({"check_every_n_steps": -5}, ValueError, "check_every_n_steps=-5 is invalid"),
        ({"check_every_n_epochs": -1}, ValueError, "check_every_n_epochs=-1 is invalid"),
        ({"check_every_n_steps": 2.5}, TypeError, "check_every_n_steps=2.5 is invalid"),
        ({"logger": "ranks.csv"}, TypeError, "logger='ranks.csv' is invalid: expected a"),
    ],
)
def test_bad_arguments(kwargs: Dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        SlowRankDetector(**kwargs)


SLOW_STEP = 3
SLOW_SECONDS = 0.05


class SlowOnRankOneUnit(TrainUnit[int]):
    """Does nothing, except that on rank 1 step ``SLOW_STEP`` takes ``SLOW_SECONDS``.

    No optimizer: building one imports torch._dynamo, which costs the children seconds.
    """

    def train_step(self, state: State, data: int) -> None:
        if get_global_rank() == 1 and self.train_progress.num_steps_completed + 1 == SLOW_STEP:
            time.sleep(SLOW_SECONDS)


def _two_rank_run() -> Dict[str, Any]:
    gathered: List[List[float]] = []
    real_gather = slow_rank_detector.all_gather_tensors

    def spy(tensor: torch.Tensor, group: Any = None) -> List[torch.Tensor]:
        result = real_gather(tensor, group=group)
        gathered.append([t.item() for t in result])
        return result

    slow_rank_detector.all_gather_tensors = spy  # a fresh child process: no need to undo
    logger = ListLogger()
    callback = SlowRankDetector(check_every_n_steps=1, check_every_n_epochs=1, logger=logger)
    train(SlowOnRankOneUnit(), [1, 2, 3, 4], max_epochs=1, callbacks=[callback])
    return {"records": logger.records, "gathered": gathered}


@pytest.mark.distributed
def test_two_gloo_ranks_find_the_slow_rank() -> None:
    rank0, rank1 = spawn_multi_process(2, "gloo", _two_rank_run)
    # Both ranks took part in all 5 checks (4 steps + end of epoch) and saw the same times.
    assert len(rank0["gathered"]) == len(rank1["gathered"]) == 5
    assert rank0["gathered"] == rank1["gathered"]
    # Only rank 0 logs, at steps 1-4 and at the epoch end (step 4).
    assert rank1["records"] == []
    assert [(name, step) for name, _, step in rank0["records"]] == [
        (METRIC, s) for s in (1, 2, 3, 4, 4)
    ]
    for (_, logged, _), times in zip(rank0["records"], rank0["gathered"]):
        assert logged == pytest.approx(max(times) - min(times), abs=1e-9)
    # At the slow step, rank 1 arrives last, well after rank 0 (margin for scheduler noise).
    slow_times = rank0["gathered"][SLOW_STEP - 1]
    assert _get_min_max_indices(slow_times) == (0, 1)
    assert slow_times[1] - slow_times[0] >= SLOW_SECONDS * 0.5
