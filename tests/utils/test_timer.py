import logging
import os
import re
import time
from datetime import timedelta
from typing import Any, Dict, List, Tuple

import pytest
import torch
import torch.distributed as dist

from torchtnt.utils import timer as tnt_timer
from torchtnt.utils.distributed import spawn_multi_process
from torchtnt.utils.timer import (
    AggregatedTimer,
    BoundedTimer,
    FullSyncPeriodicTimer,
    TimedActionStats,
    Timer,
    TimerProtocol,
    TimerReport,
    get_durations_histogram,
    get_recorded_durations_table,
    get_synced_durations_histogram,
    get_synced_timer_histogram,
    get_timer_summary,
    log_elapsed_time,
)

_LOGGER_NAME = "torchtnt.utils.timer"
_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")


def _timed_messages(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == _LOGGER_NAME]


def _durations_from_verbose_log(caplog: pytest.LogCaptureFixture, name: str) -> List[float]:
    """Read back each duration a verbose timer logged for ``name``, in order."""
    pattern = re.compile(rf"^{re.escape(name)} took (\S+) seconds\.$")
    return [float(m.group(1)) for msg in _timed_messages(caplog) if (m := pattern.match(msg))]


def _filled_timer(durations: Dict[str, List[float]]) -> Timer:
    timer = Timer()
    for name, values in durations.items():
        timer.recorded_durations[name] = list(values)
    return timer


# --------------------------------------------------------------------------------------
# Timer
# --------------------------------------------------------------------------------------


def test_module_logger() -> None:
    assert isinstance(tnt_timer.logger, logging.Logger)
    assert tnt_timer.logger.name == _LOGGER_NAME


def test_timer_records_each_successful_block() -> None:
    timer = Timer()
    assert timer.recorded_durations == {}
    for _ in range(3):
        with timer.time("a"):
            time.sleep(0.002)
    with timer.time("b"):
        pass
    assert sorted(timer.recorded_durations) == ["a", "b"]
    assert len(timer.recorded_durations["a"]) == 3
    assert all(d >= 0.002 for d in timer.recorded_durations["a"])
    assert len(timer.recorded_durations["b"]) == 1
    assert timer.recorded_durations["b"][0] >= 0.0


def test_timer_nested_blocks_are_recorded_separately() -> None:
    timer = Timer()
    with timer.time("outer"):
        with timer.time("inner"):
            time.sleep(0.002)
    (outer,), (inner,) = timer.recorded_durations["outer"], timer.recorded_durations["inner"]
    assert outer >= inner >= 0.002


def test_timer_does_not_record_a_block_that_raises() -> None:
    timer = Timer()
    with timer.time("ok"):
        pass
    with pytest.raises(RuntimeError, match="boom"):
        with timer.time("failing"):
            raise RuntimeError("boom")
    with pytest.raises(KeyError):
        with timer.time("ok"):
            raise KeyError("again")
    assert timer.recorded_durations.get("failing", []) == []
    assert len(timer.recorded_durations["ok"]) == 1


def test_timer_recorded_durations_is_a_defaultdict_and_reset_empties_it() -> None:
    timer = Timer()
    assert timer.recorded_durations["never"] == []
    with timer.time("a"):
        pass
    timer.reset()
    assert timer.recorded_durations == {}
    assert timer.recorded_durations["x"] == []


def test_timer_verbose_logs_each_duration(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=_LOGGER_NAME)
    timer = Timer(verbose=True)
    with timer.time("step"):
        pass
    with timer.time("step"):
        pass
    (first, second) = timer.recorded_durations["step"]
    assert _timed_messages(caplog) == [
        f"step took {first} seconds.",
        f"step took {second} seconds.",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == _LOGGER_NAME)


def test_timer_not_verbose_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=_LOGGER_NAME)
    timer = Timer()
    with timer.time("step"):
        pass
    assert _timed_messages(caplog) == []


@_no_cuda
def test_timer_cuda_sync_without_cuda_raises() -> None:
    with pytest.raises(ValueError):
        Timer(cuda_sync=True)
    # None and False are accepted on CPU
    Timer(cuda_sync=None)
    Timer(cuda_sync=False)


def test_timers_satisfy_timer_protocol() -> None:
    assert isinstance(Timer(), TimerProtocol)
    assert isinstance(AggregatedTimer(), TimerProtocol)
    assert isinstance(BoundedTimer(lower_bound=1, upper_bound=2), TimerProtocol)
    assert not isinstance(object(), TimerProtocol)


# --------------------------------------------------------------------------------------
# AggregatedTimer
# --------------------------------------------------------------------------------------


def test_aggregated_timer_keeps_totals_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=_LOGGER_NAME)
    timer = AggregatedTimer(verbose=True)
    for _ in range(3):
        with timer.time("a"):
            time.sleep(0.001)
        assert all(len(v) == 0 for v in timer.recorded_durations.values())
    with timer.time("b"):
        pass
    with pytest.raises(ValueError):
        with timer.time("b"):
            raise ValueError("not counted")

    a_durations = _durations_from_verbose_log(caplog, "a")
    b_durations = _durations_from_verbose_log(caplog, "b")
    assert len(a_durations) == 3 and len(b_durations) == 1

    report = timer._make_report()
    assert isinstance(report, TimerReport)
    assert report.total_calls == 4
    assert report.total_duration == pytest.approx(sum(a_durations) + sum(b_durations))
    by_name = {s.action_name: s for s in report.timed_action_stats}
    assert by_name["a"].num_calls == 3
    assert by_name["a"].total_duration == pytest.approx(sum(a_durations))
    assert by_name["a"].mean_duration == pytest.approx(sum(a_durations) / 3)
    assert by_name["b"].num_calls == 1
    assert by_name["b"].total_duration == pytest.approx(b_durations[0])
    assert sum(s.percentage_of_total_time for s in report.timed_action_stats) == pytest.approx(100)
    assert [s.action_name for s in report.timed_action_stats][0] == "a"

    summary = get_timer_summary(timer)
    assert summary.startswith("Timer Report" + os.linesep)
    assert "| a " in summary and "| b " in summary

    timer.reset()
    assert timer._make_report().timed_action_stats == []
    assert get_timer_summary(timer) == "Timer Report" + os.linesep


# --------------------------------------------------------------------------------------
# BoundedTimer
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lower", "upper"), [(0, 2), (-1, 3), (3, 3), (4, 2)])
def test_bounded_timer_rejects_bad_bounds(lower: int, upper: int) -> None:
    with pytest.raises(ValueError, match=r"expected 0 < lower_bound < upper_bound"):
        BoundedTimer(lower_bound=lower, upper_bound=upper)
    with pytest.raises(AssertionError):  # what TorchTNT raised
        BoundedTimer(lower_bound=lower, upper_bound=upper)


def test_bounded_timer_trims_at_upper_bound(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=_LOGGER_NAME)
    timer = BoundedTimer(lower_bound=2, upper_bound=4, verbose=True)
    assert timer.verbose is True
    lengths = []
    for _ in range(7):
        with timer.time("a"):
            pass
        lengths.append(len(timer.recorded_durations["a"]))
    # 4 samples reach the upper bound and are cut to the latest 2; again at the 6th timing
    assert lengths == [1, 2, 3, 2, 3, 2, 3]
    logged = _durations_from_verbose_log(caplog, "a")
    assert timer.recorded_durations["a"] == logged[-3:]


def test_bounded_timer_trims_each_action_independently() -> None:
    timer = BoundedTimer(lower_bound=1, upper_bound=3)
    for _ in range(3):
        with timer.time("a"):
            pass
    with timer.time("b"):
        pass
    with timer.time("b"):
        pass
    with pytest.raises(RuntimeError):
        with timer.time("b"):
            raise RuntimeError
    assert len(timer.recorded_durations["a"]) == 1
    assert len(timer.recorded_durations["b"]) == 2


# --------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------


def test_timed_action_stats_order_by_percentage() -> None:
    low = TimedActionStats("low", percentage_of_total_time=10.0)
    mid = TimedActionStats("mid", mean_duration=9.0, percentage_of_total_time=30.0)
    high = TimedActionStats("high", num_calls=1, percentage_of_total_time=60.0)
    assert low < mid < high
    assert high >= mid and high > low and low <= mid
    assert [s.action_name for s in sorted([mid, high, low])] == ["low", "mid", "high"]
    assert TimedActionStats("x") == TimedActionStats(
        "x", mean_duration=0.0, num_calls=0, total_duration=0.0, percentage_of_total_time=0.0
    )


def test_timer_make_report_exact_values() -> None:
    timer = _filled_timer({"a": [1.0, 2.0, 3.0], "b": [4.0], "c": [0.5, 0.5]})
    report = timer._make_report()
    assert report.total_calls == 6
    assert report.total_duration == pytest.approx(11.0)
    assert [
        (s.action_name, s.mean_duration, s.num_calls, s.total_duration)
        for s in report.timed_action_stats
    ] == [("a", 2.0, 3, 6.0), ("b", 4.0, 1, 4.0), ("c", 0.5, 2, 1.0)]
    assert [s.percentage_of_total_time for s in report.timed_action_stats] == pytest.approx(
        [600 / 11, 400 / 11, 100 / 11]
    )


def _table_rows(summary: str) -> List[List[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in summary.split(os.linesep)
        if line.lstrip().startswith("|")
    ]


def _number(cell: str) -> float:
    return float(cell.replace("%", "").strip())


def test_get_timer_summary_empty_timer() -> None:
    assert get_timer_summary(Timer()) == "Timer Report" + os.linesep


def test_get_timer_summary_table() -> None:
    # insertion order differs from the order by share of time
    timer = _filled_timer({"small": [0.5, 0.5], "big": [1.0, 2.0, 3.0], "medium": [4.0]})
    summary = get_timer_summary(timer)
    assert summary.split(os.linesep)[0] == "Timer Report"

    header, total, *actions = _table_rows(summary)
    assert header == ["Action", "Mean duration (s)", "Num calls", "Total time (s)", "Percentage %"]
    assert total[0] == "Total"
    assert int(total[2]) == 6
    assert _number(total[3]) == pytest.approx(11.0)
    assert _number(total[4]) == pytest.approx(100.0)

    assert [row[0] for row in actions] == ["big", "medium", "small"]
    expected = {
        "big": (2.0, 3, 6.0, 600 / 11),
        "medium": (4.0, 1, 4.0, 400 / 11),
        "small": (0.5, 2, 1.0, 100 / 11),
    }
    for name, mean, calls, total_time, percentage in actions:
        exp_mean, exp_calls, exp_total, exp_percentage = expected[name]
        assert _number(mean) == pytest.approx(exp_mean, abs=1e-4)
        assert int(calls) == exp_calls
        assert _number(total_time) == pytest.approx(exp_total, abs=1e-4)
        assert _number(percentage) == pytest.approx(exp_percentage, abs=1e-3)


def test_get_durations_histogram_exact_lower_percentiles() -> None:
    durations = {"a": [5.0, 1.0, 4.0, 2.0, 3.0], "b": [10.0, 20.0, 30.0, 40.0]}
    result = get_durations_histogram(durations, [90, 50, 0, 100])
    assert result == {
        "a": {"p0": 1.0, "p50": 3.0, "p90": 4.0, "p100": 5.0, "avg": 3.0},
        "b": {"p0": 10.0, "p50": 20.0, "p90": 30.0, "p100": 40.0, "avg": 25.0},
    }
    # percentiles are reported in ascending order, "avg" last
    assert list(result["a"]) == ["p0", "p50", "p90", "p100", "avg"]


def test_get_durations_histogram_fractional_percentile_key() -> None:
    result = get_durations_histogram({"a": [float(i) for i in range(1, 1001)]}, [99.9])
    # "lower" picks the sample at floor(0.999 * 999) = 998
    assert result == {"a": {"p99.9": 999.0, "avg": 500.5}}


@pytest.mark.parametrize("bad", [-1, -0.001, 100.5, 101])
def test_get_durations_histogram_rejects_out_of_range_percentiles(bad: float) -> None:
    with pytest.raises(ValueError):
        get_durations_histogram({"a": [1.0]}, [50, bad])


@pytest.mark.parametrize("bad", [50, "50", [50, "90"]])
def test_get_durations_histogram_rejects_percentiles_that_are_not_numbers(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"percentiles=.* is invalid: expected a sequence"):
        get_durations_histogram({"a": [1.0]}, bad)


def test_get_recorded_durations_table() -> None:
    assert get_recorded_durations_table({}) == ""
    result = {"op": {"p50": 1.23456, "avg": 2.5}, "other_op": {"p50": 10.0, "avg": 0.0004}}
    assert get_recorded_durations_table(result) == (
        "\n"
        "| Name     |    p50 |   avg |\n"
        "|:---------|-------:|------:|\n"
        "| op       |  1.235 |   2.5 |\n"
        "| other_op | 10     |   0   |"
    )
    assert get_recorded_durations_table({"op": {}}) == "\n| Name   |\n|:-------|\n| op     |"


def test_synced_histograms_without_process_group_match_local() -> None:
    durations = {"a": [3.0, 1.0, 2.0]}
    expected = {"a": {"p50": 2.0, "p99": 2.0, "avg": 2.0}}
    assert get_synced_durations_histogram(durations, [50, 99]) == expected
    assert get_synced_timer_histogram(_filled_timer(durations), [99, 50]) == expected
    with pytest.raises(ValueError):
        get_synced_durations_histogram(durations, [200])


# --------------------------------------------------------------------------------------
# log_elapsed_time
# --------------------------------------------------------------------------------------


def test_log_elapsed_time_logs_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=_LOGGER_NAME)
    with log_elapsed_time("loading data"):
        time.sleep(0.002)
    (record,) = [r for r in caplog.records if r.name == _LOGGER_NAME]
    assert record.levelno == logging.INFO
    match = re.fullmatch(r"loading data took (\S+) seconds", record.getMessage())
    assert match is not None
    assert float(match.group(1)) >= 0.002


@_no_cuda
def test_log_elapsed_time_cuda_sync_without_cuda_raises() -> None:
    with pytest.raises(ValueError):
        with log_elapsed_time("x", cuda_sync=True):
            pass


# --------------------------------------------------------------------------------------
# Two real gloo ranks
# --------------------------------------------------------------------------------------


class _FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _periodic_timer_checks() -> Dict[str, List[bool]]:
    rank = dist.get_rank()
    pg = dist.new_group(backend="gloo")
    results: Dict[str, List[bool]] = {}

    never = FullSyncPeriodicTimer(timedelta(hours=1), pg)
    results["never"] = [never.check() for _ in range(3)]
    never.wait_remaining_work()

    always = FullSyncPeriodicTimer(timedelta(0), pg)
    results["always"] = [always.check() for _ in range(3)]
    always.wait_remaining_work()

    clock = _FakeClock()
    tnt_timer.perf_counter = clock  # each rank has its own clock, moved by hand below
    try:
        # Only rank 1's clock passes the interval: rank 0 decides, so nobody sees it.
        only_rank_one = FullSyncPeriodicTimer(timedelta(seconds=10), pg)
        outcome = [only_rank_one.check()]
        if rank == 1:
            clock.now += 60
        outcome += [only_rank_one.check(), only_rank_one.check()]
        only_rank_one.wait_remaining_work()
        results["only_rank_one"] = outcome

        # Both clocks pass the interval; the answer comes one check late, then the period
        # restarts from the check that returned True.
        periodic = FullSyncPeriodicTimer(timedelta(seconds=10), pg)
        outcome = [periodic.check()]
        clock.now += 9
        outcome.append(periodic.check())  # broadcast from the first check: 0 s elapsed
        clock.now += 2
        outcome.append(periodic.check())  # broadcast from the second: 9 s elapsed
        outcome.append(periodic.check())  # from the third: 11 s elapsed -> True, restart
        clock.now += 5
        outcome.append(periodic.check())  # from the fourth: 0 s since restart
        outcome.append(periodic.check())  # from the fifth: 5 s since restart
        clock.now += 5
        outcome.append(periodic.check())  # from the sixth: 5 s
        outcome.append(periodic.check())  # from the seventh: 10 s -> True
        periodic.wait_remaining_work()
        periodic.wait_remaining_work()  # nothing left in flight: a no-op
        results["periodic"] = outcome

        # Waiting for the broadcast in flight keeps its answer for the next check.
        waited = FullSyncPeriodicTimer(timedelta(seconds=10), pg)
        waited.check()
        clock.now += 11
        waited.check()  # launches the broadcast that says "elapsed"
        waited.wait_remaining_work()
        results["after_wait"] = [waited.check()]
        waited.wait_remaining_work()
    finally:
        tnt_timer.perf_counter = time.perf_counter
    return results


def _synced_histogram_checks() -> Tuple[Dict[str, Dict[str, float]], ...]:
    rank = dist.get_rank()
    if rank == 0:
        durations = {"a": [1.0, 3.0], "only_rank_zero": [7.0]}
    else:
        durations = {"a": [2.0, 4.0, 5.0]}
    pg = dist.new_group(backend="gloo")
    return (
        get_synced_durations_histogram(durations, [90, 50]),
        get_synced_durations_histogram(durations, [50], pg=pg),
        get_synced_timer_histogram(_filled_timer(durations), [50, 90]),
        get_durations_histogram(durations, [50]),
    )


def _two_rank_checks() -> Tuple[Dict[str, List[bool]], Tuple[Dict[str, Dict[str, float]], ...]]:
    # one spawn for both checks keeps the suite fast
    return _periodic_timer_checks(), _synced_histogram_checks()


@pytest.mark.distributed
def test_two_gloo_ranks() -> None:
    results = spawn_multi_process(2, "gloo", _two_rank_checks)

    # FullSyncPeriodicTimer: every rank gets rank 0's answer
    periodic = [r[0] for r in results]
    assert periodic[0] == periodic[1]
    assert periodic[0] == {
        "never": [False, False, False],
        "always": [False, True, True],
        "only_rank_one": [False, False, False],
        "periodic": [False, False, False, True, False, False, False, True],
        "after_wait": [True],
    }

    # get_synced_durations_histogram / get_synced_timer_histogram merge both ranks' samples
    merged = {
        "a": {"p50": 3.0, "p90": 4.0, "avg": 3.0},
        "only_rank_zero": {"p50": 7.0, "p90": 7.0, "avg": 7.0},
    }
    merged_p50 = {name: {"p50": v["p50"], "avg": v["avg"]} for name, v in merged.items()}
    local = [
        {"a": {"p50": 1.0, "avg": 2.0}, "only_rank_zero": {"p50": 7.0, "avg": 7.0}},
        {"a": {"p50": 4.0, "avg": 11.0 / 3}},
    ]
    for rank, (_, (synced, synced_pg, synced_timer, unsynced)) in enumerate(results):
        assert synced == merged
        assert synced_pg == merged_p50
        assert synced_timer == merged
        assert unsynced == local[rank]
