"""Stop training once a time budget is spent or a wall-clock deadline has passed."""

import datetime as _dt
import logging
import re
import time
from datetime import datetime, timedelta
from typing import Literal, Optional, Union

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import check_int
from torchtnt.framework.state import State
from torchtnt.framework.unit import TTrainUnit
from torchtnt.utils.distributed import get_global_rank, sync_bool
from torchtnt.utils.rank_zero_log import rank_zero_info

__all__ = ["TimeLimitInterrupter"]

logger: logging.Logger = logging.getLogger(__name__)

_DURATION_PATTERN = re.compile(r"^\d{2}:(0[0-9]|1[0-9]|2[0-3]):([0-5][0-9])$")
_INTERVALS = ("epoch", "step")


def _parse_duration(duration: Union[str, timedelta]) -> float:
    """Return ``duration`` in seconds; a string is read as ``"DD:HH:MM"``."""
    if isinstance(duration, str):
        if not _DURATION_PATTERN.match(duration):
            raise ValueError(
                f"duration={duration!r} is invalid: expected a 'DD:HH:MM' string with hours "
                "00-23 and minutes 00-59 (e.g. '01:12:30'), or a timedelta"
            )
        days, hours, minutes = (int(part) for part in duration.split(":"))
        duration = timedelta(days=days, hours=hours, minutes=minutes)
    elif not isinstance(duration, _dt.timedelta):
        raise TypeError(
            f"duration={duration!r} is invalid: expected a 'DD:HH:MM' string or a timedelta"
        )
    seconds = duration.total_seconds()
    if seconds <= 0:
        raise ValueError(
            f"duration={duration!r} is invalid: expected a positive time span (a negative "
            "or zero limit would stop training before its first step)"
        )
    return seconds


def _check_timestamp(timestamp: datetime) -> datetime:
    # The class from the module itself: tests may replace this module's ``datetime`` name.
    if not isinstance(timestamp, _dt.datetime):
        raise TypeError(f"timestamp={timestamp!r} is invalid: expected a datetime")
    if timestamp.tzinfo is None or timestamp.tzinfo.utcoffset(timestamp) is None:
        raise ValueError(
            f"timestamp={timestamp!r} is invalid: it has no timezone; pass an aware datetime, "
            "e.g. datetime(..., tzinfo=timezone.utc) or datetime.now().astimezone()"
        )
    return timestamp


class TimeLimitInterrupter(Callback):
    """Stop training after ``duration`` has elapsed or once ``timestamp`` has passed.

    Time is counted from ``on_train_start`` with a monotonic clock. Every
    ``interval_freq``-th train step or epoch (``interval``), rank 0 compares the clock with
    the limits and broadcasts its verdict; once a limit is reached, ``state.stop()`` is
    called and the run ends after the current step or epoch (so a run may overshoot the
    limit by up to one interval).

    Note: the check is collective; every rank must run this callback.

    Args:
        duration: maximum training time, as a ``"DD:HH:MM"`` string (days, hours 00-23,
            minutes 00-59) or a timedelta.
        timestamp: a timezone-aware deadline.
        interval: ``"epoch"`` or ``"step"``, when to check.
        interval_freq: check every this many epochs or steps.

    Raises:
        ValueError: if neither ``duration`` nor ``timestamp`` is given, the duration string
            is malformed, the duration is zero or negative, the timestamp has no timezone,
            ``interval`` is unknown or ``interval_freq < 1``.
        TypeError: if ``duration``, ``timestamp`` or ``interval_freq`` has the wrong type.
    """

    def __init__(
        self,
        duration: Optional[Union[str, timedelta]] = None,
        timestamp: Optional[datetime] = None,
        interval: Literal["epoch", "step"] = "epoch",
        interval_freq: int = 1,
    ) -> None:
        if duration is None and timestamp is None:
            raise ValueError(
                "TimeLimitInterrupter needs a limit: pass duration (a 'DD:HH:MM' string or a "
                "timedelta), timestamp (an aware datetime), or both"
            )
        if interval not in _INTERVALS:
            raise ValueError(
                f"interval={interval!r} is invalid: expected one of {list(_INTERVALS)}"
            )
        check_int("interval_freq", interval_freq, 1)
        self._duration: Optional[float] = None if duration is None else _parse_duration(duration)
        self._timestamp: Optional[datetime] = (
            None if timestamp is None else _check_timestamp(timestamp)
        )
        self._interval = interval
        self._interval_freq = interval_freq
        self._rank: int = get_global_rank()
        self._start_time: Optional[float] = None

    def on_train_start(self, state: State, unit: TTrainUnit) -> None:
        """Start the clock (on rank 0, the only rank that reads it)."""
        self._rank = get_global_rank()
        if self._rank == 0:
            self._start_time = time.monotonic()

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Check the limits on every ``interval_freq``-th step (interval ``"step"``)."""
        if (
            self._interval == "step"
            and unit.train_progress.num_steps_completed % self._interval_freq == 0
        ):
            self._should_stop(state)

    def on_train_epoch_end(self, state: State, unit: TTrainUnit) -> None:
        """Check the limits on every ``interval_freq``-th epoch (interval ``"epoch"``)."""
        if (
            self._interval == "epoch"
            and unit.train_progress.num_epochs_completed % self._interval_freq == 0
        ):
            self._should_stop(state)

    def _should_stop(self, state: State) -> None:
        """Let rank 0 decide whether a limit is reached and stop the run on every rank.

        Note: collective, every rank must call it.
        """
        reason = self._limit_reached() if self._rank == 0 else None
        if sync_bool(reason is not None, coherence_mode="rank_zero"):
            rank_zero_info(f"TimeLimitInterrupter: {reason}; stopping training.", logger=logger)
            state.stop()

    def _limit_reached(self) -> Optional[str]:
        """Describe the limit that is reached, or return None if none is."""
        if self._timestamp is not None:
            now = datetime.now().astimezone()
            if now >= self._timestamp:
                return (
                    f"the deadline {self._timestamp.isoformat()} has passed (now {now.isoformat()})"
                )
        if self._duration is not None and self._start_time is not None:
            elapsed = time.monotonic() - self._start_time
            if elapsed >= self._duration:
                return (
                    f"training has run for {elapsed:.1f} s, reaching the limit of "
                    f"{self._duration:.1f} s"
                )
        return None
