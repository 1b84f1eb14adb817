from unittest.mock import patch

from torchtnt.framework._test_utils import get_dummy_train_state
from torchtnt.framework.state import EntryPoint, State
from torchtnt.framework.utils import get_timing_context
from torchtnt.utils.timer import Timer


def test_timing_context_records_and_labels() -> None:
    state = State(entry_point=EntryPoint.TRAIN, timer=Timer())
    with patch("torchtnt.framework.utils.record_function") as record_function:
        with get_timing_context(state, "a"):
            pass
        with get_timing_context(state, "b"):
            pass
    assert [c.args[0] for c in record_function.call_args_list] == ["a", "b"]
    assert list(state.timer.recorded_durations) == ["a", "b"]


def test_timing_context_without_timer_still_labels() -> None:
    state = get_dummy_train_state()
    with patch("torchtnt.framework.utils.record_function") as record_function:
        with get_timing_context(state, "c") as (timer_ctx, profiler_ctx):
            pass
    record_function.assert_called_once_with("c")
    assert profiler_ctx is record_function.return_value
