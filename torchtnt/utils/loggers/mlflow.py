"""Log metrics and hyper-parameters to an MLflow tracking server or local store.

Needs the optional ``mlflow`` extra (``pip install torchtnt[mlflow]``, which installs
``mlflow-skinny``); mlflow is imported only when an :class:`MLflowLogger` is created.
"""

import atexit
import logging
import re
import time
from typing import Any, List, Mapping, Optional

import torchtnt.utils.distributed as _distributed
from torchtnt.utils.loggers.logger import MetricLogger, Scalar
from torchtnt.utils.loggers.utils import _as_step, _metric_to_float

logger: logging.Logger = logging.getLogger(__name__)

# MLflow accepts only these characters in metric and parameter keys.
_INVALID_KEY_CHARS = re.compile(r"[^\w./\- :]")


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as e:
        raise ImportError(
            "MLflowLogger needs the mlflow package: pip install torchtnt[mlflow]"
        ) from e
    return mlflow


def _mlflow_key(name: str) -> str:
    """Make ``name`` an acceptable MLflow key: bad characters become ``_``, no empty segments.

    Built-in callbacks log names such as ``"Train: steps per second (step granularity)"``,
    which MLflow would otherwise reject with an exception in the middle of training.
    """
    key = _INVALID_KEY_CHARS.sub("_", name)
    return re.sub("/+", "/", key).strip("/") or "_"


class MLflowLogger(MetricLogger):
    """Log metrics to one MLflow run, from global rank 0 only.

    Rank 0 connects to ``tracking_uri`` (MLflow's default when None), finds or creates the
    experiment ``experiment_name`` and starts a new run, or continues ``run_id``. Metric
    names MLflow would reject are sanitized (invalid characters become ``_``). On other
    ranks every method does nothing. ``close`` marks the run FINISHED and also runs at
    interpreter exit.

    Args:
        experiment_name: experiment to log into; created if missing. Ignored with ``run_id``.
        run_name: display name of a new run.
        tracking_uri: MLflow tracking URI, e.g. ``"http://host:5000"`` or ``"sqlite:///m.db"``.
        tags: tags set on a new run.
        run_id: continue this existing run instead of starting one.

    Raises:
        ImportError: mlflow is not installed.
        ValueError: ``experiment_name`` is empty.
    """

    def __init__(
        self,
        experiment_name: str = "torchtnt",
        run_name: Optional[str] = None,
        tracking_uri: Optional[str] = None,
        tags: Optional[Mapping[str, str]] = None,
        run_id: Optional[str] = None,
    ) -> None:
        if not experiment_name and run_id is None:
            raise ValueError(
                f"experiment_name={experiment_name!r} is invalid: expected a non-empty str"
            )
        self._client: Optional[Any] = None
        self._run_id: Optional[str] = None
        self._experiment_id: Optional[str] = None
        if _distributed.get_global_rank() == 0:
            self._start(experiment_name, run_name, tracking_uri, tags, run_id)
        atexit.register(self.close)

    def _start(
        self,
        experiment_name: str,
        run_name: Optional[str],
        tracking_uri: Optional[str],
        tags: Optional[Mapping[str, str]],
        run_id: Optional[str],
    ) -> None:
        mlflow = _import_mlflow()
        client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)
        if run_id is not None:
            run = client.get_run(run_id)
            client.update_run(run_id, status="RUNNING")
        else:
            experiment = client.get_experiment_by_name(experiment_name)
            experiment_id = (
                experiment.experiment_id
                if experiment is not None
                else client.create_experiment(experiment_name)
            )
            run = client.create_run(experiment_id, run_name=run_name, tags=dict(tags or {}))
        self._client = client
        self._run_id = run.info.run_id
        self._experiment_id = run.info.experiment_id
        logger.info(f"Logging metrics to MLflow run {self._run_id} at {client.tracking_uri}")

    @property
    def client(self) -> Optional[Any]:
        """The ``MlflowClient`` on rank 0 before :meth:`close`; None otherwise."""
        return self._client

    @property
    def run_id(self) -> Optional[str]:
        """ID of the MLflow run (None off rank 0)."""
        return self._run_id

    @property
    def experiment_id(self) -> Optional[str]:
        """ID of the MLflow experiment holding the run (None off rank 0)."""
        return self._experiment_id

    def log(self, name: str, data: Scalar, step: int) -> None:
        """Log ``data`` as metric ``name`` at ``step``; NaN and infinities are kept.

        Args:
            name: metric name (sanitized for MLflow).
            data: an int, a float, or a tensor/ndarray with one element.
            step: the step the value belongs to.

        Raises:
            ValueError: ``data`` has more than one element (on rank 0).
            TypeError: ``data`` cannot be converted to float, or ``step`` is not an integer
                (on rank 0).
        """
        if self._client is None:
            return
        step = _as_step(name, step)
        value = _metric_to_float(name, data, step)
        self._client.log_metric(self._run_id, _mlflow_key(name), value, step=step)

    def log_dict(self, payload: Mapping[str, Scalar], step: int) -> None:
        """Log every item of ``payload`` at ``step`` in one request.

        Args:
            payload: metric names mapped to values.
            step: the step the values belong to.

        Raises:
            ValueError: a value has more than one element (on rank 0; nothing is logged).
            TypeError: a value cannot be converted to float, or ``step`` is not an integer
                (on rank 0; nothing is logged).
        """
        if self._client is None or not payload:
            return
        step = _as_step(next(iter(payload)), step)
        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        metrics: List[Any] = [
            Metric(_mlflow_key(name), _metric_to_float(name, data, step), timestamp, step)
            for name, data in payload.items()
        ]
        self._client.log_batch(self._run_id, metrics=metrics)

    def log_hparams(self, hparams: Mapping[str, Any]) -> None:
        """Record hyper-parameters as run parameters (values are stored as strings).

        Args:
            hparams: parameter names mapped to values.
        """
        if self._client is None or not hparams:
            return
        from mlflow.entities import Param

        params = [Param(_mlflow_key(name), str(value)) for name, value in hparams.items()]
        self._client.log_batch(self._run_id, params=params)

    def flush(self) -> None:
        """Nothing to do: every call is sent to MLflow right away."""

    def close(self) -> None:
        """Mark the run FINISHED; later calls (and logging after it) do nothing."""
        if self._client is None:
            return
        client, self._client = self._client, None
        client.set_terminated(self._run_id)
