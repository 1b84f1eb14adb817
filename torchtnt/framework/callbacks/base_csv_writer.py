"""Write rows derived from each predict step's output to a CSV file."""

import csv
import os
from abc import ABC, abstractmethod
from typing import Any, List, Optional, Union

from torchtnt.framework.callback import Callback
from torchtnt.framework.state import EntryPoint, State
from torchtnt.framework.unit import TPredictUnit
from torchtnt.utils.distributed import get_global_rank
from torchtnt.utils.fsspec import get_filesystem

__all__ = ["BaseCSVWriter", "DEFAULT_FILE_NAME"]

DEFAULT_FILE_NAME = "predictions.csv"


def _check_args(header_row: Any, dir_path: Any, delimiter: Any, filename: Any) -> None:
    if not isinstance(header_row, (list, tuple)):
        raise TypeError(f"header_row={header_row!r} is invalid: expected a list of column names")
    for name, value in (("dir_path", dir_path), ("filename", filename)):
        if not isinstance(value, str) or not value:
            raise TypeError(f"{name}={value!r} is invalid: expected a non-empty string")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(
            f"delimiter={delimiter!r} is invalid: expected a single character, e.g. '\\t' or ','"
        )


class BaseCSVWriter(Callback, ABC):
    """Base class of callbacks that turn predictions into CSV rows.

    Subclasses implement :meth:`get_step_output_rows`. The file
    ``os.path.join(dir_path, filename)`` is opened for appending (via fsspec, so remote
    paths work) when the callback is created; ``header_row`` is written by rank 0 when
    prediction starts; the rows of every predict step follow; the file is flushed and closed
    when prediction ends or fails. Every rank appends to the same file.

    Args:
        header_row: the column names.
        dir_path: directory of the file (created if missing).
        delimiter: field separator, one character.
        filename: file name inside ``dir_path``.

    Raises:
        TypeError: ``header_row`` is not a list, or ``dir_path``/``filename`` not a string;
            also when a subclass does not implement :meth:`get_step_output_rows`.
        ValueError: ``delimiter`` is not a single character.
    """

    def __init__(
        self,
        header_row: List[str],
        dir_path: str,
        delimiter: str = "\t",
        filename: str = DEFAULT_FILE_NAME,
    ) -> None:
        _check_args(header_row, dir_path, delimiter, filename)
        self.header_row = header_row
        self.delimiter = delimiter
        self.output_path = os.path.join(dir_path, filename)
        fs = get_filesystem(self.output_path)
        fs.makedirs(dir_path, exist_ok=True)
        # newline="" as the csv module asks: the writer chooses the line endings itself.
        self._file: Optional[Any] = fs.open(self.output_path, mode="a", newline="")
        self._writer = csv.writer(self._file, delimiter=delimiter)

    @abstractmethod
    def get_step_output_rows(
        self, state: State, unit: TPredictUnit, step_output: Any
    ) -> Union[List[str], List[List[str]]]:
        """Return the rows to write for one predict step.

        Args:
            state: the run state.
            unit: the predict unit.
            step_output: what ``predict_step`` returned.

        Returns:
            One row (a list of fields), a list of rows, or an empty list to write nothing.
        """
        ...

    def on_predict_start(self, state: State, unit: TPredictUnit) -> None:
        """Write the header row (rank 0 only)."""
        if get_global_rank() == 0:
            self._writer.writerow(self.header_row)

    def on_predict_step_end(self, state: State, unit: TPredictUnit) -> None:
        """Write the rows derived from this step's output."""
        step_output = state.predict_state.step_output  # type: ignore[union-attr]
        rows = self.get_step_output_rows(state, unit, step_output)
        if not rows:
            return
        if isinstance(rows[0], (list, tuple)):
            self._writer.writerows(rows)
        else:
            self._writer.writerow(rows)

    def on_predict_end(self, state: State, unit: TPredictUnit) -> None:
        """Flush and close the file."""
        self._close()

    def on_exception(self, state: State, unit: Any, exc: BaseException) -> None:
        """Flush and close the file if prediction failed, keeping the rows written so far."""
        if state.entry_point == EntryPoint.PREDICT:
            self._close()

    def _close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.flush()
            self._file.close()
