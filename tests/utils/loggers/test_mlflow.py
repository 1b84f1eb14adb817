import math
import sys
from pathlib import Path
from typing import Any, List, Tuple

import numpy as np
import pytest
import torch

from torchtnt.utils.loggers.mlflow import MLflowLogger, _mlflow_key

mlflow = pytest.importorskip("mlflow")


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    # MLflow 3 keeps the plain-directory store behind this opt-in.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").as_uri()


def _history(client: Any, run_id: str, key: str) -> List[Tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_metrics_params_and_run_lifecycle(tracking_uri: str) -> None:
    logger = MLflowLogger(
        experiment_name="exp", run_name="first", tracking_uri=tracking_uri, tags={"team": "tnt"}
    )
    run_id = logger.run_id
    assert run_id is not None
    logger.log("loss", torch.tensor(0.5), 1)
    logger.log("loss", 0.25, 2)
    logger.log_dict({"acc": np.array([0.75]), "lr": 1}, 2)
    logger.log_hparams({"lr": 0.1, "optimizer": "sgd"})
    logger.flush()
    logger.close()
    assert logger.client is None

    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "first"
    assert run.info.experiment_id == logger.experiment_id
    assert client.get_experiment(logger.experiment_id).name == "exp"
    assert run.data.tags["team"] == "tnt"
    assert run.data.params == {"lr": "0.1", "optimizer": "sgd"}
    assert _history(client, run_id, "loss") == [(1, 0.5), (2, 0.25)]
    assert _history(client, run_id, "acc") == [(2, 0.75)]
    assert _history(client, run_id, "lr") == [(2, 1.0)]


def test_second_logger_reuses_experiment_and_can_resume_run(tracking_uri: str) -> None:
    first = MLflowLogger(experiment_name="exp", tracking_uri=tracking_uri)
    first.close()
    second = MLflowLogger(experiment_name="exp", tracking_uri=tracking_uri)
    assert second.experiment_id == first.experiment_id and second.run_id != first.run_id
    second.close()
    resumed = MLflowLogger(tracking_uri=tracking_uri, run_id=first.run_id)
    resumed.log("x", 3, 9)
    resumed.close()
    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)
    assert _history(client, first.run_id, "x") == [(9, 3.0)]


def test_nan_inf_and_names_mlflow_would_reject(tracking_uri: str) -> None:
    logger = MLflowLogger(tracking_uri=tracking_uri)
    logger.log_dict({"Train: steps per second (step granularity)": math.nan, "b": math.inf}, 0)
    logger.close()
    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)
    ((step, value),) = _history(client, logger.run_id, "Train: steps per second _step granularity_")
    assert step == 0 and math.isnan(value)
    assert _history(client, logger.run_id, "b") == [(0, math.inf)]


def test_mlflow_key() -> None:
    assert _mlflow_key("train/loss") == "train/loss"
    assert _mlflow_key("/a//b (x)%/") == "a/b _x__"
    assert _mlflow_key("()") == "__"
    assert _mlflow_key("/") == "_"


def test_non_scalar_rejected_and_nothing_logged(tracking_uri: str) -> None:
    logger = MLflowLogger(tracking_uri=tracking_uri)
    with pytest.raises(ValueError, match=r"^Cannot log metric 'w' at step 1: Scalar tensor"):
        logger.log_dict({"ok": 1.0, "w": torch.ones(3)}, 1)
    logger.close()
    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)
    assert client.get_run(logger.run_id).data.metrics == {}


def test_steps_must_be_integers(tracking_uri: str) -> None:
    logger = MLflowLogger(tracking_uri=tracking_uri)
    with pytest.raises(TypeError, match=r"^step=1.5 \(logging 'a'\) is invalid: expected an int"):
        logger.log("a", 1.0, 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^step='2' \(logging 'b'\) is invalid"):
        logger.log_dict({"b": 1.0}, "2")  # type: ignore[arg-type]
    logger.log("a", 2.0, torch.tensor(3))  # a one-element integer tensor is converted
    logger.log_dict({"b": 4.0}, np.int64(5))
    logger.close()
    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)
    assert _history(client, logger.run_id, "a") == [(3, 2.0)]
    assert _history(client, logger.run_id, "b") == [(5, 4.0)]


def test_close_twice_and_log_after_close_are_no_ops(tracking_uri: str) -> None:
    logger = MLflowLogger(tracking_uri=tracking_uri)
    logger.close()
    logger.close()
    logger.log("x", 1.0, 0)
    logger.log_dict({"y": 1.0}, 0)
    logger.log_hparams({"z": 1})
    client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)
    assert client.get_run(logger.run_id).data.metrics == {}


def test_non_zero_rank_does_not_touch_mlflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "1")
    logger = MLflowLogger(tracking_uri=(tmp_path / "mlruns").as_uri())
    assert logger.client is None and logger.run_id is None
    logger.log("x", 1.0, 0)
    logger.close()
    assert not (tmp_path / "mlruns").exists()


def test_missing_mlflow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # makes `import mlflow` fail
    with pytest.raises(ImportError, match=r"pip install torchtnt\[mlflow\]"):
        MLflowLogger(tracking_uri="file:///unused")


def test_empty_experiment_name() -> None:
    with pytest.raises(ValueError, match=r"^experiment_name='' is invalid"):
        MLflowLogger(experiment_name="")
