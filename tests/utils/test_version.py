import importlib.metadata
import platform
import sys

import pytest
import torch
from packaging.version import Version

import torchtnt.utils
from torchtnt.utils import version as tnt_version
from torchtnt.utils.version import (
    get_python_version,
    get_torch_version,
    is_torch_version_geq,
    is_windows,
)


def test_version_submodule_is_an_attribute_of_utils() -> None:
    assert torchtnt.utils.version is tnt_version
    assert torchtnt.utils.is_torch_version_geq is is_torch_version_geq


@pytest.mark.parametrize(("system", "expected"), [("Windows", True), ("Linux", False)])
def test_is_windows_follows_platform_system(
    monkeypatch: pytest.MonkeyPatch, system: str, expected: bool
) -> None:
    monkeypatch.setattr(platform, "system", lambda: system)
    assert is_windows() is expected


def test_get_python_version_matches_running_interpreter() -> None:
    version = get_python_version()
    assert isinstance(version, Version)
    assert version.release == tuple(sys.version_info[:3])


def test_get_python_version_reads_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    # TorchTNT-style tests patch platform.python_version
    monkeypatch.setattr(platform, "python_version", lambda: "3.8.10")
    assert get_python_version() == Version("3.8.10")


def test_get_torch_version_reads_torch_dunder_version(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_torch_version() == Version(str(torch.__version__))
    monkeypatch.setattr(torch, "__version__", "1.8.0")
    assert get_torch_version() == Version("1.8.0")
    monkeypatch.setattr(torch, "__version__", "2.5.0.dev20240101+cpu")
    assert get_torch_version() == Version("2.5.0.dev20240101+cpu")


def test_get_torch_version_falls_back_to_package_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(torch, "__version__")
    monkeypatch.setattr(importlib.metadata, "version", lambda name: {"torch": "1.13.1"}[name])
    assert get_torch_version() == Version("1.13.1")


def test_get_torch_version_raises_when_undetectable(monkeypatch: pytest.MonkeyPatch) -> None:
    def _not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.delattr(torch, "__version__")
    monkeypatch.setattr(importlib.metadata, "version", _not_installed)
    with pytest.raises(TypeError, match=r"^PyTorch version could not be detected automatically\.$"):
        get_torch_version()


@pytest.mark.parametrize(
    ("installed", "query", "expected"),
    [
        ("2.1.0", "2.0.0", True),
        ("2.1.0", "2.1.0", True),
        ("2.1.0", "2.1.1", False),
        ("2.1.0", "2.2", False),
        ("1.13.1", "1.9.0", True),
        # a pre-release sorts before its final release
        ("2.4.0a0+git123", "2.4.0", False),
        ("2.4.0a0+git123", "2.3.0", True),
    ],
)
def test_is_torch_version_geq(
    monkeypatch: pytest.MonkeyPatch, installed: str, query: str, expected: bool
) -> None:
    monkeypatch.setattr(torch, "__version__", installed)
    assert is_torch_version_geq(query) is expected
