from pathlib import Path

import pytest

from torchtnt.framework._test_utils import DummyTrainUnit
from torchtnt.framework.callbacks import torchsnapshot_saver
from torchtnt.framework.callbacks.torchsnapshot_saver import (
    TorchSnapshotSaver,
    _exclude_progress_from_replicated,
    _override_knobs,
)


def test_replicated_globs_exclude_progress() -> None:
    app_state = {
        "module": 1,
        "optimizer": 2,
        "train_progress": 3,
        "eval_progress": 4,
        "predict_progress": 5,
    }
    assert _exclude_progress_from_replicated(app_state) == {"module/**", "optimizer/**"}


def test_override_knobs_without_io_limit_is_a_no_op() -> None:
    with _override_knobs(None):
        pass


@pytest.mark.skipif(torchsnapshot_saver.torchsnapshot is not None, reason="torchsnapshot installed")
def test_without_torchsnapshot_errors_say_how_to_install(tmp_path: Path) -> None:
    assert torchsnapshot_saver.Snapshot is None
    with pytest.raises(ImportError, match="pip install torchsnapshot"):
        TorchSnapshotSaver(str(tmp_path))
    # also a RuntimeError, as TorchTNT raises
    with pytest.raises(RuntimeError, match="torchsnapshot"):
        TorchSnapshotSaver.restore(str(tmp_path), DummyTrainUnit(2))
    assert list(tmp_path.iterdir()) == []
