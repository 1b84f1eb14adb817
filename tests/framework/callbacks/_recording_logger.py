"""A MetricLogger for callback tests that keeps every logged scalar, in order."""

from typing import Dict, List, Tuple


class RecordingLogger:
    """A MetricLogger that keeps every call, in order."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, float, int]] = []

    def log(self, name: str, data: float, step: int) -> None:
        self.calls.append((name, data, step))

    def log_dict(self, payload: Dict[str, float], step: int) -> None:
        for name, data in payload.items():
            self.log(name, data, step)

    def close(self) -> None:
        pass

    def named(self, name: str) -> List[Tuple[float, int]]:
        """The ``(value, step)`` pairs logged under ``name``."""
        return [(value, step) for n, value, step in self.calls if n == name]
