import logging
from typing import Any, Callable, List, Tuple

import pytest

from torchtnt.utils.rank_zero_log import (
    _supports_stacklevel,
    rank_zero_critical,
    rank_zero_debug,
    rank_zero_error,
    rank_zero_info,
    rank_zero_print,
    rank_zero_warn,
)

_MODULE_LOGGER = "torchtnt.utils.rank_zero_log"
_LEVELS: List[Tuple[Callable[..., None], int, str]] = [
    (rank_zero_debug, logging.DEBUG, "debug"),
    (rank_zero_info, logging.INFO, "info"),
    (rank_zero_warn, logging.WARNING, "warning"),
    (rank_zero_error, logging.ERROR, "error"),
    (rank_zero_critical, logging.CRITICAL, "critical"),
]


class _RecordingLogger(logging.Logger):
    """A real logger that also remembers which method was called and with what."""

    def __init__(self) -> None:
        super().__init__("recording")
        self.calls: List[Tuple[str, Tuple[Any, ...], dict]] = []

    def debug(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("debug", args, kwargs))

    def info(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("info", args, kwargs))

    def warning(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("warning", args, kwargs))

    def error(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("error", args, kwargs))

    def critical(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("critical", args, kwargs))


@pytest.fixture
def rank_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RANK", raising=False)


@pytest.fixture
def rank_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # without a process group, the global rank comes from RANK
    monkeypatch.setenv("RANK", "1")


def test_supports_stacklevel() -> None:
    assert _supports_stacklevel() is True


@pytest.mark.usefixtures("rank_zero")
@pytest.mark.parametrize(("fn", "level", "method"), _LEVELS)
def test_logs_on_rank_zero_to_module_logger(
    caplog: pytest.LogCaptureFixture, fn: Callable[..., None], level: int, method: str
) -> None:
    caplog.set_level(logging.DEBUG, logger=_MODULE_LOGGER)
    fn("value is %d", 3)
    (record,) = caplog.records
    assert record.name == _MODULE_LOGGER
    assert record.levelno == level
    assert record.getMessage() == "value is 3"
    # stacklevel makes the record point at the caller, not at rank_zero_log.py
    assert record.pathname == __file__
    assert record.funcName == "test_logs_on_rank_zero_to_module_logger"


@pytest.mark.usefixtures("rank_zero")
@pytest.mark.parametrize(("fn", "level", "method"), _LEVELS)
def test_logs_to_given_logger(
    caplog: pytest.LogCaptureFixture, fn: Callable[..., None], level: int, method: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="tests.custom")
    fn("hello", logger=logging.getLogger("tests.custom"), extra={"tag": "x"})
    (record,) = caplog.records
    assert (record.name, record.levelno, record.getMessage()) == ("tests.custom", level, "hello")
    assert record.tag == "x"
    assert record.funcName == "test_logs_to_given_logger"


@pytest.mark.usefixtures("rank_zero")
@pytest.mark.parametrize(("fn", "level", "method"), _LEVELS)
def test_calls_logger_method_with_stacklevel_two(
    fn: Callable[..., None], level: int, method: str
) -> None:
    logger = _RecordingLogger()
    fn("msg", 1, logger=logger, exc_info=False)
    assert logger.calls == [(method, ("msg", 1), {"exc_info": False, "stacklevel": 2})]


@pytest.mark.usefixtures("rank_one")
@pytest.mark.parametrize(("fn", "level", "method"), _LEVELS)
def test_silent_on_non_zero_rank(
    caplog: pytest.LogCaptureFixture, fn: Callable[..., None], level: int, method: str
) -> None:
    caplog.set_level(logging.DEBUG)
    recording = _RecordingLogger()
    fn("hidden")
    fn("hidden", logger=logging.getLogger("tests.custom"))
    fn("hidden", logger=recording)
    assert caplog.records == []
    assert recording.calls == []


@pytest.mark.usefixtures("rank_zero")
def test_rank_zero_print_on_rank_zero(capsys: pytest.CaptureFixture[str]) -> None:
    rank_zero_print("a", 1, sep="-", end="!\n")
    assert capsys.readouterr().out == "a-1!\n"


@pytest.mark.usefixtures("rank_one")
def test_rank_zero_print_silent_on_non_zero_rank(capsys: pytest.CaptureFixture[str]) -> None:
    rank_zero_print("hidden")
    assert capsys.readouterr().out == ""
