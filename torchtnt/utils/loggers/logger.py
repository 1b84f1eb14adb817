"""The interface every metric logger implements, and the value types it accepts."""

from typing import Mapping, Protocol, Union, runtime_checkable

import numpy as np
import torch

Scalar = Union[torch.Tensor, np.ndarray, int, float]
"""A loggable value (an int or float, or a tensor/ndarray holding exactly one element)."""


@runtime_checkable
class MetricLogger(Protocol):
    """Anything that records scalar metrics against a step.

    Callbacks such as LearningRateMonitor accept any object with these three methods, so a
    custom logger does not need to inherit from anything. A logger that does subclass this
    protocol inherits a :meth:`log_dict` that calls :meth:`log` for each item.
    """

    def log(self, name: str, data: Scalar, step: int) -> None:
        """Record ``data`` under the metric ``name`` at ``step``.

        Args:
            name: metric name, e.g. ``"train/loss"``.
            data: the value; see :data:`Scalar`.
            step: the step (x-axis value) the value belongs to.
        """
        ...

    def log_dict(self, payload: Mapping[str, Scalar], step: int) -> None:
        """Record every ``name: value`` pair of ``payload`` at ``step``, in order.

        Args:
            payload: metric names mapped to values.
            step: the step the values belong to.
        """
        for name, data in payload.items():
            self.log(name, data, step)

    def close(self) -> None:
        """Write out anything still buffered and release the logger's resources."""
        ...
