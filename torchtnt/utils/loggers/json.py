"""Write metrics to a JSON file: an array with one object per step."""

import json

from torchtnt.utils.loggers.file import FileLogger


class JSONLogger(FileLogger):
    """Log metrics to a JSON file holding one array of row objects, on a single line.

    Example: ``log_dict({"x": 1, "y": 2}, 5)`` then ``flush()`` writes
    ``[{"x": 1.0, "step": 5, "time": <t>, "y": 2.0}]``. NaN and infinities are written as
    ``NaN`` / ``Infinity``, which Python's ``json`` module reads back. Each flush rewrites
    the whole file (any fsspec URL works). Only global rank 0 writes unless
    ``log_all_ranks`` is set.

    Args:
        path: the JSON file to write.
        steps_before_flushing: flush automatically after this many new steps.
        log_all_ranks: write on every rank (give each rank its own path).

    Raises:
        ValueError: ``steps_before_flushing`` is invalid or ``path`` cannot be written.
    """

    def __init__(
        self, path: str, steps_before_flushing: int = 100, log_all_ranks: bool = False
    ) -> None:
        super().__init__(path, steps_before_flushing, log_all_ranks)

    def flush(self) -> None:
        """Rewrite the file with every buffered row; a no-op when nothing was logged."""
        if not self._writes_on_this_rank or not self._log_buffer:
            return
        import fsspec

        text = json.dumps(self._rows())  # before opening: a failure leaves the file as it was
        with fsspec.open(self._path, "w") as f:
            f.write(text)

    def close(self) -> None:
        """Flush the buffer."""
        self.flush()
