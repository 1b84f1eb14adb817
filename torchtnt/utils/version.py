"""Python, PyTorch and platform version queries."""

import platform

import torch
from packaging.version import Version

__all__ = ["get_python_version", "get_torch_version", "is_torch_version_geq", "is_windows"]


def is_windows() -> bool:
    """Return True when running on Windows."""
    return platform.system() == "Windows"


def get_python_version() -> Version:
    """Return the running interpreter's version as a ``packaging`` Version."""
    return Version(platform.python_version())


def get_torch_version() -> Version:
    """Return the installed PyTorch version.

    Raises:
        TypeError: if no version string can be found for torch.
    """
    raw = getattr(torch, "__version__", None)
    if raw is not None:
        raw = str(raw)
    else:
        try:
            from importlib.metadata import version as dist_version

            raw = dist_version("torch")
        except Exception:
            raw = None
    # Checked explicitly: recent ``packaging`` raises InvalidVersion (not TypeError) for None.
    if raw is None:
        raise TypeError("PyTorch version could not be detected automatically.")
    try:
        return Version(raw)
    except TypeError:
        raise TypeError("PyTorch version could not be detected automatically.") from None


def is_torch_version_geq(version: str) -> bool:
    """Return True if the installed torch is at least ``version`` (e.g. ``"2.4.0"``)."""
    return get_torch_version() >= Version(version)
