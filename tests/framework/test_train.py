from typing import Iterator, List

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from tests.framework._recording import (
    RecordingCallback,
    RecordingUnit,
    both,
    epoch_open,
    exhausted,
    steps,
)
from torchtnt.framework._test_utils import DummyTrainUnit, generate_random_dataloader
from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks.lambda_callback import Lambda
from torchtnt.framework.state import State
from torchtnt.framework.train import _train_impl, train
from torchtnt.framework.unit import TrainUnit
from torchtnt.utils.progress import Progress
from torchtnt.utils.timer import Timer


def run_train(data, **kwargs):
    log: List[str] = []
    unit = RecordingUnit(
        log, fail_on=kwargs.pop("fail_on", None), stop_on=kwargs.pop("stop_on", None)
    )
    train(unit, data, callbacks=[RecordingCallback(log)], **kwargs)
    return unit, log


def test_hook_sequence_two_epochs() -> None:
    _, log = run_train([0, 1], max_epochs=2)
    epoch = (
        epoch_open("train")
        + steps("train", [0, 1])
        + exhausted("train")
        + both("on_train_epoch_end")
    )
    assert log == both("on_train_start") + epoch + epoch + both("on_train_end")


def test_hook_sequence_max_steps_makes_no_extra_fetch() -> None:
    _, log = run_train([0, 1, 2], max_steps=2)
    expected = (
        both("on_train_start")
        + epoch_open("train")
        + steps("train", [0, 1])
        + both("on_train_epoch_end")
        + both("on_train_end")
    )
    assert log == expected


@pytest.mark.parametrize(
    "num_batches, max_epochs, max_steps, max_steps_per_epoch, epochs, total_steps",
    [
        (3, 2, None, None, 2, 6),
        (3, 5, 5, 2, 3, 5),  # epochs of 2, 2 and 1 steps
        (3, 0, None, None, 0, 0),
        (3, None, 0, None, 0, 0),
        (4, 3, None, 2, 3, 6),
        (4, None, 7, None, 2, 7),
        (4, 2, 3, None, 1, 3),
        (3, 2, None, 10, 2, 6),
        (3, 1, 100, None, 1, 3),
        (5, 4, 9, 3, 3, 9),
    ],
)
def test_step_and_epoch_counts(
    num_batches, max_epochs, max_steps, max_steps_per_epoch, epochs, total_steps
) -> None:
    unit, log = run_train(
        list(range(num_batches)),
        max_epochs=max_epochs,
        max_steps=max_steps,
        max_steps_per_epoch=max_steps_per_epoch,
    )
    assert unit.train_progress.num_epochs_completed == epochs
    assert unit.train_progress.num_steps_completed == total_steps
    assert unit.train_progress.num_steps_completed_in_epoch == 0
    assert log.count("cb.on_train_step_end") == total_steps
    assert log.count("cb.on_train_epoch_end") == epochs
    assert log[:2] == both("on_train_start") and log[-2:] == both("on_train_end")


def test_spec_example_steps_per_epoch() -> None:
    unit, log = run_train([0, 1, 2], max_steps=5, max_steps_per_epoch=2, max_epochs=5)
    batches = [entry for entry in log if entry.startswith("unit.train_step")]
    assert batches == [f"unit.train_step({b})" for b in [0, 1, 0, 1, 0]]
    assert unit.train_progress.num_steps_completed_in_prev_epoch == 1


def test_fetch_hooks_fire_n_plus_one_times() -> None:
    _, log = run_train([0, 1, 2], max_epochs=1)
    assert log.count("cb.on_train_get_next_batch_start") == 4
    assert log.count("cb.on_train_get_next_batch_end") == 3


def test_stop_from_callback_finishes_the_step_and_runs_end_hooks() -> None:
    log: List[str] = []
    unit = RecordingUnit(log)

    def stop_at_two(state: State, unit: TrainUnit) -> None:
        if unit.train_progress.num_steps_completed == 2:
            state.stop()

    train(unit, [0, 1, 2, 3], max_epochs=3, callbacks=[Lambda(on_train_step_end=stop_at_two)])
    assert unit.train_progress.num_steps_completed == 2
    assert unit.train_progress.num_epochs_completed == 1
    assert log == [
        "unit.on_train_start",
        "unit.on_train_epoch_start",
        "unit.train_step(0)",
        "unit.train_step(1)",
        "unit.on_train_epoch_end",
        "unit.on_train_end",
    ]


def test_stop_from_unit_step() -> None:
    unit, log = run_train([0, 1, 2], max_epochs=2, stop_on=[("train", 1)])
    assert unit.train_progress.num_steps_completed == 2
    assert unit.train_progress.num_epochs_completed == 1
    assert log[-4:] == both("on_train_epoch_end") + both("on_train_end")


def test_stop_in_on_train_start_runs_no_epoch() -> None:
    log: List[str] = []
    unit = RecordingUnit(log)
    train(
        unit,
        [0, 1],
        max_epochs=2,
        callbacks=[Lambda(on_train_start=lambda state, unit: state.stop()), RecordingCallback(log)],
    )
    assert log == both("on_train_start") + both("on_train_end")
    assert unit.train_progress.num_epochs_completed == 0


def test_exception_fires_unit_then_callbacks_and_propagates() -> None:
    log: List[str] = []
    unit = RecordingUnit(log, fail_on=[("train", 1)])
    seen: List[BaseException] = []
    callbacks = [
        RecordingCallback(log),
        Lambda(on_exception=lambda state, unit, exc: seen.append(exc)),
    ]
    with pytest.raises(RuntimeError, match="train step failed on 1") as info:
        train(unit, [0, 1, 2], max_epochs=1, callbacks=callbacks)
    assert log[-3:] == ["unit.train_step(1)", "unit.on_exception", "cb.on_exception"]
    assert seen == [info.value]
    assert "cb.on_train_end" not in log
    assert unit.module.training is True  # mode restored even though the run failed


def test_step_output_visible_only_in_step_end() -> None:
    seen = []

    def record(name):
        return lambda state, unit: seen.append((name, state.train_state.step_output))

    unit = RecordingUnit([])
    train(
        unit,
        [7],
        max_epochs=1,
        callbacks=[Lambda(on_train_step_start=record("start"), on_train_step_end=record("end"))],
    )
    assert seen == [("start", None), ("end", "train:7")]


def test_progress_is_counted_before_step_end_and_epoch_end() -> None:
    seen = []
    train(
        RecordingUnit([]),
        [0, 1],
        max_epochs=1,
        callbacks=[
            Lambda(
                on_train_step_end=lambda s, u: seen.append(("step", u.train_progress.state_dict())),
                on_train_epoch_end=lambda s, u: seen.append(
                    (
                        "epoch",
                        u.train_progress.state_dict(),
                        u.train_progress.num_steps_completed_in_prev_epoch,
                    )
                ),
            )
        ],
    )
    assert seen == [
        (
            "step",
            {
                "num_epochs_completed": 0,
                "num_steps_completed": 1,
                "num_steps_completed_in_epoch": 1,
            },
        ),
        (
            "step",
            {
                "num_epochs_completed": 0,
                "num_steps_completed": 2,
                "num_steps_completed_in_epoch": 2,
            },
        ),
        (
            "epoch",
            {
                "num_epochs_completed": 1,
                "num_steps_completed": 2,
                "num_steps_completed_in_epoch": 0,
            },
            2,
        ),
    ]


class CountingIterable:
    """Re-iterable, without ``__len__``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.iter_calls = 0

    def __iter__(self) -> Iterator[int]:
        self.iter_calls += 1
        return iter(range(self.n))


def test_iterable_without_len_is_reiterated_each_epoch() -> None:
    data = CountingIterable(3)
    unit, _ = run_train(data, max_epochs=2)
    assert not hasattr(data, "__len__")
    assert data.iter_calls == 2
    assert unit.train_progress.num_steps_completed == 6


def test_generator_is_consumed_once(caplog: pytest.LogCaptureFixture) -> None:
    unit, _ = run_train((i for i in range(3)), max_epochs=2)
    assert unit.train_progress.num_steps_completed == 3
    assert unit.train_progress.num_epochs_completed == 2
    assert "No steps completed during train epoch!" in caplog.text


def test_empty_dataloader_runs_epochs_without_steps() -> None:
    unit, log = run_train([], max_epochs=2)
    epoch = epoch_open("train") + exhausted("train") + both("on_train_epoch_end")
    assert log == both("on_train_start") + epoch + epoch + both("on_train_end")
    assert unit.train_progress.num_steps_completed == 0


def test_no_limits_runs_until_stop() -> None:
    def stop_after_seven(state, unit):
        if unit.train_progress.num_steps_completed == 7:
            state.stop()

    unit = RecordingUnit([])
    train(unit, [0, 1, 2], callbacks=[Lambda(on_train_step_end=stop_after_seven)])
    assert unit.train_progress.num_steps_completed == 7
    assert unit.train_progress.num_epochs_completed == 3


def test_sampler_set_epoch_receives_epoch_number() -> None:
    dataset = TensorDataset(torch.arange(4.0))
    sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=0)
    epochs_seen = []
    original = sampler.set_epoch
    sampler.set_epoch = lambda epoch: (epochs_seen.append(epoch), original(epoch))  # type: ignore[method-assign]
    unit = RecordingUnit([])
    unit.train_step = lambda state, data: None  # type: ignore[method-assign]
    train(unit, DataLoader(dataset, sampler=sampler, batch_size=2), max_epochs=3)
    assert epochs_seen == [0, 1, 2]


def test_module_modes_set_and_restored() -> None:
    unit = RecordingUnit([])
    unit.module.eval()
    train(unit, [0, 1], max_epochs=1)
    assert unit.training_flags == [True, True]
    assert unit.module.training is False


def test_grad_is_enabled_even_under_no_grad() -> None:
    unit = RecordingUnit([])
    with torch.no_grad():
        train(unit, [0], max_epochs=1)
    assert unit.grad_enabled == [True]


def test_iteration_timer_records_wait_then_iteration() -> None:
    seen = []

    def on_step_end(state, unit):
        timer = state.train_state.iteration_timer
        seen.append(
            (
                len(timer.recorded_durations["data_wait_time"]),
                len(timer.recorded_durations["train_iteration_time"]),
            )
        )

    train(
        RecordingUnit([]),
        [0, 1, 2],
        max_epochs=1,
        callbacks=[Lambda(on_train_step_end=on_step_end)],
    )
    assert seen == [(1, 0), (2, 1), (3, 2)]


def test_timer_records_named_regions() -> None:
    timer = Timer()
    train(RecordingUnit([]), [0, 1, 2], max_epochs=2, timer=timer)
    assert len(timer.recorded_durations["train.iter(dataloader)"]) == 2
    # the fetch that raised StopIteration is not recorded
    assert len(timer.recorded_durations["train.next(data_iter)"]) == 6


def test_resume_mid_epoch_skips_epoch_start_and_counts_restored_steps() -> None:
    log: List[str] = []
    unit = RecordingUnit(log)
    unit.train_progress.load_state_dict(
        {"num_epochs_completed": 1, "num_steps_completed": 5, "num_steps_completed_in_epoch": 2}
    )
    train(
        unit,
        [10, 11, 12, 13],
        max_epochs=2,
        max_steps_per_epoch=3,
        callbacks=[RecordingCallback(log)],
    )
    assert log == (
        both("on_train_start")
        + epoch_open("train", fresh=False)
        + steps("train", [10])
        + both("on_train_epoch_end")
        + both("on_train_end")
    )
    assert unit.train_progress.state_dict() == {
        "num_epochs_completed": 2,
        "num_steps_completed": 6,
        "num_steps_completed_in_epoch": 0,
    }


class IteratorStepUnit(TrainUnit[Iterator[int]]):
    def __init__(self) -> None:
        super().__init__()
        self.pairs: List[List[int]] = []

    def train_step(self, state: State, data: Iterator[int]) -> None:
        self.pairs.append([next(data), next(data)])


def test_step_that_takes_the_iterator() -> None:
    unit = IteratorStepUnit()
    assert unit._train_step_requires_iterator is True
    train(unit, [0, 1, 2, 3, 4], max_epochs=1)
    assert unit.pairs == [[0, 1], [2, 3]]
    assert unit.train_progress.num_steps_completed == 2


def test_stop_iteration_from_step_ends_epoch() -> None:
    unit = IteratorStepUnit()
    train(unit, [0, 1, 2], max_epochs=2)
    assert unit.pairs == [[0, 1], [0, 1]]
    assert unit.train_progress.num_steps_completed == 2
    assert unit.train_progress.num_epochs_completed == 2


def test_dummy_unit_learns() -> None:
    torch.manual_seed(0)
    unit = DummyTrainUnit(input_dim=4)
    before = unit.module.weight.detach().clone()
    train(unit, generate_random_dataloader(16, 4, 4), max_epochs=2)
    assert unit.train_progress.num_steps_completed == 8
    assert not torch.equal(before, unit.module.weight)


def test_train_impl_is_usable_directly() -> None:
    from torchtnt.framework._callback_handler import CallbackHandler
    from torchtnt.framework.state import EntryPoint, PhaseState

    unit = RecordingUnit([])
    state = State(
        entry_point=EntryPoint.TRAIN, train_state=PhaseState(dataloader=[0, 1], max_epochs=1)
    )
    _train_impl(state, unit, CallbackHandler([]))
    assert unit.train_progress.num_steps_completed == 2


# --- bad input: each fails before any hook runs -------------------------------------------


class NotAUnit:
    pass


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"max_epochs": -1},
            ValueError,
            "Invalid value provided for max_epochs. Expected a non-negative integer or None, but received -1.",
        ),
        (
            {"max_steps": -3},
            ValueError,
            "max_steps. Expected a non-negative integer or None, but received -3",
        ),
        ({"max_steps_per_epoch": -2}, ValueError, "max_steps_per_epoch"),
        (
            {"max_epochs": 1.5},
            TypeError,
            "max_epochs=1.5 is invalid: expected a non-negative int or None",
        ),
        ({"max_steps": "10"}, TypeError, "max_steps='10' is invalid"),
        (
            {"callbacks": [Callback, object()]},
            TypeError,
            r"callbacks\[0\]=<class Callback> is invalid: expected an instance of",
        ),
        ({"callbacks": [RecordingCallback([]), 3]}, TypeError, r"callbacks\[1\]=3 is invalid"),
        (
            {"callbacks": RecordingCallback([])},
            TypeError,
            "callbacks=.* is invalid: expected a list",
        ),
        ({"timer": "fast"}, TypeError, "timer='fast' is invalid: expected None or a timer"),
    ],
)
def test_bad_arguments_fail_before_any_hook(kwargs, error, message) -> None:
    log: List[str] = []
    with pytest.raises(error, match=message):
        train(RecordingUnit(log), [0, 1], **{"max_epochs": 1, **kwargs})
    assert log == []


def test_unit_that_is_not_a_train_unit() -> None:
    with pytest.raises(
        TypeError, match="train_unit=.*NotAUnit.* is invalid: expected an instance of TrainUnit"
    ):
        train(NotAUnit(), [0], max_epochs=1)  # type: ignore[arg-type]


def test_unit_whose_init_skipped_super_init_fails_at_the_door() -> None:
    class Config:
        def __init__(self) -> None:  # no super().__init__(): TrainUnit's never runs
            self.hparams = {"lr": 0.1}

    class Forgetful(Config, TrainUnit[int]):
        def train_step(self, state: State, data: int) -> None:
            raise AssertionError("no step may run")

    log: List[str] = []
    with pytest.raises(
        TypeError,
        match=r"train_unit=.*Forgetful.* was not initialized as a TrainUnit: every __init__ in "
        r"its class hierarchy must call super\(\).__init__\(\)",
    ):
        train(Forgetful(), [0], max_epochs=1, callbacks=[RecordingCallback(log)])
    assert log == []


def test_dataloader_that_is_not_iterable() -> None:
    log: List[str] = []
    with pytest.raises(
        TypeError, match="train_dataloader=5 is invalid: expected an iterable of batches"
    ):
        train(RecordingUnit(log), 5, max_epochs=1)  # type: ignore[arg-type]
    assert log == []


def test_unbounded_training_warns(caplog: pytest.LogCaptureFixture) -> None:
    train(RecordingUnit([]), [0], callbacks=[Lambda(on_train_step_end=lambda s, u: s.stop())])
    assert "max_epochs and max_steps are both None" in caplog.text


def test_lambda_rejects_wrong_arity_at_construction() -> None:
    with pytest.raises(
        TypeError, match=r"on_train_step_end=.* must accept 2 positional arguments \(state, unit\)"
    ):
        Lambda(on_train_step_end=lambda state: None)
    with pytest.raises(TypeError, match=r"on_exception=.* must accept 3 positional arguments"):
        Lambda(on_exception=lambda state, unit: None)


def test_progress_type_is_tracked() -> None:
    unit = RecordingUnit([])
    assert isinstance(unit.tracked_progress()["train_progress"], Progress)


def test_resuming_mid_epoch_recreates_the_iterator_without_advancing_the_rng() -> None:
    from torch.utils.data import DataLoader

    draws = []
    unit = RecordingUnit([])
    unit.train_step = lambda state, data: draws.append(torch.rand(1).item())  # type: ignore[method-assign]
    unit.train_progress.load_state_dict(
        {"num_epochs_completed": 0, "num_steps_completed": 1, "num_steps_completed_in_epoch": 1}
    )
    loader = DataLoader(list(range(4)), shuffle=False)  # iter() draws a base seed from torch
    torch.manual_seed(7)
    train(unit, loader, max_steps=2)
    torch.manual_seed(7)
    expected = torch.rand(1).item()
    assert draws == [expected]


def test_train_emits_events_around_the_logged_callback_hooks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from torchtnt.utils import event_handlers
    from torchtnt.utils.event import Event

    events: List[Event] = []

    class Recorder:
        def handle_event(self, event: Event) -> None:
            events.append(event)

    monkeypatch.setattr(event_handlers, "get_event_handlers", lambda: [Recorder()])
    train(DummyTrainUnit(2), generate_random_dataloader(4, 2, 2), max_epochs=2)
    seen = [(e.name, e.metadata["action"]) for e in events]
    assert seen == [
        ("on_train_start", "start"),
        ("on_train_start", "end"),
        ("on_train_epoch_end", "start"),
        ("on_train_epoch_end", "end"),
        ("on_train_epoch_end", "start"),
        ("on_train_epoch_end", "end"),
        ("on_train_end", "start"),
        ("on_train_end", "end"),
    ]
    assert all(e.metadata["category"] == "callback_handler" for e in events)
    # each start/end pair shares one id, distinct from the other pairs
    ids = [e.metadata["unique_id"] for e in events]
    assert ids[0::2] == ids[1::2] and len(set(ids)) == 4


def test_numpy_integer_limits_are_accepted() -> None:
    import numpy as np

    unit = DummyTrainUnit(2)
    train(unit, generate_random_dataloader(10, 2, 2), max_epochs=np.int64(3), max_steps=np.int32(7))
    assert unit.train_progress.num_steps_completed == 7
    assert unit.train_progress.num_epochs_completed == 2


def test_progress_replaced_in_on_train_start_is_the_one_counted() -> None:
    class ResetProgress(Callback):
        def on_train_start(self, state: State, unit: TrainUnit) -> None:
            unit.train_progress = Progress()

    unit = DummyTrainUnit(2)
    train(unit, generate_random_dataloader(4, 2, 2), max_epochs=1, callbacks=[ResetProgress()])
    assert unit.train_progress.num_epochs_completed == 1
    assert unit.train_progress.num_steps_completed == 2
