"""Map-style datasets of random items, for tests, examples and benchmarks."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch
from torch.utils.data import Dataset

__all__ = ["AbstractRandomDataset", "generate_random_square_image_tensor"]

TItem = TypeVar("TItem")


@dataclass
class AbstractRandomDataset(Dataset[TItem], ABC, Generic[TItem]):
    """A dataset of ``size`` items, each made up on demand by :meth:`_generate_random_item`.

    Subclasses only implement :meth:`_generate_random_item`. Items are not cached, so
    reading the same index twice gives two different random items; seed torch to make
    them reproducible.

    Args:
        size: the number of items.

    Raises:
        ValueError: if ``size`` is negative.
    """

    size: int = 100

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"size={self.size!r} is invalid: expected an int >= 0")

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, idx: int) -> TItem:
        """Return a new random item.

        Args:
            idx: position in ``[-size, size)``; it only bounds the dataset.

        Raises:
            IndexError: if ``idx`` is out of range (which also ends plain iteration).
        """
        if not -self.size <= idx < self.size:
            raise IndexError(
                f"idx={idx} is out of range for a dataset of size {self.size}: expected "
                f"{-self.size} <= idx < {self.size}"
            )
        return self._generate_random_item()

    @abstractmethod
    def _generate_random_item(self) -> TItem:
        """Make one random item."""


def generate_random_square_image_tensor(num_channels: int, side_length: int) -> torch.Tensor:
    """Return a random image of shape ``(num_channels, side_length, side_length)``.

    Values are drawn uniformly from ``[0, 1)``, like a normalized image.

    Args:
        num_channels: number of channels (e.g. 3 for RGB).
        side_length: height and width in pixels.

    Raises:
        ValueError: if either argument is not a positive int.
    """
    for name, value in (("num_channels", num_channels), ("side_length", side_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} is invalid: expected an int >= 1")
    return torch.rand(num_channels, side_length, side_length)
