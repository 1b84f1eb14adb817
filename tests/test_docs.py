"""The documentation site builds without a single warning and documents the public API."""

import importlib
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"

# Run in a child process: the build imports every torchtnt module (and their optional
# dependencies), which must not leak into the other tests of this worker.
_BUILD = """
import sys
from sphinx.cmd.build import build_main
sys.exit(build_main(sys.argv[1:]))
"""


def _load_api_extension() -> object:
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        return importlib.import_module("tnt_api")
    finally:
        sys.path.remove(str(DOCS / "_ext"))


def _api_module_list() -> list:
    namespace: dict = {"__file__": str(DOCS / "conf.py")}
    saved_path = list(sys.path)
    try:
        exec((DOCS / "conf.py").read_text(), namespace)
    finally:
        sys.path[:] = saved_path
    return [name for _, names in namespace["API_MODULES"].values() for name in names]


def test_every_public_module_is_listed_once() -> None:
    listed = _api_module_list()
    assert len(listed) == len(set(listed)), sorted({n for n in listed if listed.count(n) > 1})
    unlisted = _load_api_extension().public_modules() - set(listed)  # type: ignore[attr-defined]
    assert not unlisted, f"add these to API_MODULES in docs/conf.py: {sorted(unlisted)}"


def test_sphinx_build_has_no_warnings(tmp_path: Path) -> None:
    html, warnings = tmp_path / "html", tmp_path / "warnings.txt"
    args = ["-W", "-q", "-b", "html", "-d", str(tmp_path / "doctrees"), "-w", str(warnings)]
    result = subprocess.run(
        [sys.executable, "-c", _BUILD, *args, str(DOCS), str(html)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, warnings.read_text() if warnings.exists() else result.stderr

    framework = (html / "api" / "framework.html").read_text()
    assert 'id="torchtnt.framework.train.train"' in framework
    assert 'id="torchtnt.framework.unit.AppStateMixin"' in framework
    utils = (html / "api" / "utils.html").read_text()
    assert 'id="torchtnt.utils.progress.Progress"' in utils
    # A name defined in a private module is documented where users import it from.
    assert 'id="torchtnt.utils.distributed.spawn_multi_process"' in utils
    # Guides link into the reference.
    units = (html / "concepts" / "units.html").read_text()
    assert 'href="../api/framework.html#torchtnt.framework.unit.TrainUnit"' in units
