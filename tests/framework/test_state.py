import pytest

from torchtnt.framework.state import (
    ActivePhase,
    EntryPoint,
    PhaseState,
    State,
    _check_loop_condition,
)
from torchtnt.utils.checkpoint import Phase
from torchtnt.utils.timer import BoundedTimer


def test_enum_values_and_strings() -> None:
    assert [e.value for e in EntryPoint] == [1, 2, 3, 4]
    assert [e.name for e in EntryPoint] == ["FIT", "TRAIN", "EVALUATE", "PREDICT"]
    assert [p.value for p in ActivePhase] == [1, 2, 3]
    assert [str(p) for p in ActivePhase] == ["train", "eval", "predict"]


def test_check_loop_condition() -> None:
    _check_loop_condition("max_epochs", None)
    _check_loop_condition("max_epochs", 0)
    with pytest.raises(ValueError) as info:
        _check_loop_condition("max_epochs", -1)
    assert str(info.value) == (
        "Invalid value provided for max_epochs. Expected a non-negative integer or None, "
        "but received -1."
    )


@pytest.mark.parametrize(
    "arg",
    [
        "max_epochs",
        "max_steps",
        "max_steps_per_epoch",
        "evaluate_every_n_steps",
        "evaluate_every_n_epochs",
    ],
)
def test_phase_state_rejects_negative(arg: str) -> None:
    with pytest.raises(ValueError, match=f"for {arg}. Expected"):
        PhaseState(dataloader=[], **{arg: -1})


def test_phase_state_properties_and_setters() -> None:
    ps = PhaseState(
        dataloader=[1, 2],
        max_epochs=3,
        max_steps=4,
        max_steps_per_epoch=5,
        evaluate_every_n_steps=6,
    )
    assert (ps.dataloader, ps.max_epochs, ps.max_steps, ps.max_steps_per_epoch) == ([1, 2], 3, 4, 5)
    assert ps.evaluate_every_n_steps == 6 and ps.evaluate_every_n_epochs is None
    assert ps.step_output is None
    ps.evaluate_every_n_epochs = 2
    assert ps.evaluate_every_n_epochs == 2
    with pytest.raises(ValueError, match="evaluate_every_n_steps"):
        ps.evaluate_every_n_steps = -4
    with pytest.raises(AttributeError):
        ps.max_epochs = 3  # type: ignore[misc]
    timer = ps.iteration_timer
    assert isinstance(timer, BoundedTimer)
    assert (timer.lower_bound, timer.upper_bound) == (1_000, 5_000)


def test_state_defaults_stop_and_active_phase_state(caplog: pytest.LogCaptureFixture) -> None:
    train_state = PhaseState(dataloader=[1])
    state = State(entry_point=EntryPoint.TRAIN, train_state=train_state)
    assert state.active_phase == ActivePhase.TRAIN
    assert state.should_stop is False
    assert state.timer is None and state.eval_state is None and state.predict_state is None
    assert state.active_phase_state() is train_state
    state.stop()
    assert state.should_stop is True
    assert "stop" in caplog.text.lower()
    state._active_phase = ActivePhase.EVALUATE
    with pytest.raises(AssertionError):
        state.active_phase_state()


def test_into_phase() -> None:
    assert [p.into_phase() for p in ActivePhase] == [Phase.TRAIN, Phase.EVALUATE, Phase.PREDICT]
    assert [str(p) for p in Phase] == ["none", "train", "evaluate", "predict"]
