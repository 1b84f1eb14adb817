import types
from datetime import datetime, timedelta, timezone
from typing import Tuple

import pytest
import torch

from torchtnt.framework._test_utils import Batch, DummyTrainUnit, generate_random_dataloader
from torchtnt.framework.callbacks import time_limit_interrupter
from torchtnt.framework.callbacks.time_limit_interrupter import TimeLimitInterrupter
from torchtnt.framework.state import State
from torchtnt.framework.train import train

MINUTE = 60.0


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class MinutePerStepUnit(DummyTrainUnit):
    """Each train step takes one minute on the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(input_dim=2)
        self.clock = clock

    def train_step(self, state: State, data: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
        self.clock.now += MINUTE
        return super().train_step(state, data)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(
        time_limit_interrupter, "time", types.SimpleNamespace(monotonic=fake.monotonic)
    )
    return fake


def _data(num_batches: int):
    return generate_random_dataloader(num_samples=2 * num_batches, input_dim=2, batch_size=2)


def test_duration_string_stops_at_the_first_step_past_the_limit(clock: FakeClock) -> None:
    unit = MinutePerStepUnit(clock)
    callback = TimeLimitInterrupter(duration="00:00:05", interval="step")
    train(unit, _data(20), max_epochs=1, callbacks=[callback])
    assert unit.train_progress.num_steps_completed == 5


def test_duration_timedelta_checked_every_other_epoch(clock: FakeClock) -> None:
    # 3 minutes per epoch; checks after epochs 2 (6 min < 7) and 4 (12 min >= 7).
    unit = MinutePerStepUnit(clock)
    callback = TimeLimitInterrupter(duration=timedelta(minutes=7), interval_freq=2)
    train(unit, _data(3), max_epochs=10, callbacks=[callback])
    assert unit.train_progress.num_epochs_completed == 4
    assert unit.train_progress.num_steps_completed == 12


def test_clock_starts_at_train_start_not_at_construction(clock: FakeClock) -> None:
    callback = TimeLimitInterrupter(duration="00:00:03", interval="step")
    clock.now += 10 * MINUTE  # time passing before training must not count
    unit = MinutePerStepUnit(clock)
    train(unit, _data(20), max_epochs=1, callbacks=[callback])
    assert unit.train_progress.num_steps_completed == 3


def test_timestamp_deadline_stops_at_the_right_step(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

    class FakeDatetime(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return (start + timedelta(seconds=clock.now - 1000.0)).astimezone(tz)

    monkeypatch.setattr(time_limit_interrupter, "datetime", FakeDatetime)
    unit = MinutePerStepUnit(clock)
    deadline = start + timedelta(minutes=4)
    callback = TimeLimitInterrupter(timestamp=deadline, interval="step")
    train(unit, _data(20), max_epochs=1, callbacks=[callback])
    assert unit.train_progress.num_steps_completed == 4


def test_real_past_and_future_timestamps() -> None:
    past = datetime.now(timezone.utc) - timedelta(seconds=1)
    unit = DummyTrainUnit(input_dim=2)
    train(
        unit,
        _data(5),
        max_epochs=1,
        callbacks=[TimeLimitInterrupter(timestamp=past, interval="step")],
    )
    assert unit.train_progress.num_steps_completed == 1

    future = datetime.now().astimezone() + timedelta(days=1)
    unit = DummyTrainUnit(input_dim=2)
    callback = TimeLimitInterrupter(duration="01:00:00", timestamp=future, interval="step")
    train(unit, _data(5), max_epochs=1, callbacks=[callback])
    assert unit.train_progress.num_steps_completed == 5


def test_duration_string_is_stored_in_seconds() -> None:
    assert TimeLimitInterrupter(duration="01:02:03")._duration == 86400 + 2 * 3600 + 3 * 60
    assert TimeLimitInterrupter(duration=timedelta(seconds=90))._duration == 90.0


@pytest.mark.parametrize("duration", ["1:00:00", "00:24:00", "00:00:60", "00:00", "a0:00:00"])
def test_malformed_duration_strings(duration: str) -> None:
    with pytest.raises(ValueError, match=f"duration='{duration}' is invalid.*DD:HH:MM"):
        TimeLimitInterrupter(duration=duration)


@pytest.mark.parametrize("duration", ["00:00:00", timedelta(0), timedelta(minutes=-5)])
def test_zero_or_negative_duration(duration: object) -> None:
    with pytest.raises(ValueError, match="duration=.* is invalid: expected a positive time span"):
        TimeLimitInterrupter(duration=duration)  # type: ignore[arg-type]


def test_other_bad_arguments() -> None:
    with pytest.raises(ValueError, match="needs a limit"):
        TimeLimitInterrupter()
    with pytest.raises(ValueError, match="timestamp=.* no timezone"):
        TimeLimitInterrupter(timestamp=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="interval='batch'"):
        TimeLimitInterrupter(duration="00:01:00", interval="batch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval_freq=0"):
        TimeLimitInterrupter(duration="00:01:00", interval_freq=0)
    with pytest.raises(TypeError, match="duration=3600"):
        TimeLimitInterrupter(duration=3600)  # type: ignore[arg-type]
