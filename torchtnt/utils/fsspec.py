"""Filesystem lookup for local and remote paths through fsspec."""

from __future__ import annotations

from typing import Any

import fsspec
from fsspec.core import url_to_fs


def get_filesystem(path: str, **kwargs: Any) -> fsspec.AbstractFileSystem:
    """Return the fsspec filesystem that serves ``path`` (e.g. local, ``memory://``, ``s3://``).

    Args:
        path: a local path or a URL with a protocol prefix.
        kwargs: options for the filesystem's constructor (e.g. credentials).

    Raises:
        ValueError: from fsspec, for an unknown protocol.
        ImportError: for a protocol whose implementation package is not installed (the
            message names what to install).
    """
    try:
        fs, _ = url_to_fs(path, **kwargs)
    except ImportError as e:
        protocol = path.split("://", 1)[0] if "://" in path else "file"
        extra = _EXTRAS.get(protocol)
        hint = f'pip install "torchtnt[{extra}]"' if extra else "install its fsspec package"
        raise ImportError(f"{path!r} needs the {protocol!r} filesystem: {hint} ({e})") from e
    return fs


# Protocols with a torchtnt extra that installs their fsspec implementation.
_EXTRAS = {"s3": "s3", "s3a": "s3"}
