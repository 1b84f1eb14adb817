"""Write metrics to a CSV file: one row per step, one column per metric."""

import csv
import io
import threading
from typing import Dict, List, Optional

from torchtnt.utils.loggers.file import FileLogger


def _check_columns(rows: List[Dict[str, float]], path: str) -> None:
    """Fail in the caller, with the fix, when a row has a column the header lacks.

    ``csv.DictWriter`` would raise too, but later, from a writer thread when writing
    asynchronously, and without saying which step is at fault.
    """
    header = rows[0].keys()
    for row in rows[1:]:
        extra = [key for key in row if key not in header]
        if extra:
            raise ValueError(
                f"CSVLogger({path!r}) cannot write metric(s) {extra} logged at step "
                f"{row['step']}: the CSV columns are fixed by the first logged step "
                f"({list(header)}). Log every metric at the first step, or use JSONLogger."
            )


def _write_csv(path: str, rows: List[Dict[str, float]]) -> None:
    """Replace the file at ``path`` with a header taken from the first row, then all rows."""
    import fsspec

    # Formatted before the file is opened: a failure leaves the file as it was.
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0].keys()))
    writer.writeheader()
    writer.writerows(rows)
    with fsspec.open(path, "w", newline="") as f:
        f.write(text.getvalue())


class CSVLogger(FileLogger):
    """Log metrics to a CSV file (``,`` separated, ``\\r\\n`` line endings).

    The header is the keys of the first buffered row, e.g. ``a,step,time`` after
    ``log("a", 1, 0)``; a later row lacking a column leaves that field empty. A metric first
    logged after the first step has no column, so flushing then raises ``ValueError``.
    Each flush rewrites the whole file (any fsspec URL works). Only global rank 0 writes
    unless ``log_all_ranks`` is set.

    Args:
        path: the CSV file to write.
        steps_before_flushing: flush automatically after this many new steps.
        log_all_ranks: write on every rank (give each rank its own path).
        async_write: write in a background thread so logging does not wait for storage.

    Raises:
        ValueError: ``steps_before_flushing`` is invalid or ``path`` cannot be written.
    """

    def __init__(
        self,
        path: str,
        steps_before_flushing: int = 100,
        log_all_ranks: bool = False,
        async_write: bool = False,
    ) -> None:
        self._async_write = async_write
        self._thread: Optional[threading.Thread] = None
        self._thread_error: Optional[BaseException] = None
        super().__init__(path, steps_before_flushing, log_all_ranks)

    def flush(self) -> None:
        """Rewrite the file with every buffered row (in a thread with ``async_write``).

        Raises:
            ValueError: a row has a metric that is not among the header's columns.
            RuntimeError: the previous background write failed (its error is the cause).
        """
        if not self._writes_on_this_rank or not self._log_buffer:
            return
        rows = self._rows()
        _check_columns(rows, self._path)
        self._join_pending_write()
        if self._async_write:
            self._thread = threading.Thread(
                target=self._write_in_thread, args=(rows,), name="CSVLogger-write", daemon=True
            )
            self._thread.start()
        else:
            _write_csv(self._path, rows)

    def _write_in_thread(self, rows: List[Dict[str, float]]) -> None:
        # Kept for the next join, so a failed background write is not lost.
        try:
            _write_csv(self._path, rows)
        except BaseException as e:
            self._thread_error = e

    def _join_pending_write(self) -> None:
        """Wait for the background write; re-raise here the error it hit, if any."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._thread_error = self._thread_error, None
        if error is not None:
            raise RuntimeError(
                f"CSVLogger failed to write {self._path!r} in the background"
            ) from error

    def close(self) -> None:
        """Wait for a pending background write, then flush synchronously."""
        self._join_pending_write()
        async_write, self._async_write = self._async_write, False
        try:
            self.flush()
        finally:
            self._async_write = async_write
