import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest
import torch

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

import torchtnt.utils.loggers.tensorboard as tb_module  # noqa: E402
from torchtnt.utils.anomaly_evaluation import ThresholdEvaluator  # noqa: E402
from torchtnt.utils.distributed import spawn_multi_process  # noqa: E402
from torchtnt.utils.loggers.anomaly_logger import TrackedMetric  # noqa: E402
from torchtnt.utils.loggers.logger import Scalar  # noqa: E402
from torchtnt.utils.loggers.tensorboard import TensorBoardLogger  # noqa: E402

_EVERYTHING = {"scalars": 0, "tensors": 0, "histograms": 0, "images": 0}


def _load(log_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(log_dir), size_guidance=_EVERYTHING)
    accumulator.Reload()
    return accumulator


def _scalars(accumulator: EventAccumulator, tag: str) -> List[Tuple[int, float]]:
    """Scalars written with new_style=True are stored as tensors of the scalars plugin."""
    assert accumulator.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"
    return [
        (event.step, tensor_util.make_ndarray(event.tensor_proto).item())
        for event in accumulator.Tensors(tag)
    ]


def test_scalars_read_back_exactly(tmp_path: Path) -> None:
    logger = TensorBoardLogger(str(tmp_path))
    logger.log("loss", 1.5, 1)
    logger.log("loss", torch.tensor([0.25]), 2)
    logger.log_dict({"acc": np.array([[0.5]]), "lr": 2}, 2)
    logger.log_dict({"acc": 0.75}, 3)
    logger.close()
    accumulator = _load(tmp_path)
    assert sorted(accumulator.Tags()["tensors"]) == ["acc", "loss", "lr"]
    assert _scalars(accumulator, "loss") == [(1, 1.5), (2, 0.25)]
    assert _scalars(accumulator, "acc") == [(2, 0.5), (3, 0.75)]
    assert _scalars(accumulator, "lr") == [(2, 2.0)]


def test_nan_and_inf_are_logged(tmp_path: Path) -> None:
    logger = TensorBoardLogger(str(tmp_path))
    logger.log("x", float("nan"), 0)
    logger.log("x", torch.tensor(math.inf), 1)
    logger.log("x", -math.inf, 2)
    logger.close()
    values = _scalars(_load(tmp_path), "x")
    assert [step for step, _ in values] == [0, 1, 2]
    assert math.isnan(values[0][1]) and values[1][1] == math.inf and values[2][1] == -math.inf


def test_non_scalar_raises_clear_error_before_the_writer(tmp_path: Path) -> None:
    logger = TensorBoardLogger(str(tmp_path))
    with pytest.raises(ValueError, match=r"^Cannot log metric 'w' at step 5: Scalar tensor"):
        logger.log("w", torch.ones(2, 3), 5)
    with pytest.raises(TypeError, match=r"^Cannot log metric 'w' at step 5: scalar='high'"):
        logger.log_dict({"w": "high"}, 5)
    logger.close()
    assert "w" not in _load(tmp_path).Tags()["tensors"]


def test_text_histogram_image_and_grouped_scalars(tmp_path: Path) -> None:
    logger = TensorBoardLogger(str(tmp_path))
    logger.log_text("notes", "hello **tnt**", 4)
    logger.log_histogram("weights", torch.arange(10.0), 5)
    logger.log_histogram_raw(
        "raw", min=0.0, max=2.0, num=3, sum=3.0, sum_squares=5.0,
        bucket_limits=[1.0, 2.0], bucket_counts=[1, 2], global_step=6,
    )  # fmt: skip
    logger.log_image("img", torch.zeros(3, 4, 5), 6)
    logger.log_images("imgs", torch.zeros(2, 3, 4, 4), 7)
    logger.log_scalars("group", {"a": 1.0, "b": 2.0}, 8)
    logger.flush()
    accumulator = _load(tmp_path)
    (text,) = accumulator.Tensors("notes/text_summary")
    assert text.step == 4
    assert tensor_util.make_ndarray(text.tensor_proto).tolist() == [b"hello **tnt**"]
    (hist,) = accumulator.Histograms("weights")
    assert (hist.step, hist.histogram_value.num, hist.histogram_value.sum) == (5, 10, 45.0)
    (raw,) = accumulator.Histograms("raw")
    assert (raw.step, raw.histogram_value.num, list(raw.histogram_value.bucket)) == (6, 3, [1, 2])
    (image,) = accumulator.Images("img")
    assert (image.step, image.width, image.height) == (6, 5, 4)
    assert accumulator.Tags()["images"] == ["img", "imgs"]
    assert [event.step for event in accumulator.Images("imgs")] == [7]  # one grid image
    for sub_tag, value in (("a", 1.0), ("b", 2.0)):
        (event,) = _load(tmp_path / f"group_{sub_tag}").Scalars("group")
        assert (event.step, event.value) == (8, value)
    logger.close()


def test_hparams(tmp_path: Path) -> None:
    logger = TensorBoardLogger(str(tmp_path))
    logger.log_hparams({"lr": 0.1, "optimizer": "sgd"}, {"hp/accuracy": 0.5})
    logger.close()
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    accumulator = _load(run_dir)
    (event,) = accumulator.Scalars("hp/accuracy")
    assert event.value == 0.5
    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["lr"].number_value == 0.1
    assert hparams["optimizer"].string_value == "sgd"


def test_close_then_everything_is_a_no_op(tmp_path: Path) -> None:
    logger = TensorBoardLogger(str(tmp_path))
    assert logger.path == str(tmp_path)
    logger.log("x", 1.0, 0)
    logger.close()
    assert logger.writer is None
    logger.log("x", 2.0, 1)
    logger.log_text("t", "late", 1)
    logger.flush()
    logger.close()
    assert _scalars(_load(tmp_path), "x") == [(0, 1.0)]


def test_non_zero_rank_has_no_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    log_dir = tmp_path / "tb"
    logger = TensorBoardLogger(str(log_dir))
    assert logger.writer is None
    logger.log("x", 1.0, 0)
    logger.log_dict({"y": 2.0}, 0)
    logger.log_histogram("h", torch.ones(3), 0)
    logger.close()
    assert not log_dir.exists()


class _AlertingLogger(TensorBoardLogger):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.anomalies: List[Tuple[str, Scalar, int]] = []

    def on_anomaly_detected(self, name: str, data: Scalar, step: int) -> None:
        self.anomalies.append((name, data, step))


def test_anomaly_detection_runs_after_writing(tmp_path: Path) -> None:
    tracked = [TrackedMetric("loss", [ThresholdEvaluator(max_val=1.0)])]
    logger = _AlertingLogger(str(tmp_path), tracked)
    logger.log_dict({"loss": 0.5, "acc": 3.0}, 1)
    logger.log("loss", 4.0, 2)
    logger.close()
    assert logger.anomalies == [("loss", 4.0, 2)]
    assert _scalars(_load(tmp_path), "loss") == [(1, 0.5), (2, 4.0)]


def test_anomaly_detection_also_runs_without_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    logger = _AlertingLogger("unused", [TrackedMetric("loss", [ThresholdEvaluator(max_val=1.0)])])
    logger.log("loss", 4.0, 2)
    assert logger.anomalies == [("loss", 4.0, 2)]


class _FakeWriter:
    """Stands in for SummaryWriter to check what the logger passes to it."""

    created: List[Dict[str, Any]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _FakeWriter.created.append({"args": args, **kwargs})
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_summary_writer_is_a_patchable_module_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tb_module, "SummaryWriter", _FakeWriter)
    _FakeWriter.created = []
    logger = TensorBoardLogger(str(tmp_path), None, flush_secs=7, comment="x")
    assert _FakeWriter.created == [
        {"args": (), "log_dir": str(tmp_path), "flush_secs": 7, "comment": "x"}
    ]
    writer: Optional[Any] = logger.writer
    logger.close()
    assert writer is not None and writer.closed and logger.writer is None


def test_missing_tensorboard_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tb_module, "SummaryWriter", None)
    with pytest.raises(ImportError, match=r"pip install torchtnt\[tensorboard\]"):
        TensorBoardLogger("unused")


def test_unwritable_log_dir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"^path=.*file' is a file: expected a directory"):
        TensorBoardLogger(str(tmp_path / "file"))
    with pytest.raises(ValueError, match=r"^path=.*file/runs' cannot be created: .* is a file"):
        TensorBoardLogger(str(tmp_path / "file" / "runs"))


def test_importing_the_package_does_not_import_tensorboard() -> None:
    code = (
        "import sys\n"
        "import torchtnt.utils.loggers as loggers\n"
        "from torchtnt.utils.loggers import CSVLogger, InMemoryLogger, MetricLogger\n"
        "assert 'tensorboard' not in sys.modules, 'tensorboard imported'\n"
        "assert 'torch.utils.tensorboard' not in sys.modules\n"
        "assert 'mlflow' not in sys.modules\n"
        "assert loggers.TensorBoardLogger.__name__ == 'TensorBoardLogger'\n"
        "assert 'torch.utils.tensorboard' in sys.modules\n"
        "assert sorted(loggers.__all__) == sorted(n for n in loggers.__all__ if hasattr(loggers, n))\n"
    )
    root = Path(__file__).parents[3]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def _log_on_each_rank(log_dir: str) -> Tuple[int, bool]:
    from torchtnt.utils.distributed import get_global_rank

    rank = get_global_rank()
    logger = TensorBoardLogger(log_dir)
    logger.log("rank", rank, 3)
    logger.log_dict({"loss": 1.0 / (rank + 1)}, 3)
    has_writer = logger.writer is not None
    logger.close()
    return rank, has_writer


@pytest.mark.distributed
def test_only_rank_zero_writes_under_torch_distributed(tmp_path: Path) -> None:
    log_dir = tmp_path / "tb"
    assert spawn_multi_process(2, "gloo", _log_on_each_rank, str(log_dir)) == [
        (0, True),
        (1, False),
    ]
    assert len(os.listdir(log_dir)) == 1  # a single event file
    accumulator = _load(log_dir)
    assert _scalars(accumulator, "rank") == [(3, 0.0)]
    assert _scalars(accumulator, "loss") == [(3, 1.0)]
