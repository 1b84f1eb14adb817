import sys
import textwrap
from pathlib import Path
from typing import Iterator, List

import pytest

from torchtnt.utils import event_handlers
from torchtnt.utils.event import Event
from torchtnt.utils.event_handlers import EventHandler, get_event_handlers, log_event, log_interval


class _Recorder:
    def __init__(self) -> None:
        self.events: List[Event] = []

    def handle_event(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
def recorders(monkeypatch: pytest.MonkeyPatch) -> List[_Recorder]:
    handlers = [_Recorder(), _Recorder()]
    monkeypatch.setattr(event_handlers, "get_event_handlers", lambda: handlers)
    return handlers


@pytest.fixture
def fresh_handler_cache() -> Iterator[None]:
    get_event_handlers.cache_clear()
    yield
    get_event_handlers.cache_clear()


def _install_fake_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, source: str
) -> None:
    """Make an importable module plus a dist-info that registers it as an entry point."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    dist_info = tmp_path / f"{module}-0.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.0\n")
    (dist_info / "entry_points.txt").write_text(
        f"[tnt_event_handlers]\nfactory = {module}:make_handler\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)


def test_event_defaults() -> None:
    first, second = Event("a"), Event("b")
    assert (first.name, first.metadata) == ("a", {})
    first.metadata["k"] = 1
    assert second.metadata == {}
    assert Event("x", {"n": 1, "f": 0.5, "s": "v", "b": True, "none": None}).metadata["b"] is True


def test_event_handler_protocol() -> None:
    assert isinstance(_Recorder(), EventHandler)
    assert not isinstance(object(), EventHandler)


def test_log_event_reaches_every_handler(recorders: List[_Recorder]) -> None:
    event = Event("hello", {"k": 1})
    log_event(event)
    assert [r.events for r in recorders] == [[event], [event]]


def test_log_interval_as_context_manager(recorders: List[_Recorder]) -> None:
    with log_interval("load", metadata={"path": "/tmp/x"}):
        log_event(Event("inside"))
    events = recorders[0].events
    assert recorders[1].events == events
    assert [e.name for e in events] == ["load", "inside", "load"]
    start, end = events[0], events[2]
    assert start.metadata["action"] == "start"
    assert end.metadata["action"] == "end"
    assert start.metadata["path"] == end.metadata["path"] == "/tmp/x"
    assert start.metadata["unique_id"] == end.metadata["unique_id"]
    assert set(start.metadata) == {"path", "action", "unique_id"}


def test_log_interval_ids_differ_between_intervals(recorders: List[_Recorder]) -> None:
    with log_interval("a"):
        pass
    with log_interval("a"):
        pass
    ids = [e.metadata["unique_id"] for e in recorders[0].events]
    assert ids[0] == ids[1] and ids[2] == ids[3]
    assert ids[0] != ids[2]
    assert [e.metadata["action"] for e in recorders[0].events] == ["start", "end"] * 2


def test_log_interval_as_decorator(recorders: List[_Recorder]) -> None:
    @log_interval("compute", metadata={"step": 3})
    def add(x: int, y: int = 1) -> int:
        """Add two numbers."""
        log_event(Event("body"))
        return x + y

    assert add.__name__ == "add" and add.__doc__ == "Add two numbers."
    assert recorders[0].events == []
    assert add(2, y=5) == 7
    assert add(1) == 2
    events = recorders[0].events
    assert [(e.name, e.metadata.get("action")) for e in events] == [
        ("compute", "start"),
        ("body", None),
        ("compute", "end"),
    ] * 2
    assert all(events[i].metadata["step"] == 3 for i in (0, 2, 3, 5))
    assert events[0].metadata["unique_id"] == events[2].metadata["unique_id"]
    assert events[3].metadata["unique_id"] == events[5].metadata["unique_id"]
    assert events[0].metadata["unique_id"] != events[3].metadata["unique_id"]


def test_log_interval_propagates_exceptions(recorders: List[_Recorder]) -> None:
    with pytest.raises(ValueError, match="bad"):
        with log_interval("failing"):
            raise ValueError("bad")
    assert recorders[0].events[0].metadata["action"] == "start"


def test_log_interval_without_handlers_runs_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_handlers, "get_event_handlers", lambda: [])
    ran = []
    with log_interval("x"):
        ran.append(1)
    assert log_interval("y")(lambda: 5)() == 5
    assert ran == [1]


@pytest.mark.usefixtures("fresh_handler_cache")
def test_get_event_handlers_loads_entry_points_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake_distribution(
        tmp_path,
        monkeypatch,
        "tnt_test_good_handler",
        """
        CREATED = []

        class Handler:
            def __init__(self):
                self.events = []

            def handle_event(self, event):
                self.events.append(event)

        def make_handler():
            handler = Handler()
            CREATED.append(handler)
            return handler
        """,
    )
    handlers = get_event_handlers()
    module = sys.modules["tnt_test_good_handler"]
    assert handlers == module.CREATED and len(handlers) == 1
    assert get_event_handlers() is handlers  # cached: the factory ran once
    assert len(module.CREATED) == 1

    with log_interval("real"):
        pass
    assert [e.metadata["action"] for e in handlers[0].events] == ["start", "end"]


@pytest.mark.usefixtures("fresh_handler_cache")
def test_get_event_handlers_rejects_non_handlers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_fake_distribution(
        tmp_path, monkeypatch, "tnt_test_bad_handler", "def make_handler():\n    return 42\n"
    )
    with pytest.raises(RuntimeError):
        get_event_handlers()
