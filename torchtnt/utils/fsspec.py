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
        ImportError: from fsspec, for a protocol whose implementation package is not
            installed.
    """
    fs, _ = url_to_fs(path, **kwargs)
    return fs
