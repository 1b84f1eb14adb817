import io
from typing import Iterator, Optional

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from torchtnt.utils.tqdm import close_progress_bar, create_progress_bar, update_progress_bar


class _Stream(IterableDataset):
    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(torch.arange(10))


def _sized() -> DataLoader:
    return DataLoader(TensorDataset(torch.arange(10)), batch_size=1)


def _bar(
    dataloader: object = None,
    *,
    num_epochs_completed: int = 0,
    num_steps_completed: int = 0,
    max_steps: Optional[int] = None,
    max_steps_per_epoch: Optional[int] = None,
    mininterval: Optional[float] = None,
    file: Optional[io.StringIO] = None,
):
    return create_progress_bar(
        _sized() if dataloader is None else dataloader,
        desc="Train Epoch",
        num_epochs_completed=num_epochs_completed,
        num_steps_completed=num_steps_completed,
        max_steps=max_steps,
        max_steps_per_epoch=max_steps_per_epoch,
        mininterval=mininterval,
        file=file if file is not None else io.StringIO(),
    )


def test_create_progress_bar_sized() -> None:
    out = io.StringIO()
    bar = _bar(num_epochs_completed=2, file=out)
    assert bar.desc == "Train Epoch 2"
    assert bar.total == 10
    assert bar.n == 0 and bar.initial == 0
    assert bar.bar_format == "{l_bar}{bar}{r_bar}\n"
    bar.close()
    assert "Train Epoch 2:   0%|" in out.getvalue()
    assert "0/10" in out.getvalue()


def test_create_progress_bar_total_uses_step_limits() -> None:
    bar = _bar(num_steps_completed=3, max_steps=7, max_steps_per_epoch=5)
    # min(len=10, per-epoch 5, remaining 7 - 3 = 4)
    assert (bar.total, bar.n, bar.initial) == (4, 3, 3)
    bar.close()

    bar = _bar(max_steps_per_epoch=6)
    assert bar.total == 6
    bar.close()


def test_create_progress_bar_unsized_has_no_total() -> None:
    bar = _bar(DataLoader(_Stream(), batch_size=1))
    assert bar.total is None
    bar.close()
    bar = _bar(DataLoader(_Stream(), batch_size=1), max_steps_per_epoch=8)
    assert bar.total == 8
    bar.close()


def test_create_progress_bar_mininterval() -> None:
    default = _bar()
    custom = _bar(mininterval=2.5)
    assert custom.mininterval == 2.5
    assert default.mininterval == 0.1  # tqdm's own default
    default.close()
    custom.close()


def test_update_progress_bar_every_refresh_rate_steps() -> None:
    bar = _bar()
    positions = []
    for step in range(1, 8):
        update_progress_bar(bar, step, refresh_rate=3)
        positions.append(bar.n)
    assert positions == [0, 0, 3, 3, 3, 6, 6]
    bar.close()


@pytest.mark.parametrize(("steps", "final"), [(7, 7), (6, 6), (2, 2)])
def test_close_progress_bar_adds_remaining_steps(steps: int, final: int) -> None:
    out = io.StringIO()
    bar = _bar(file=out)
    for step in range(1, steps + 1):
        update_progress_bar(bar, step, refresh_rate=3)
    close_progress_bar(bar, steps, refresh_rate=3)
    assert bar.n == final
    assert bar.disable  # tqdm marks a closed bar as disabled
    last_line = [line for line in out.getvalue().splitlines() if line.strip()][-1]
    assert f"{final}/10" in last_line


def test_refresh_rate_one_tracks_every_step_from_initial() -> None:
    bar = _bar(num_steps_completed=4, max_steps=9)
    assert (bar.total, bar.n) == (5, 4)
    for step in range(5, 10):
        update_progress_bar(bar, step, refresh_rate=1)
    close_progress_bar(bar, 9, refresh_rate=1)
    assert bar.n == 9
