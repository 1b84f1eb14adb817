"""Helpers shared by the metric loggers: scalar conversion and log-path checks."""

import numbers
import os
import time
from pathlib import Path
from typing import Dict

import numpy as np
import torch

from torchtnt.utils.loggers.logger import Scalar


def scalar_to_float(scalar: Scalar) -> float:
    """Convert a scalar-like value to a Python float.

    Args:
        scalar: a tensor or ndarray holding exactly one element (any shape, e.g. ``[[x]]``),
            or anything ``float()`` accepts (int, float, numpy scalar, ...).

    Returns:
        The value as a float. NaN and infinities are returned unchanged.

    Raises:
        ValueError: a tensor or ndarray holds more or fewer than one element.
        TypeError: the value is of a type that cannot be turned into a float.
    """
    if isinstance(scalar, torch.Tensor):
        squeezed = scalar.squeeze()
        if squeezed.numel() != 1:
            raise ValueError(
                f"Scalar tensor must contain a single item, {squeezed.numel()} given. "
                f"Got a tensor of shape {tuple(scalar.shape)}; log one element "
                "(e.g. reduce it with .mean()) instead."
            )
        return float(squeezed.item())
    if isinstance(scalar, np.ndarray):
        if scalar.size != 1:
            raise ValueError(
                f"Scalar ndarray must contain a single item, {scalar.size} given. "
                f"Got an array of shape {scalar.shape}; log one element instead."
            )
        return float(scalar.item())
    try:
        return float(scalar)
    except (TypeError, ValueError) as e:
        raise _NotAScalarError(
            f"scalar={scalar!r} (type {type(scalar).__name__}) cannot be converted to float: "
            "expected an int, a float, or a tensor/ndarray with exactly one element"
        ) from e


class _NotAScalarError(TypeError, ValueError):
    """A value ``float()`` cannot take. A TypeError; also a ValueError, which is what plain
    ``float()`` (and so TorchTNT) raises for a string such as ``"abc"``."""


def _is_local_path(path: str) -> bool:
    """True when ``path`` is on the local filesystem (no URL scheme, or ``file://``)."""
    return "://" not in path or path.startswith("file://")


def _nearest_existing(path: Path) -> Path:
    """Return ``path`` or its closest ancestor that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable_path(path: str, *, arg_name: str = "path", is_dir: bool = False) -> None:
    """Check before any metric is written that a local log path can be written to.

    Remote paths (``s3://``, ``gs://``, ...) are not checked: that would cost a network round
    trip, and the storage client reports its own errors.

    Args:
        path: the file (or, with ``is_dir``, the directory) the logger will write.
        arg_name: name of the user-facing argument, quoted in the error.
        is_dir: whether ``path`` names a directory instead of a file.

    Raises:
        ValueError: the path, or the directory it would be created in, cannot be written.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{arg_name}={path!r} is invalid: expected a str path, got {type(path).__name__}"
        )
    path = os.fspath(path)
    if not path:
        raise ValueError(f"{arg_name}='' is invalid: expected a non-empty path")
    if not _is_local_path(path):
        return
    local = Path(path.removeprefix("file://")).absolute()
    if local.exists():
        if is_dir and not local.is_dir():
            raise ValueError(f"{arg_name}={path!r} is a file: expected a directory to log into")
        if not is_dir and local.is_dir():
            raise ValueError(
                f"{arg_name}={path!r} is a directory: expected a file path, e.g. "
                f"{os.path.join(path, 'metrics')!r} plus an extension"
            )
        if not os.access(local, os.W_OK):
            raise ValueError(f"{arg_name}={path!r} is not writable: permission denied")
        return
    ancestor = _nearest_existing(local.parent)
    if not ancestor.is_dir():
        raise ValueError(
            f"{arg_name}={path!r} cannot be created: {str(ancestor)!r} is a file, not a directory"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(
            f"{arg_name}={path!r} cannot be created: directory {str(ancestor)!r} is not writable"
        )


def _metric_to_float(name: str, data: Scalar, step: int) -> float:
    """:func:`scalar_to_float`, with the metric name and step added to any error."""
    try:
        return scalar_to_float(data)
    except (TypeError, ValueError) as e:
        raise type(e)(f"Cannot log metric {name!r} at step {step}: {e}") from e


def _add_to_row(buffer: Dict[int, Dict[str, float]], name: str, value: float, step: int) -> None:
    """Put ``name: value`` in the buffered row of ``step`` (created on first use), stamping the
    row with its step and the time of this write."""
    row = buffer.get(step)
    if row is None:
        row = buffer[step] = {}
    row[name] = value
    row["step"] = step
    row["time"] = time.monotonic()


def _as_step(name: str, step: object) -> int:
    """``step`` as a Python int (checked here: a file written later cannot hold a bad one)."""
    if isinstance(step, torch.Tensor) and step.numel() == 1 and not step.is_floating_point():
        return int(step.item())
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(
            f"step={step!r} (logging {name!r}) is invalid: expected an int (the step the value "
            "belongs to)"
        )
    return int(step)
