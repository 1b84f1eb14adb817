import sys
from pathlib import Path

import pytest
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from torchtnt.utils.fsspec import get_filesystem


def test_local_paths_get_the_local_filesystem(tmp_path: Path) -> None:
    fs = get_filesystem(str(tmp_path))
    assert isinstance(fs, LocalFileSystem)
    fs.pipe_file(str(tmp_path / "a.txt"), b"hello")
    assert (tmp_path / "a.txt").read_bytes() == b"hello"
    assert isinstance(get_filesystem(f"file://{tmp_path}"), LocalFileSystem)


def test_memory_urls_get_the_memory_filesystem() -> None:
    fs = get_filesystem("memory://torchtnt-test/ckpt")
    assert isinstance(fs, MemoryFileSystem)
    fs.pipe_file("memory://torchtnt-test/ckpt/x", b"data")
    try:
        assert get_filesystem("memory://other").cat_file("memory://torchtnt-test/ckpt/x") == b"data"
    finally:
        fs.rm("memory://torchtnt-test", recursive=True)


def test_kwargs_reach_the_filesystem(tmp_path: Path) -> None:
    fs = get_filesystem(str(tmp_path), auto_mkdir=True)
    assert fs.auto_mkdir is True
    fs.pipe_file(str(tmp_path / "new" / "dir" / "f"), b"x")
    assert (tmp_path / "new" / "dir" / "f").read_bytes() == b"x"


def test_unknown_protocol() -> None:
    with pytest.raises(ValueError, match="Protocol not known: nosuchproto"):
        get_filesystem("nosuchproto://bucket/path")


def test_missing_s3fs_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec.registry  # noqa: F401  (the module; fsspec.registry is also a mapping)

    imported = sys.modules["fsspec.registry"]._registry
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if it were not installed
    monkeypatch.delitem(imported, "s3", raising=False)  # nor imported before
    with pytest.raises(
        ImportError,
        match=r"'s3://bucket/run' needs the 's3' filesystem: pip install \"torchtnt\[s3\]\"",
    ):
        get_filesystem("s3://bucket/run")
