"""Checkpoint naming and lookup helpers.

Only the :class:`Phase` enum lives here so far; path parsing, listing and the checkpoint
manager come with the checkpointing feature.
"""

from enum import Enum

__all__ = ["Phase"]


class Phase(Enum):
    """The loop phase a step count in a checkpoint name belongs to."""

    NONE = 0
    TRAIN = 1
    EVALUATE = 2
    PREDICT = 3

    def __str__(self) -> str:
        return self.name.lower()
