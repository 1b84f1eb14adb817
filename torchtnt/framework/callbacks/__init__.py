"""Built-in callbacks, one module each; names are loaded on first use."""

import importlib
from typing import Any

_NAME_TO_MODULE = {
    "BaseCSVWriter": "base_csv_writer",
    "DistributedCheckpointSaver": "dcp_saver",
    "EarlyStopping": "early_stopping",
    "EmptyCudaCache": "empty_cuda_cache",
    "EnableTensorFloat32": "tensorfloat32",
    "GarbageCollector": "garbage_collector",
    "IterationTimeLogger": "iteration_time_logger",
    "Lambda": "lambda_callback",
    "LearningRateMonitor": "learning_rate_monitor",
    "MemorySnapshot": "memory_snapshot",
    "ModuleSummary": "module_summary",
    "PeriodicDistributedSync": "periodic_distributed_sync",
    "ProgressReporter": "progress_reporter",
    "PyTorchProfiler": "pytorch_profiler",
    "RunReport": "run_report",
    "SlowRankDetector": "slow_rank_detector",
    "SystemResourcesMonitor": "system_resources_monitor",
    "TensorBoardParameterMonitor": "tensorboard_parameter_monitor",
    "ThroughputLogger": "throughput_logger",
    "TimeLimitInterrupter": "time_limit_interrupter",
    "TimeWaitForBatchLogger": "time_wait_for_batch_logger",
    "TorchCompile": "torch_compile",
    "TorchSnapshotSaver": "torchsnapshot_saver",
    "TQDMProgressBar": "tqdm_progress_bar",
    "TrainProgressMonitor": "train_progress_monitor",
}

__all__ = list(_NAME_TO_MODULE)


def __getattr__(name: str) -> Any:
    module_name = _NAME_TO_MODULE.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
