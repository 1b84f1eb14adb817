"""Sphinx configuration for the torchtnt documentation (``make docs``).

The API reference is generated from :data:`API_MODULES` below: the single list of public
modules. A listed module that is not in the tree yet is skipped, so the list can name modules
before they land. To document a new module, add its dotted name to the right group.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "_ext"))
sys.path.insert(0, os.path.dirname(_HERE))

import torchtnt  # noqa: E402

project = "torchtnt"
author = "the torchtnt authors"
copyright = "the torchtnt authors"
version = release = torchtnt.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
    "tnt_api",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list = []

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "furo"
html_title = f"torchtnt {release}"
html_static_path: list = []

# Groups of the API reference: page name -> (title, modules). Each group is rendered by the
# ``tnt-api-modules`` directive in docs/api/<page>.rst; modules missing from the tree are
# left out. Private modules (leading underscore) are not part of the public API.
API_MODULES = {
    "framework": (
        "torchtnt.framework",
        [
            "torchtnt",
            "torchtnt.framework",
            "torchtnt.framework.train",
            "torchtnt.framework.evaluate",
            "torchtnt.framework.predict",
            "torchtnt.framework.fit",
            "torchtnt.framework.state",
            "torchtnt.framework.unit",
            "torchtnt.framework.auto_unit",
            "torchtnt.framework.callback",
            "torchtnt.framework.utils",
        ],
    ),
    "callbacks": (
        "torchtnt.framework.callbacks",
        [
            "torchtnt.framework.callbacks",
            "torchtnt.framework.callbacks.base_checkpointer",
            "torchtnt.framework.callbacks.dcp_saver",
            "torchtnt.framework.callbacks.torchsnapshot_saver",
            "torchtnt.framework.callbacks.checkpointer_types",
            "torchtnt.framework.callbacks.base_csv_writer",
            "torchtnt.framework.callbacks.early_stopping",
            "torchtnt.framework.callbacks.empty_cuda_cache",
            "torchtnt.framework.callbacks.empty_dataloader_detector",
            "torchtnt.framework.callbacks.garbage_collector",
            "torchtnt.framework.callbacks.iteration_time_logger",
            "torchtnt.framework.callbacks.lambda_callback",
            "torchtnt.framework.callbacks.learning_rate_monitor",
            "torchtnt.framework.callbacks.memory_snapshot",
            "torchtnt.framework.callbacks.module_summary",
            "torchtnt.framework.callbacks.periodic_distributed_sync",
            "torchtnt.framework.callbacks.progress_reporter",
            "torchtnt.framework.callbacks.pytorch_profiler",
            "torchtnt.framework.callbacks.slow_rank_detector",
            "torchtnt.framework.callbacks.system_resources_monitor",
            "torchtnt.framework.callbacks.tensorboard_parameter_monitor",
            "torchtnt.framework.callbacks.tensorfloat32",
            "torchtnt.framework.callbacks.throughput_logger",
            "torchtnt.framework.callbacks.time_limit_interrupter",
            "torchtnt.framework.callbacks.time_wait_for_batch_logger",
            "torchtnt.framework.callbacks.torch_compile",
            "torchtnt.framework.callbacks.tqdm_progress_bar",
            "torchtnt.framework.callbacks.train_progress_monitor",
            "torchtnt.framework.callbacks.run_report",
        ],
    ),
    "utils": (
        "torchtnt.utils",
        [
            "torchtnt.utils",
            "torchtnt.utils.anomaly_evaluation",
            "torchtnt.utils.checkpoint",
            "torchtnt.utils.device",
            "torchtnt.utils.device_mesh",
            "torchtnt.utils.distributed",
            "torchtnt.utils.early_stop_checker",
            "torchtnt.utils.env",
            "torchtnt.utils.event",
            "torchtnt.utils.event_handlers",
            "torchtnt.utils.flops",
            "torchtnt.utils.fsdp_utils",
            "torchtnt.utils.fsspec",
            "torchtnt.utils.lr_scheduler",
            "torchtnt.utils.memory",
            "torchtnt.utils.memory_snapshot_profiler",
            "torchtnt.utils.misc",
            "torchtnt.utils.module_summary",
            "torchtnt.utils.nan",
            "torchtnt.utils.oom",
            "torchtnt.utils.optimizer",
            "torchtnt.utils.precision",
            "torchtnt.utils.prepare_module",
            "torchtnt.utils.progress",
            "torchtnt.utils.rank_zero_log",
            "torchtnt.utils.stateful",
            "torchtnt.utils.swa",
            "torchtnt.utils.test_utils",
            "torchtnt.utils.timer",
            "torchtnt.utils.tqdm",
            "torchtnt.utils.version",
        ],
    ),
    "loggers": (
        "torchtnt.utils.loggers",
        [
            "torchtnt.utils.loggers",
            "torchtnt.utils.loggers.logger",
            "torchtnt.utils.loggers.file",
            "torchtnt.utils.loggers.csv",
            "torchtnt.utils.loggers.json",
            "torchtnt.utils.loggers.tensorboard",
            "torchtnt.utils.loggers.in_memory",
            "torchtnt.utils.loggers.stdout",
            "torchtnt.utils.loggers.anomaly_logger",
            "torchtnt.utils.loggers.mlflow",
            "torchtnt.utils.loggers.utils",
        ],
    ),
    "data": (
        "torchtnt.utils.data",
        [
            "torchtnt.utils.data",
            "torchtnt.utils.data.iterators",
            "torchtnt.utils.data.multi_dataloader",
            "torchtnt.utils.data.data_prefetcher",
            "torchtnt.utils.data.profile_dataloader",
            "torchtnt.utils.data.synthetic_data",
        ],
    ),
    "report": (
        "torchtnt.report",
        [
            "torchtnt.report",
        ],
    ),
}
tnt_api_modules = API_MODULES
