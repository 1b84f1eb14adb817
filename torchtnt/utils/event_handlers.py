"""Dispatch of :class:`~torchtnt.utils.event.Event` records to handlers found via entry points.

Handlers are registered by installed packages under the entry-point group
``tnt_event_handlers``; each entry point is a factory returning an :class:`EventHandler`.
With no handlers installed, logging an event costs one empty loop.
"""

import functools
import logging
import uuid
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Dict, Iterator, List, Optional, Protocol, runtime_checkable

from torchtnt.utils.event import Event, EventMetadataValue

__all__ = ["EventHandler", "get_event_handlers", "log_event", "log_interval"]

_log = logging.getLogger(__name__)
_ENTRY_POINT_GROUP = "tnt_event_handlers"


@runtime_checkable
class EventHandler(Protocol):
    """Receives events."""

    def handle_event(self, event: Event) -> None: ...


@functools.cache
def get_event_handlers() -> List[EventHandler]:
    """Build (once) the handlers registered under the ``tnt_event_handlers`` entry points.

    Raises:
        RuntimeError: if a registered factory returns something that is not an EventHandler.
    """
    handlers: List[EventHandler] = []
    for ep in entry_points(group=_ENTRY_POINT_GROUP):
        handler = ep.load()()
        if not isinstance(handler, EventHandler):
            raise RuntimeError(
                f"entry point {ep.name!r} in group {_ENTRY_POINT_GROUP!r} returned "
                f"{type(handler).__name__}, which has no handle_event(event) method"
            )
        handlers.append(handler)
    return handlers


def log_event(event: Event) -> None:
    """Send ``event`` to every registered handler."""
    for handler in get_event_handlers():
        handler.handle_event(event)


class log_interval:  # noqa: N801 - used as a lowercase decorator and context manager
    """Emit a start event and an end event around a block or a function call.

    Usable as ``with log_interval("name"):`` or as ``@log_interval("name")``. Both events share
    a random ``unique_id`` and carry ``action`` = ``"start"`` / ``"end"`` in their metadata.

    Args:
        name: event name.
        metadata: extra metadata copied into both events.
    """

    def __init__(self, name: str, metadata: Optional[Dict[str, EventMetadataValue]] = None):
        self.name = name
        self.metadata = dict(metadata or {})

    @contextmanager
    def _interval(self) -> Iterator[None]:
        if not get_event_handlers():
            yield
            return
        unique_id = uuid.uuid4().hex
        log_event(Event(self.name, {**self.metadata, "action": "start", "unique_id": unique_id}))
        yield
        log_event(Event(self.name, {**self.metadata, "action": "end", "unique_id": unique_id}))

    def __enter__(self) -> None:
        self._active = self._interval()
        self._active.__enter__()

    def __exit__(self, *exc_info: object) -> None:
        self._active.__exit__(*exc_info)  # type: ignore[arg-type]

    def __call__(self, func):  # type: ignore[no-untyped-def]
        @functools.wraps(func)
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            with self._interval():
                return func(*args, **kwargs)

        return wrapper
