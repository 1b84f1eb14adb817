"""A tiny structured event record, used for observability hooks."""

from dataclasses import dataclass, field
from typing import Dict, Optional, Union

__all__ = ["Event", "EventMetadataValue"]

EventMetadataValue = Optional[Union[str, int, float, bool]]


@dataclass
class Event:
    """Something that happened, with a name and flat metadata.

    Args:
        name: what happened.
        metadata: extra key/value details (scalars or None).
    """

    name: str
    metadata: Dict[str, EventMetadataValue] = field(default_factory=dict)
