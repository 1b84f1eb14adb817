"""A one-file HTML report of a run's logged scalars.

``python -m torchtnt.report LOGDIR [-o OUT.html]`` (or :func:`write_report`, or the
``RunReport`` callback) reads every CSVLogger, JSONLogger and TensorBoard log under
``LOGDIR`` and writes a self-contained page: a summary table and one plot per metric.
"""

import os
from typing import Dict, List, Optional, Tuple

from torchtnt.report._html import render_html
from torchtnt.report._readers import read_logs

__all__ = ["read_scalars", "write_report", "DEFAULT_REPORT_NAME"]

DEFAULT_REPORT_NAME = "report.html"
"""File name of the report inside ``logdir`` when no output path is given."""


def read_scalars(logdir: str) -> Dict[str, List[Tuple[int, float]]]:
    """Read every scalar series logged under ``logdir`` (searched recursively).

    A metric found with identical values in several logs (say a CSV file and TensorBoard
    events) appears once; with different values it appears once per log, named
    ``"metric (relative/path)"``.

    Args:
        logdir: directory holding the run's CSV, JSON or TensorBoard logs.

    Returns:
        Metric name mapped to its ``(step, value)`` points, sorted by step. NaN and
        infinities are kept.

    Raises:
        FileNotFoundError: ``logdir`` does not exist.
        NotADirectoryError: ``logdir`` is a file.
        ValueError: no metric log was found under ``logdir``.
    """
    return read_logs(logdir)[0]


def write_report(logdir: str, output_path: Optional[str] = None) -> str:
    """Write the HTML report of the logs under ``logdir``.

    TensorBoard event files are skipped, with a logged warning, when tensorboard is not
    installed.

    Args:
        logdir: directory holding the run's CSV, JSON or TensorBoard logs.
        output_path: the HTML file to write; defaults to ``logdir/report.html``. Missing
            parent directories are created.

    Returns:
        The path written.

    Raises:
        FileNotFoundError: ``logdir`` does not exist.
        NotADirectoryError: ``logdir`` is a file.
        ValueError: no metric log was found under ``logdir``.
        OSError: ``output_path`` cannot be written.
    """
    series, sources = read_logs(logdir)
    path = output_path or os.path.join(logdir, DEFAULT_REPORT_NAME)
    page = render_html(series, f"Run report: {os.path.abspath(logdir)}", sources)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
