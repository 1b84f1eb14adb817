import math
from typing import Iterator, Optional

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from torchtnt.utils.progress import (
    Progress,
    estimated_steps_in_epoch,
    estimated_steps_in_fit,
    estimated_steps_in_loop,
)


class _Stream(IterableDataset):
    """An iterable dataset without ``__len__``: its DataLoader has no length."""

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(torch.arange(10))


class _FailingLen:
    """Its ``len()`` fails with an arbitrary error."""

    def __iter__(self) -> Iterator[int]:
        return iter(range(10))

    def __len__(self) -> int:
        raise RuntimeError("length unknown until the stream is opened")


class _BrokenLen:
    """Claims to be sized but cannot tell its length."""

    def __iter__(self) -> Iterator[int]:
        return iter(range(10))

    def __len__(self) -> int:
        raise NotImplementedError


def _sized(n: int = 10) -> DataLoader:
    return DataLoader(TensorDataset(torch.arange(n)), batch_size=1)


def _unsized() -> DataLoader:
    return DataLoader(_Stream(), batch_size=1)


# --------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------


def test_progress_defaults_to_zero() -> None:
    p = Progress()
    assert (
        p.num_epochs_completed,
        p.num_steps_completed,
        p.num_steps_completed_in_epoch,
        p.num_steps_completed_in_prev_epoch,
    ) == (0, 0, 0, 0)


def test_progress_constructor_values() -> None:
    p = Progress(num_epochs_completed=2, num_steps_completed=15, num_steps_completed_in_epoch=3)
    assert (p.num_epochs_completed, p.num_steps_completed, p.num_steps_completed_in_epoch) == (
        2,
        15,
        3,
    )
    assert p.num_steps_completed_in_prev_epoch == 0


def test_progress_counters_are_read_only() -> None:
    p = Progress()
    for name in (
        "num_epochs_completed",
        "num_steps_completed",
        "num_steps_completed_in_epoch",
        "num_steps_completed_in_prev_epoch",
    ):
        with pytest.raises(AttributeError):
            setattr(p, name, 5)


def test_progress_step_and_epoch_sequence() -> None:
    p = Progress()
    seen = []
    for steps_in_epoch in (3, 2, 0):
        for _ in range(steps_in_epoch):
            p.increment_step()
            seen.append(("step", p.num_steps_completed, p.num_steps_completed_in_epoch))
        p.increment_epoch()
        seen.append(
            (
                "epoch",
                p.num_epochs_completed,
                p.num_steps_completed_in_epoch,
                p.num_steps_completed_in_prev_epoch,
            )
        )
    assert seen == [
        ("step", 1, 1),
        ("step", 2, 2),
        ("step", 3, 3),
        ("epoch", 1, 0, 3),
        ("step", 4, 1),
        ("step", 5, 2),
        ("epoch", 2, 0, 2),
        ("epoch", 3, 0, 0),
    ]
    assert p.num_steps_completed == 5


def test_progress_state_dict_has_exactly_three_keys() -> None:
    p = Progress()
    for _ in range(4):
        p.increment_step()
    p.increment_epoch()
    p.increment_step()
    assert p.state_dict() == {
        "num_epochs_completed": 1,
        "num_steps_completed": 5,
        "num_steps_completed_in_epoch": 1,
    }


def test_progress_load_state_dict_round_trip() -> None:
    source = Progress(
        num_epochs_completed=3, num_steps_completed=30, num_steps_completed_in_epoch=7
    )
    target = Progress()
    target.load_state_dict(source.state_dict())
    assert target.state_dict() == source.state_dict()
    # the previous-epoch count is not persisted
    assert target.num_steps_completed_in_prev_epoch == 0
    target.increment_step()
    assert (target.num_steps_completed, target.num_steps_completed_in_epoch) == (31, 8)


@pytest.mark.parametrize(
    "missing", ["num_epochs_completed", "num_steps_completed", "num_steps_completed_in_epoch"]
)
def test_progress_load_state_dict_missing_key_raises(missing: str) -> None:
    sd = Progress(1, 2, 3).state_dict()
    del sd[missing]
    with pytest.raises(KeyError):
        Progress().load_state_dict(sd)


def test_progress_string() -> None:
    assert Progress().get_progress_string() == (
        "completed epochs: 0, completed steps: 0, completed steps in current epoch: 0."
    )
    p = Progress(num_epochs_completed=2, num_steps_completed=21, num_steps_completed_in_epoch=1)
    assert p.get_progress_string() == (
        "completed epochs: 2, completed steps: 21, completed steps in current epoch: 1."
    )


# --------------------------------------------------------------------------------------
# estimated_steps_in_epoch
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_steps_completed", "max_steps", "max_steps_per_epoch", "sized", "unsized"),
    [
        (0, None, None, 10, math.inf),
        (0, None, 4, 4, 4),
        (0, None, 20, 10, 20),
        (3, 7, None, 4, 4),
        (0, 100, None, 10, 100),
        (3, 7, 5, 4, 4),
        (0, 7, 5, 5, 5),
        (0, 30, 15, 10, 15),
        # falsy limits are ignored
        (0, 0, 0, 10, math.inf),
        (0, None, 0, 10, math.inf),
    ],
)
def test_estimated_steps_in_epoch(
    num_steps_completed: int,
    max_steps: Optional[int],
    max_steps_per_epoch: Optional[int],
    sized: float,
    unsized: float,
) -> None:
    kwargs = dict(
        num_steps_completed=num_steps_completed,
        max_steps=max_steps,
        max_steps_per_epoch=max_steps_per_epoch,
    )
    assert estimated_steps_in_epoch(_sized(), **kwargs) == sized
    assert estimated_steps_in_epoch(list(range(10)), **kwargs) == sized
    assert estimated_steps_in_epoch(_unsized(), **kwargs) == unsized
    assert estimated_steps_in_epoch(_BrokenLen(), **kwargs) == unsized
    assert estimated_steps_in_epoch(_FailingLen(), **kwargs) == unsized
    assert estimated_steps_in_epoch((i for i in range(10)), **kwargs) == unsized


# --------------------------------------------------------------------------------------
# estimated_steps_in_loop
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_steps", "max_steps_per_epoch", "epochs", "sized", "unsized"),
    [
        (None, None, None, None, None),
        (None, 4, None, None, None),
        (25, None, None, 25, 25),
        (25, 4, None, 25, 25),
        (None, None, 3, 30, None),
        (None, 4, 3, 12, 12),
        (None, 20, 3, 30, 60),
        (25, None, 3, 25, 25),
        (100, None, 3, 30, 100),
        (10, 4, 3, 10, 10),
        (100, 4, 3, 12, 12),
        (5, None, 3, 5, 5),
    ],
)
def test_estimated_steps_in_loop(
    max_steps: Optional[int],
    max_steps_per_epoch: Optional[int],
    epochs: Optional[int],
    sized: Optional[int],
    unsized: Optional[int],
) -> None:
    kwargs = dict(max_steps=max_steps, max_steps_per_epoch=max_steps_per_epoch, epochs=epochs)
    assert estimated_steps_in_loop(_sized(), **kwargs) == sized
    assert estimated_steps_in_loop(_unsized(), **kwargs) == unsized


def test_estimated_steps_in_loop_returns_int() -> None:
    result = estimated_steps_in_loop(_sized(), max_steps=None, max_steps_per_epoch=None, epochs=2)
    assert result == 20 and isinstance(result, int)


# --------------------------------------------------------------------------------------
# estimated_steps_in_fit (train loader of 10 batches, eval loader of 4)
# --------------------------------------------------------------------------------------


def _fit(
    *,
    train_sized: bool = True,
    eval_sized: bool = True,
    epochs: Optional[int] = 2,
    max_steps: Optional[int] = None,
    max_train_steps_per_epoch: Optional[int] = None,
    max_eval_steps_per_epoch: Optional[int] = None,
    eval_every_n_steps: Optional[int] = None,
    eval_every_n_epochs: Optional[int] = None,
) -> Optional[int]:
    return estimated_steps_in_fit(
        train_dataloader=_sized(10) if train_sized else _unsized(),
        eval_dataloader=_sized(4) if eval_sized else _unsized(),
        epochs=epochs,
        max_steps=max_steps,
        max_train_steps_per_epoch=max_train_steps_per_epoch,
        max_eval_steps_per_epoch=max_eval_steps_per_epoch,
        eval_every_n_steps=eval_every_n_steps,
        eval_every_n_epochs=eval_every_n_epochs,
    )


def test_estimated_steps_in_fit_counts_train_and_eval() -> None:
    assert _fit() == 20
    assert _fit(eval_every_n_epochs=1) == 20 + 2 * 4
    assert _fit(epochs=3, eval_every_n_epochs=2) == 30 + 1 * 4
    assert _fit(eval_every_n_steps=5) == 20 + 4 * 4
    assert _fit(eval_every_n_steps=6) == 20 + 3 * 4
    assert _fit(eval_every_n_epochs=1, eval_every_n_steps=5) == 20 + (2 + 4) * 4
    assert _fit(eval_every_n_epochs=1, max_eval_steps_per_epoch=2) == 20 + 2 * 2
    assert _fit(eval_every_n_epochs=1, max_train_steps_per_epoch=3) == 6 + 2 * 4
    assert _fit(epochs=None, max_steps=15, eval_every_n_steps=4) == 15 + 3 * 4
    assert _fit(epochs=2, max_steps=15, eval_every_n_epochs=1) == 15 + 2 * 4


def test_estimated_steps_in_fit_unknown() -> None:
    assert _fit(epochs=None) is None
    assert _fit(train_sized=False, eval_every_n_epochs=1) is None
    assert _fit(eval_sized=False, eval_every_n_epochs=1) is None


def test_estimated_steps_in_fit_limits_make_unsized_loaders_countable() -> None:
    assert _fit(train_sized=False, max_train_steps_per_epoch=5, eval_every_n_epochs=1) == 10 + 8
    assert _fit(eval_sized=False, max_eval_steps_per_epoch=3, eval_every_n_epochs=1) == 20 + 6
    assert _fit(train_sized=False, epochs=None, max_steps=12) == 12


def test_estimated_steps_in_fit_goes_through_estimated_steps_in_loop_for_both_phases() -> None:
    from unittest.mock import patch

    with patch("torchtnt.utils.progress.estimated_steps_in_loop") as loop:
        loop.side_effect = [100, 10]  # train steps, then steps of one evaluation
        total = estimated_steps_in_fit(
            train_dataloader=[],
            eval_dataloader=[],
            epochs=10,
            max_steps=None,
            max_train_steps_per_epoch=None,
            max_eval_steps_per_epoch=None,
            eval_every_n_steps=None,
            eval_every_n_epochs=1,
        )
    assert total == 100 + 10 * 10 and loop.call_count == 2
