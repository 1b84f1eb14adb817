"""Training utilities: distributed helpers, timers, loggers, data tools and more.

Names are resolved lazily (PEP 562) so that ``import torchtnt.utils`` stays cheap and
optional dependencies are only imported by the feature that needs them.
"""

import importlib
from typing import Any

_SUBMODULES = frozenset(
    [
        "anomaly_evaluation",
        "checkpoint",
        "data",
        "device",
        "device_mesh",
        "distributed",
        "early_stop_checker",
        "env",
        "event",
        "event_handlers",
        "flops",
        "fsdp_utils",
        "fsspec",
        "loggers",
        "lr_scheduler",
        "memory",
        "memory_snapshot_profiler",
        "misc",
        "module_summary",
        "nan",
        "oom",
        "optimizer",
        "precision",
        "prepare_module",
        "progress",
        "rank_zero_log",
        "stateful",
        "swa",
        "test_utils",
        "timer",
        "tqdm",
        "version",
    ]
)

_NAME_TO_MODULE = {
    "check_for_nan_or_inf": "nan",
    "register_nan_hooks_on_whole_graph": "nan",
    "IsNaNEvaluator": "anomaly_evaluation",
    "ThresholdEvaluator": "anomaly_evaluation",
    "CheckpointPath": "checkpoint",
    "MetricData": "checkpoint",
    "get_best_checkpoint_path": "checkpoint",
    "get_checkpoint_dirpaths": "checkpoint",
    "get_latest_checkpoint_path": "checkpoint",
    "BestCheckpointConfig": "checkpoint",
    "CheckpointManager": "checkpoint",
    "copy_data_to_device": "device",
    "CPUStats": "device",
    "get_device_from_env": "device",
    "get_nvidia_smi_gpu_stats": "device",
    "get_psutil_cpu_stats": "device",
    "GPUStats": "device",
    "set_float32_precision": "device",
    "record_data_in_stream": "device",
    "all_gather_tensors": "distributed",
    "barrier": "distributed",
    "get_global_rank": "distributed",
    "get_local_rank": "distributed",
    "get_process_group_backend_from_device": "distributed",
    "get_world_size": "distributed",
    "PGWrapper": "distributed",
    "sync_bool": "distributed",
    "spawn_multi_process": "distributed",
    "EarlyStopChecker": "early_stop_checker",
    "init_from_env": "env",
    "seed": "env",
    "FlopTensorDispatchMode": "flops",
    "get_filesystem": "fsspec",
    "get_tensor_size_bytes_map": "memory",
    "measure_rss_deltas": "memory",
    "RSSProfiler": "memory",
    "MemorySnapshotParams": "memory_snapshot_profiler",
    "MemorySnapshotProfiler": "memory_snapshot_profiler",
    "days_to_secs": "misc",
    "transfer_batch_norm_stats": "misc",
    "transfer_weights": "misc",
    "attach_oom_observer": "oom",
    "is_out_of_cpu_memory": "oom",
    "is_out_of_cuda_memory": "oom",
    "is_out_of_memory_error": "oom",
    "log_memory_snapshot": "oom",
    "extract_lr_from_optimizer": "optimizer",
    "init_optim_state": "optimizer",
    "convert_precision_str_to_dtype": "precision",
    "DDPStrategy": "prepare_module",
    "FSDPStrategy": "prepare_module",
    "NOOPStrategy": "prepare_module",
    "prepare_ddp": "prepare_module",
    "prepare_fsdp": "prepare_module",
    "Progress": "progress",
    "rank_zero_critical": "rank_zero_log",
    "rank_zero_debug": "rank_zero_log",
    "rank_zero_error": "rank_zero_log",
    "rank_zero_info": "rank_zero_log",
    "rank_zero_print": "rank_zero_log",
    "rank_zero_warn": "rank_zero_log",
    "Stateful": "stateful",
    "AveragedModel": "swa",
    "FullSyncPeriodicTimer": "timer",
    "get_timer_summary": "timer",
    "log_elapsed_time": "timer",
    "Timer": "timer",
    "get_module_summary": "module_summary",
    "get_summary_table": "module_summary",
    "ModuleSummary": "module_summary",
    "prune_module_summary": "module_summary",
    "create_progress_bar": "tqdm",
    "close_progress_bar": "tqdm",
    "update_progress_bar": "tqdm",
    "TLRScheduler": "lr_scheduler",
    "get_python_version": "version",
    "get_torch_version": "version",
    "is_torch_version_geq": "version",
    "is_windows": "version",
    "get_pet_launch_config": "test_utils",
}

__all__ = list(_NAME_TO_MODULE)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module_name = _NAME_TO_MODULE.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
