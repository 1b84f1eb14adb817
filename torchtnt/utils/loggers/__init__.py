"""Metric loggers: TensorBoard, CSV, JSON, stdout, in-memory, anomaly detection, MLflow.

Names are resolved lazily (PEP 562): ``import torchtnt.utils.loggers`` imports no logger
module, so TensorBoard (and its protobuf stack) is loaded only when TensorBoardLogger is
first used, and MLflow only when MLflowLogger is.
"""

import importlib
from typing import TYPE_CHECKING, Any, List

if TYPE_CHECKING:
    from torchtnt.utils.loggers.anomaly_logger import AnomalyLogger, TrackedMetric
    from torchtnt.utils.loggers.csv import CSVLogger
    from torchtnt.utils.loggers.file import FileLogger
    from torchtnt.utils.loggers.in_memory import InMemoryLogger
    from torchtnt.utils.loggers.json import JSONLogger
    from torchtnt.utils.loggers.logger import MetricLogger, Scalar
    from torchtnt.utils.loggers.mlflow import MLflowLogger as MLflowLogger
    from torchtnt.utils.loggers.stdout import StdoutLogger
    from torchtnt.utils.loggers.tensorboard import TensorBoardLogger
    from torchtnt.utils.loggers.utils import scalar_to_float

__all__ = [
    "AnomalyLogger",
    "TrackedMetric",
    "CSVLogger",
    "FileLogger",
    "InMemoryLogger",
    "JSONLogger",
    "MetricLogger",
    "Scalar",
    "StdoutLogger",
    "TensorBoardLogger",
    "scalar_to_float",
]

_NAME_TO_MODULE = {
    "AnomalyLogger": "anomaly_logger",
    "TrackedMetric": "anomaly_logger",
    "CSVLogger": "csv",
    "FileLogger": "file",
    "InMemoryLogger": "in_memory",
    "JSONLogger": "json",
    "MetricLogger": "logger",
    "Scalar": "logger",
    "StdoutLogger": "stdout",
    "TensorBoardLogger": "tensorboard",
    "scalar_to_float": "utils",
    # Optional integration, kept out of __all__ so `import *` never needs mlflow.
    "MLflowLogger": "mlflow",
}


def __getattr__(name: str) -> Any:
    """Import the submodule defining ``name`` on first access and cache the result."""
    module_name = _NAME_TO_MODULE.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    """List the lazily available names next to the module's own attributes."""
    return sorted(set(globals()) | set(_NAME_TO_MODULE))
