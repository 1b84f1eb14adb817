import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from torchtnt.utils.data.profile_dataloader import profile_dataloader
from torchtnt.utils.timer import Timer


def test_times_every_batch_until_exhausted() -> None:
    timer = profile_dataloader(list(range(5)), None)  # type: ignore[arg-type]
    assert isinstance(timer, Timer)
    assert set(timer.recorded_durations) == {"iter(dataloader)", "next(iter)"}
    assert len(timer.recorded_durations["iter(dataloader)"]) == 1
    # The final, exhausted next() is not recorded.
    assert len(timer.recorded_durations["next(iter)"]) == 5
    assert all(d >= 0 for d in timer.recorded_durations["next(iter)"])


def test_max_steps_limits_the_batches_read() -> None:
    consumed = []

    def source():
        for i in range(10):
            consumed.append(i)
            yield i

    timer = profile_dataloader(source(), None, max_steps=3)  # type: ignore[arg-type]
    assert len(timer.recorded_durations["next(iter)"]) == 3
    assert consumed == [0, 1, 2]
    timer = profile_dataloader([1, 2], None, max_steps=0)  # type: ignore[arg-type]
    assert "next(iter)" not in timer.recorded_durations


def test_uses_the_given_timer_and_copies_to_device() -> None:
    timer = Timer()
    timer.recorded_durations["earlier"].append(1.0)
    batches = [torch.ones(2), torch.zeros(2)]
    returned = profile_dataloader(batches, None, timer=timer, device=torch.device("cpu"))  # type: ignore[arg-type]
    assert returned is timer
    assert timer.recorded_durations["earlier"] == [1.0]
    assert len(timer.recorded_durations["next(iter)"]) == 2
    assert len(timer.recorded_durations["copy_data_to_device"]) == 2


def test_steps_the_profiler_once_per_batch() -> None:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        profile_dataloader([0, 1, 2, 3], prof, max_steps=3)
    assert prof.step_num == 3


@pytest.mark.parametrize("max_steps", [-1, 1.5, True])
def test_bad_max_steps_is_rejected(max_steps: object) -> None:
    with pytest.raises(ValueError, match=rf"max_steps={max_steps!r} is invalid"):
        profile_dataloader([1], None, max_steps=max_steps)  # type: ignore[arg-type]
