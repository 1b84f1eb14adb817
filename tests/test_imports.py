"""The public import surface, and that optional dependencies stay optional."""

import subprocess
import sys

import torchtnt

HEAVY_OPTIONAL = (
    "tensorboard",
    "mlflow",
    "torchdata",
    "sklearn",
    "tabulate",
    "psutil",
    "fsspec",
    "moto",
)


def _modules_after(statement: str) -> set:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_version() -> None:
    assert torchtnt.__version__ == "0.3.0"


def test_framework_import_pulls_no_optional_dependency() -> None:
    loaded = _modules_after("import torchtnt.framework; import torchtnt.utils")
    assert loaded.isdisjoint(HEAVY_OPTIONAL), sorted(loaded & set(HEAVY_OPTIONAL))


def test_loggers_package_import_is_light() -> None:
    loaded = _modules_after(
        "import torchtnt.utils.loggers; from torchtnt.utils.loggers import CSVLogger"
    )
    assert "tensorboard" not in loaded and "mlflow" not in loaded


def test_framework_all_names_resolve() -> None:
    import torchtnt.framework as framework

    core = [name for name in framework.__all__ if name not in ("AutoUnit", "AutoPredictUnit")]
    for name in core:
        assert getattr(framework, name) is not None, name


def test_utils_submodules_reachable_as_attributes() -> None:
    import torchtnt.utils as utils

    assert utils.version.is_torch_version_geq("2.0.0")
    assert utils.Progress is utils.progress.Progress
    assert utils.get_global_rank() == 0
