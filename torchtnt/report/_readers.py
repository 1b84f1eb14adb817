"""Find a run's metric logs under a directory and read every scalar series out of them.

Three formats are understood: the CSV files of ``CSVLogger`` (a header with ``step`` and
``time`` columns), the JSON files of ``JSONLogger`` (one array of row objects with
``"step"`` and ``"time"`` keys) and TensorBoard event files (``*tfevents*``). Other files,
such as the CSV files of a prediction writer, are ignored.
"""

import csv
import json
import logging
import math
import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

logger: logging.Logger = logging.getLogger(__name__)

Points = List[Tuple[int, float]]
Series = Dict[str, Points]

# Columns every CSVLogger / JSONLogger row carries besides the metrics.
_ROW_KEYS = ("step", "time")


def _as_float(value: Any) -> Optional[float]:
    """``value`` as a float, or None for empty cells, text and booleans."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _as_step(value: Any) -> Optional[int]:
    number = _as_float(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


def _rows_to_series(rows: Iterable[Dict[str, Any]]) -> Series:
    """Turn logger rows (``{"step": s, "time": t, metric: value, ...}``) into series."""
    series: Series = {}
    for row in rows:
        step = _as_step(row.get("step"))
        if step is None:
            continue
        for name, raw in row.items():
            value = _as_float(raw)
            if name not in _ROW_KEYS and value is not None:
                series.setdefault(name, []).append((step, value))
    return series


def _read_csv(path: str) -> Series:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not set(_ROW_KEYS) <= set(reader.fieldnames or []):
            return {}  # some other CSV file (e.g. predictions), not a CSVLogger log
        return _rows_to_series(reader)


def _read_json(path: str) -> Series:
    with open(path) as f:
        # JSONLogger files are one array; bail out before parsing anything else (profiler
        # traces, configs), which can be large.
        if f.read(64).lstrip()[:1] != "[":
            return {}
        f.seek(0)
        rows = json.load(f)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return {}
    if rows and not set(_ROW_KEYS) <= rows[0].keys():
        return {}  # an array of records, but not JSONLogger's
    return _rows_to_series(rows)


def _read_tensorboard_dir(path: str) -> Series:
    """Every scalar of the event files in directory ``path``; {} without tensorboard."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        from tensorboard.util.tensor_util import make_ndarray
    except ImportError:
        logger.warning(
            f"Skipping the TensorBoard event files in {path!r}: reading them needs the "
            "tensorboard package: pip install torchtnt[tensorboard]"
        )
        return {}
    # size_guidance 0 keeps every event instead of a random sample.
    acc = EventAccumulator(path, size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    series: Series = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in tags["scalars"]}
    # SummaryWriter.add_scalar(new_style=True) stores scalars as tensor summaries.
    for tag in tags["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":
            events = acc.Tensors(tag)
            series[tag] = [(e.step, float(make_ndarray(e.tensor_proto).item())) for e in events]
    return series


def find_log_sources(logdir: str) -> List[str]:
    """Paths under ``logdir`` worth reading, sorted: CSV and JSON files, then directories
    holding TensorBoard event files (which are read one directory at a time).

    CSV/JSON come first so that when they repeat a TensorBoard series their full-precision
    values are the ones kept (TensorBoard stores float32).
    """
    files: List[str] = []
    event_dirs: List[str] = []
    for dirpath, dirnames, filenames in os.walk(logdir):
        dirnames.sort()
        if any("tfevents" in name for name in filenames):
            event_dirs.append(dirpath)
        files += [
            os.path.join(dirpath, n) for n in sorted(filenames) if n.endswith((".csv", ".json"))
        ]
    return files + event_dirs


def _read_source(path: str) -> Series:
    if os.path.isdir(path):
        return _read_tensorboard_dir(path)
    return _read_csv(path) if path.endswith(".csv") else _read_json(path)


def _same_points(a: Points, b: Points) -> bool:
    """Equal steps and values up to float32 rounding (NaN equals NaN)."""
    return len(a) == len(b) and all(
        sa == sb and (math.isclose(va, vb, rel_tol=1e-6) or (math.isnan(va) and math.isnan(vb)))
        for (sa, va), (sb, vb) in zip(a, b)
    )


def _merge(found: List[Tuple[str, str, Points]]) -> Series:
    """One series per name; a name logged with different values by several sources is
    kept once per source, as ``"name (source)"``; an identical repeat is dropped."""
    by_name: Dict[str, List[Tuple[str, Points]]] = {}
    for source, name, points in found:
        kept = by_name.setdefault(name, [])
        if not any(_same_points(points, other) for _, other in kept):
            kept.append((source, points))
    merged: Series = {}
    for name, kept in by_name.items():
        for source, points in kept:
            merged[name if len(kept) == 1 else f"{name} ({source})"] = points
    return merged


def read_logs(logdir: str) -> Tuple[Series, List[str]]:
    """Read every scalar series under ``logdir``.

    Args:
        logdir: directory searched recursively for CSV, JSON and TensorBoard logs.

    Returns:
        ``(series, sources)``: metric name mapped to its ``(step, value)`` points sorted by
        step, and the paths (relative to ``logdir``) that contributed at least one series.

    Raises:
        FileNotFoundError: ``logdir`` does not exist.
        NotADirectoryError: ``logdir`` is a file.
        ValueError: no scalar metric was found under ``logdir``.
    """
    if not os.path.exists(logdir):
        raise FileNotFoundError(f"logdir {logdir!r} does not exist")
    if not os.path.isdir(logdir):
        raise NotADirectoryError(f"logdir {logdir!r} is a file: expected a directory of logs")
    found: List[Tuple[str, str, Points]] = []
    sources: List[str] = []
    for path in find_log_sources(logdir):
        try:
            series = _read_source(path)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            logger.warning(f"Skipping {path!r}: it could not be read as a metric log ({e})")
            continue
        source = os.path.relpath(path, logdir)
        if series:
            sources.append(source)
        found += [
            (source, name, sorted(points, key=lambda p: p[0])) for name, points in series.items()
        ]
    if not found:
        raise ValueError(
            f"no metric logs found under {logdir!r}: expected CSV or JSON files written by "
            "CSVLogger / JSONLogger, or TensorBoard event files (events.out.tfevents.*)"
        )
    return _merge(found), sources
