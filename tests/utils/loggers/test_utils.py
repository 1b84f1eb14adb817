import math
import os

import numpy as np
import pytest
import torch

from torchtnt.utils.loggers.utils import _check_writable_path, _metric_to_float, scalar_to_float


@pytest.mark.parametrize(
    "value, expected",
    [
        (torch.tensor(3.5), 3.5),
        (torch.tensor([3.5]), 3.5),
        (torch.tensor([[[3.5]]], dtype=torch.float64), 3.5),
        (torch.tensor(7, dtype=torch.int64), 7.0),
        (np.array([[[2.25]]]), 2.25),
        (np.float32(0.5), 0.5),
        (np.int64(4), 4.0),
        (3, 3.0),
        (1.25, 1.25),
        (True, 1.0),
    ],
)
def test_scalar_to_float_converts_single_values(value: object, expected: float) -> None:
    result = scalar_to_float(value)
    assert type(result) is float
    assert result == expected


def test_scalar_to_float_keeps_nan_and_infinities() -> None:
    assert math.isnan(scalar_to_float(torch.tensor(float("nan"))))
    assert scalar_to_float(np.array([np.inf])) == math.inf
    assert scalar_to_float(-math.inf) == -math.inf


def test_scalar_to_float_rejects_multi_element_tensor() -> None:
    with pytest.raises(ValueError, match=r"Scalar tensor must contain a single item, 3 given\."):
        scalar_to_float(torch.Tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"0 given.*shape \(0,\)"):
        scalar_to_float(torch.ones(0))


def test_scalar_to_float_rejects_multi_element_ndarray() -> None:
    with pytest.raises(ValueError, match=r"Scalar ndarray must contain a single item, 3 given\."):
        scalar_to_float(np.array([1, 2, 3]))


@pytest.mark.parametrize("value", ["abc", [1.0, 2.0], None, {"a": 1}])
def test_scalar_to_float_rejects_non_numbers_with_type_error(value: object) -> None:
    with pytest.raises(TypeError, match=rf"scalar=.* \(type {type(value).__name__}\)"):
        scalar_to_float(value)
    with pytest.raises(ValueError):  # what plain float() raises for "abc", as in TorchTNT
        scalar_to_float(value)


def test_metric_to_float_names_metric_and_step() -> None:
    with pytest.raises(ValueError, match=r"^Cannot log metric 'loss' at step 7: Scalar tensor"):
        _metric_to_float("loss", torch.ones(2), 7)
    with pytest.raises(TypeError, match=r"^Cannot log metric 'acc' at step 1: scalar='x'"):
        _metric_to_float("acc", "x", 1)


def test_check_writable_path_accepts_new_nested_file(tmp_path) -> None:
    _check_writable_path(str(tmp_path / "a" / "b" / "m.csv"))
    _check_writable_path(str(tmp_path / "runs"), is_dir=True)
    _check_writable_path("file://" + str(tmp_path / "m.json"))
    # Nothing is created by the check itself.
    assert list(tmp_path.iterdir()) == []


def test_check_writable_path_skips_remote_urls() -> None:
    _check_writable_path("s3://bucket/does/not/matter.csv")


def test_check_writable_path_rejects_file_in_the_way(tmp_path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(
        ValueError, match=r"^log_dir=.*blocker/x/m.csv' cannot be created: .*is a file"
    ):
        _check_writable_path(str(blocker / "x" / "m.csv"), arg_name="log_dir")
    with pytest.raises(ValueError, match=r"^path=.* is a file: expected a directory"):
        _check_writable_path(str(blocker), is_dir=True)


def test_check_writable_path_rejects_directory_as_file(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"^path=.* is a directory: expected a file path"):
        _check_writable_path(str(tmp_path))


def test_check_writable_path_rejects_empty_and_non_str() -> None:
    with pytest.raises(ValueError, match=r"^path='' is invalid"):
        _check_writable_path("")
    with pytest.raises(TypeError, match=r"^path=3 is invalid: expected a str path, got int"):
        _check_writable_path(3)  # type: ignore[arg-type]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to read-only directories")
def test_check_writable_path_rejects_read_only_directory(tmp_path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match=r"cannot be created: directory .* is not writable"):
            _check_writable_path(str(ro / "m.csv"))
    finally:
        ro.chmod(0o700)
