import logging
import os
import warnings
from pathlib import Path
from typing import Any, List, Optional, Tuple

import pytest
import torch

from torchtnt.framework._test_utils import (
    DummyFitUnit,
    DummyTrainUnit,
    generate_random_dataloader,
)
from torchtnt.framework.callbacks.base_checkpointer import BaseCheckpointer
from torchtnt.framework.callbacks.checkpointer_types import RestoreOptions
from torchtnt.framework.fit import fit
from torchtnt.framework.state import State
from torchtnt.framework.train import train
from torchtnt.framework.unit import AppStateMixin
from torchtnt.utils.checkpoint import BestCheckpointConfig

META = ".done"


class RecordingCheckpointer(BaseCheckpointer):
    """Writes an empty directory plus its metadata marker; records every save and restore."""

    metadata_fnames = [META]
    restored: List[Tuple[str, Any]] = []

    def __init__(self, dirpath: str, **kwargs: Any) -> None:
        super().__init__(dirpath, **kwargs)
        self.saved: List[Tuple[str, str]] = []

    def _checkpoint_impl(
        self, state: State, unit: AppStateMixin, *, checkpoint_id: str, hook: str
    ) -> bool:
        os.makedirs(checkpoint_id, exist_ok=True)
        Path(checkpoint_id, META).write_bytes(b"")
        self.saved.append((os.path.basename(checkpoint_id), hook))
        return True

    @staticmethod
    def restore(
        path: str,
        unit: AppStateMixin,
        *,
        train_dataloader: Optional[Any] = None,
        process_group: Optional[Any] = None,
        restore_options: Optional[RestoreOptions] = None,
        **kwargs: Any,
    ) -> None:
        RecordingCheckpointer.restored.append((os.path.basename(path), kwargs))


def _train(
    tmp_path: Path, epochs: int = 2, unit: Optional[Any] = None, **kwargs: Any
) -> RecordingCheckpointer:
    cb = RecordingCheckpointer(str(tmp_path), **kwargs)
    train(
        unit or DummyTrainUnit(2),
        generate_random_dataloader(6, 2, 2),
        max_epochs=epochs,
        callbacks=[cb],
    )
    return cb


def test_train_step_cadence_and_final_save(tmp_path: Path) -> None:
    cb = _train(tmp_path, save_every_n_train_steps=2)
    assert cb.saved == [
        ("epoch_0_train_step_2", "on_train_step_end"),
        ("epoch_1_train_step_4", "on_train_step_end"),
        ("epoch_1_train_step_6", "on_train_step_end"),
        ("epoch_2_train_step_6", "on_train_end"),
    ]


def test_epoch_cadence_skips_existing_final(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        cb = _train(tmp_path, save_every_n_epochs=1)
    assert [name for name, _ in cb.saved] == ["epoch_1_train_step_3", "epoch_2_train_step_6"]
    assert "Final checkpoint already exists, skipping." in caplog.text


def test_fit_omits_final_when_train_steps_unchanged(tmp_path: Path) -> None:
    cb = RecordingCheckpointer(str(tmp_path), save_every_n_train_steps=2)
    fit(
        DummyFitUnit(2),
        generate_random_dataloader(6, 2, 2),
        generate_random_dataloader(4, 2, 2),
        max_epochs=2,
        callbacks=[cb],
    )
    assert [name for name, _ in cb.saved] == [
        "epoch_0_train_step_2_eval_step_0",
        "epoch_1_train_step_4_eval_step_2",
        "epoch_1_train_step_6_eval_step_2",
    ]


def test_keep_last_n_deletes_oldest_after_new_is_complete(tmp_path: Path) -> None:
    for stale in ("epoch_0_train_step_1", "epoch_0_train_step_2"):
        (tmp_path / stale).mkdir()
        (tmp_path / stale / META).write_bytes(b"")
    (tmp_path / "epoch_9_train_step_99").mkdir()  # incomplete: never listed nor deleted
    _train(tmp_path, epochs=3, save_every_n_epochs=1, keep_last_n_checkpoints=2)
    assert sorted(os.listdir(tmp_path)) == [
        "epoch_2_train_step_6",
        "epoch_3_train_step_9",
        "epoch_9_train_step_99",
    ]


def test_best_config_keeps_best_and_warns_once_for_missing_metric(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class LossUnit(DummyTrainUnit):
        losses = iter([0.5, 0.9, 0.1, 0.7, 0.8, 0.6])

        def train_step(self, state: State, data: Any) -> Any:
            out = super().train_step(state, data)
            if self.train_progress.num_steps_completed >= 1:
                self.train_loss = next(self.losses)
            return out

    config = BestCheckpointConfig("train_loss", "min")
    with caplog.at_level(logging.ERROR):
        _train(
            tmp_path,
            unit=LossUnit(2),
            save_every_n_train_steps=1,
            keep_last_n_checkpoints=2,
            best_checkpoint_config=config,
        )
    # step 1 had no metric yet: saved plainly and never tracked nor deleted
    assert sorted(os.listdir(tmp_path)) == [
        "epoch_0_train_step_1",
        "epoch_0_train_step_2_train_loss=0.5",
        "epoch_1_train_step_4_train_loss=0.1",
    ]
    assert caplog.text.count("'train_loss'") == 1


def test_metric_values(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cb = RecordingCheckpointer(
        str(tmp_path), best_checkpoint_config=BestCheckpointConfig("m", "max")
    )
    unit = DummyTrainUnit(2)
    assert cb._get_tracked_metric_value(unit) is None  # missing
    for value, expected in [
        (None, None),
        ("abc", None),
        (torch.tensor([1.0, 2.0]), None),
        (float("nan"), None),
        (float("inf"), None),
        (torch.tensor(2.5), 2.5),
        ("3", 3.0),
    ]:
        unit.m = value
        assert cb._get_tracked_metric_value(unit) == expected
    unit.m = [1.0]
    with pytest.raises(TypeError):
        cb._get_tracked_metric_value(unit)
    unit.m = torch.tensor(1.5, requires_grad=True) * 2  # a loss still in the graph
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cb._get_tracked_metric_value(unit) == 3.0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"save_every_n_train_steps": 0},
            ValueError,
            "Invalid value passed for save_every_n_train_steps. Expected to receive either None or positive number, but received 0",
        ),
        ({"save_every_n_epochs": -1}, ValueError, "save_every_n_epochs"),
        ({"save_every_n_eval_steps": 0}, ValueError, "save_every_n_eval_steps"),
        ({"save_every_n_eval_epochs": 0}, ValueError, "save_every_n_eval_epochs"),
        ({"save_every_n_predict_steps": 0}, ValueError, "save_every_n_predict_steps"),
        ({"keep_last_n_checkpoints": 0}, ValueError, "keep_last_n_checkpoints"),
        ({"save_every_n_train_steps": 1.5}, TypeError, "save_every_n_train_steps=1.5"),
        ({"save_every_n_train_steps": True}, TypeError, "save_every_n_train_steps"),
        (
            {"best_checkpoint_config": BestCheckpointConfig("loss", "mean")},
            ValueError,  # type: ignore[arg-type]
            "Invalid value passed for best_checkpoint_config.mode. Expected to receive 'min' or 'max', but received mean",
        ),
        (
            {"best_checkpoint_config": BestCheckpointConfig("", "min")},
            ValueError,
            "monitored_metric",
        ),
        ({"process_group": "gloo"}, TypeError, "process_group='gloo' is invalid: expected a"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, kwargs: Any, error: type, match: str) -> None:
    (tmp_path / "keep").mkdir()
    with pytest.raises(error, match=match.replace(".", r"\.").replace("(", r"\(")):
        RecordingCheckpointer(str(tmp_path), **kwargs)
    assert os.listdir(tmp_path) == ["keep"]


def test_bad_dirpaths(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="dirpath=5"):
        RecordingCheckpointer(5)  # type: ignore[arg-type]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot be written"):
        RecordingCheckpointer(str(blocker / "sub"))
    assert RecordingCheckpointer(tmp_path / "new" / "dir").dirpath == str(tmp_path / "new" / "dir")  # type: ignore[arg-type]


def test_world_size_without_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="init_process_group"):
        RecordingCheckpointer(str(tmp_path))


def test_restore_from_latest_and_best_skip_incomplete(tmp_path: Path) -> None:
    for name, done in [
        ("epoch_0_train_step_1_loss=0.2", True),
        ("epoch_0_train_step_2_loss=0.1", True),
        ("epoch_0_train_step_3_loss=0.05", False),
    ]:
        (tmp_path / name).mkdir()
        if done:
            (tmp_path / name / META).write_bytes(b"")
    RecordingCheckpointer.restored.clear()
    unit = DummyTrainUnit(2)
    assert RecordingCheckpointer.restore_from_latest(str(tmp_path), unit, extra=1)
    assert RecordingCheckpointer.restore_from_best(str(tmp_path), unit, "loss", "max")
    assert not RecordingCheckpointer.restore_from_best(str(tmp_path), unit, "acc", "max")
    assert not RecordingCheckpointer.restore_from_latest(str(tmp_path / "empty"), unit)
    assert RecordingCheckpointer.restored == [
        ("epoch_0_train_step_2_loss=0.1", {"extra": 1}),
        ("epoch_0_train_step_1_loss=0.2", {}),
    ]
    with pytest.raises(ValueError, match="mode='avg'"):
        RecordingCheckpointer.restore_from_best(str(tmp_path), unit, "loss", "avg")  # type: ignore[arg-type]
