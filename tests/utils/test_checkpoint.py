import logging
import os
import pickle
from pathlib import Path
from typing import List

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from torchtnt.utils.checkpoint import (
    BestCheckpointConfig,
    CheckpointManager,
    CheckpointPath,
    MetricData,
    Phase,
    _metadata_exists,
    _retrieve_checkpoint_dirpaths,
    does_checkpoint_exist,
    get_best_checkpoint_path,
    get_checkpoint_dirpaths,
    get_latest_checkpoint_path,
)

META = ".metadata"


def _make(root: Path, name: str, complete: bool = True) -> str:
    path = root / name
    path.mkdir(parents=True)
    if complete:
        (path / META).write_bytes(b"")
    return str(path)


# ---------------------------------------------------------------------------------------
# naming
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "step, metric, expected",
    [
        ({Phase.TRAIN: 10}, None, "epoch_0_train_step_10"),
        ({Phase.EVALUATE: 5, Phase.TRAIN: 20}, None, "epoch_0_train_step_20_eval_step_5"),
        (
            {Phase.TRAIN: 10, Phase.EVALUATE: 15},
            MetricData("val_loss", 13.0),
            "epoch_0_train_step_10_eval_step_15_val_loss=13.0",
        ),
        ({Phase.EVALUATE: 4}, None, "epoch_0_eval_step_4"),
        ({Phase.PREDICT: 2}, None, "epoch_0_predict_step_2"),
        (100, MetricData("val_loss", 0.002), "epoch_0_step_100_val_loss=0.002"),
        (7, MetricData("acc", 1e-05), "epoch_0_step_7_acc=1e-05"),
        (7, MetricData("acc", -0.01), "epoch_0_step_7_acc=-0.01"),
    ],
)
def test_path_names_are_exact(step, metric, expected: str) -> None:
    assert CheckpointPath("/ckpts/", 0, step, metric).path == f"/ckpts/{expected}"
    assert str(CheckpointPath("/ckpts", 0, step, metric)) == f"/ckpts/{expected}"


@pytest.mark.parametrize(
    "path",
    [
        "/a/b/epoch_0_train_step_10",
        "/a/epoch_1_train_step_20_eval_step_5",
        "/a/epoch_0_train_step_10_eval_step_15_val_loss=13.0",
        "s3://bucket/run/epoch_3_predict_step_2",
        "/a/epoch_0_step_100_val_loss=0.002",
        "/a/epoch_0_step_100_acc=-1.5",
        "/a/epoch_2_step_3_acc=1e-05",
        "x/epoch_1_predict_step_3",
    ],
)
def test_parse_then_format_round_trips(path: str) -> None:
    assert CheckpointPath.from_str(path).path == path
    assert CheckpointPath.from_str(path + "/").path == path


def test_parse_extracts_parts() -> None:
    ckpt = CheckpointPath.from_str("/a/b/epoch_1_train_step_20_eval_step_5_val_loss=0.10/")
    assert ckpt.dirpath == "/a/b"
    assert ckpt.epoch == 1
    assert ckpt.step == {Phase.TRAIN: 20, Phase.EVALUATE: 5}
    assert ckpt.metric_data == MetricData("val_loss", 0.1)
    # the path is regenerated from the parsed parts
    assert ckpt.path == "/a/b/epoch_1_train_step_20_eval_step_5_val_loss=0.1"
    legacy = CheckpointPath.from_str("/a/epoch_0_step_100")
    assert legacy.step == {Phase.NONE: 100} and legacy.metric_data is None
    assert not legacy._is_phase_aware()


@pytest.mark.parametrize(
    "bad",
    ["epoch_0_step_1", "/a/epoch_x_step_1", "/a/epoch_0", "/a/foo", "/a/epoch_0_step_1_loss=abc"],
)
def test_malformed_paths_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match=f"Attempted to parse malformed checkpoint path: {bad}."):
        CheckpointPath.from_str(bad)


def test_nan_and_inf_metrics_are_rejected() -> None:
    with pytest.raises(ValueError, match="can't be NaN"):
        CheckpointPath("/a", 0, 1, MetricData("loss", float("nan")))
    with pytest.raises(ValueError, match="can't be inf"):
        CheckpointPath("/a", 0, 1, MetricData("loss", float("-inf")))


def test_repr_eq_hash_and_pickle() -> None:
    ckpt = CheckpointPath("/a", 1, {Phase.TRAIN: 2}, MetricData("m", 0.5))
    assert repr(ckpt) == (
        "CheckpointPath(dirpath=/a, epoch=1, step={<Phase.TRAIN: 1>: 2}, "
        "metric_data=MetricData(name='m', value=0.5))"
    )
    clone = pickle.loads(pickle.dumps(ckpt))
    assert clone == ckpt and clone.path == ckpt.path
    assert ckpt != CheckpointPath("/a", 1, {Phase.TRAIN: 2}, MetricData("m", 0.6))
    assert len({ckpt, clone}) == 1
    assert str(Phase.EVALUATE) == "evaluate" and str(Phase.NONE) == "none"


@pytest.mark.parametrize(
    "newer, older",
    [
        ("/a/epoch_1_step_1", "/a/epoch_0_step_99"),
        ("/a/epoch_0_step_5", "/a/epoch_0_step_4"),
        # aware vs naive: step sums, tie to the phase-aware one
        ("/a/epoch_0_train_step_3_eval_step_2", "/a/epoch_0_step_4"),
        ("/a/epoch_0_train_step_3", "/a/epoch_0_step_3"),
        ("/a/epoch_0_step_4", "/a/epoch_0_train_step_3"),
        # both aware: the one with an eval step wins if only one has it
        ("/a/epoch_0_train_step_1_eval_step_1", "/a/epoch_0_train_step_9"),
        # otherwise (predict, eval, train) lexicographically
        ("/a/epoch_0_train_step_2_eval_step_5", "/a/epoch_0_train_step_9_eval_step_4"),
        ("/a/epoch_0_train_step_10_eval_step_4", "/a/epoch_0_train_step_9_eval_step_4"),
        ("/a/epoch_0_predict_step_3", "/a/epoch_0_predict_step_2"),
    ],
)
def test_newer_than(newer: str, older: str) -> None:
    a, b = CheckpointPath.from_str(newer), CheckpointPath.from_str(older)
    assert a.newer_than(b) and not b.newer_than(a)
    assert a > b and b < a and sorted([a, b]) == [b, a]
    assert not a.newer_than(CheckpointPath.from_str(newer))


def test_more_optimal_than() -> None:
    lo = CheckpointPath.from_str("/a/epoch_0_step_1_loss=0.1")
    hi = CheckpointPath.from_str("/a/epoch_0_step_0_loss=0.9")
    plain_new = CheckpointPath.from_str("/a/epoch_5_step_9")
    plain_old = CheckpointPath.from_str("/a/epoch_1_step_9")
    assert lo.more_optimal_than(hi, "min") and not hi.more_optimal_than(lo, "min")
    assert hi.more_optimal_than(lo, "max") and not lo.more_optimal_than(hi, "max")
    assert not lo.more_optimal_than(lo, "min")  # strict
    assert lo.more_optimal_than(plain_new, "max") and not plain_new.more_optimal_than(lo, "min")
    assert plain_new.more_optimal_than(plain_old, "min")
    with pytest.raises(AssertionError):
        lo.more_optimal_than(CheckpointPath.from_str("/a/epoch_0_step_1_acc=0.1"), "min")


# ---------------------------------------------------------------------------------------
# discovery
# ---------------------------------------------------------------------------------------


def test_retrieve_lists_complete_checkpoint_dirs_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _make(tmp_path, "epoch_0_train_step_1")
    _make(tmp_path, "epoch_0_train_step_2", complete=False)
    _make(tmp_path, "epoch_1_train_step_3_loss=0.5")
    _make(tmp_path, "not_a_checkpoint")
    (tmp_path / "epoch_9_train_step_9").write_text("a file, not a directory")

    everything = _retrieve_checkpoint_dirpaths(str(tmp_path), metadata_fname=None)
    assert sorted(os.path.basename(p.path) for p in everything) == [
        "epoch_0_train_step_1",
        "epoch_0_train_step_2",
        "epoch_1_train_step_3_loss=0.5",
    ]
    with caplog.at_level(logging.WARNING):
        complete = _retrieve_checkpoint_dirpaths(str(tmp_path), metadata_fname=META)
    assert sorted(os.path.basename(p.path) for p in complete) == [
        "epoch_0_train_step_1",
        "epoch_1_train_step_3_loss=0.5",
    ]
    assert "epoch_0_train_step_2" in caplog.text
    with_metric = _retrieve_checkpoint_dirpaths(str(tmp_path), [".other", META], metric_name="loss")
    assert [p.path for p in with_metric] == [str(tmp_path / "epoch_1_train_step_3_loss=0.5")]
    assert _retrieve_checkpoint_dirpaths(str(tmp_path / "missing"), META) == []
    assert get_checkpoint_dirpaths(str(tmp_path), metadata_fname=META, metric_name="acc") == []


def test_latest_and_best_lookup(tmp_path: Path) -> None:
    _make(tmp_path, "epoch_0_train_step_5_loss=0.3")
    _make(tmp_path, "epoch_1_train_step_10_loss=0.1")
    _make(tmp_path, "epoch_1_train_step_15_loss=0.2")
    _make(tmp_path, "epoch_2_train_step_20", complete=False)  # newest, but incomplete
    root = str(tmp_path)
    assert get_latest_checkpoint_path(root, metadata_fname=META) == os.path.join(
        root, "epoch_1_train_step_15_loss=0.2"
    )
    assert get_latest_checkpoint_path(root) == os.path.join(root, "epoch_2_train_step_20")
    assert get_best_checkpoint_path(root, "loss", "min", metadata_fname=META) == os.path.join(
        root, "epoch_1_train_step_10_loss=0.1"
    )
    assert get_best_checkpoint_path(root, "loss", "max", metadata_fname=[META]) == os.path.join(
        root, "epoch_0_train_step_5_loss=0.3"
    )
    assert get_best_checkpoint_path(root, "acc", "max", metadata_fname=META) is None
    assert get_latest_checkpoint_path(str(tmp_path / "nope"), metadata_fname=META) is None


def test_does_checkpoint_exist_and_metadata_exists(tmp_path: Path) -> None:
    path = _make(tmp_path, "epoch_0_step_1")
    assert does_checkpoint_exist(path, META)
    assert does_checkpoint_exist(path, ["missing", META])
    assert not does_checkpoint_exist(path, "missing")
    assert not does_checkpoint_exist(path, [])
    fs = MemoryFileSystem()
    assert not _metadata_exists(fs, path, META)


def test_memory_filesystem_paths_keep_their_protocol() -> None:
    fs = MemoryFileSystem()
    root = "memory://ckpt-utils-test/run"
    try:
        fs.pipe(f"{root}/epoch_0_step_1/{META}", b"")
        fs.pipe(f"{root}/epoch_0_step_2/{META}", b"")
        latest = get_latest_checkpoint_path(root, metadata_fname=META)
        assert latest is not None and latest.startswith("memory://")
        assert latest.endswith("/run/epoch_0_step_2")
        assert fs.exists(f"{latest}/{META}")
    finally:
        fs.rm("memory://ckpt-utils-test", recursive=True)


# ---------------------------------------------------------------------------------------
# CheckpointManager
# ---------------------------------------------------------------------------------------


def _names(manager: CheckpointManager) -> List[str]:
    return [os.path.basename(p.path) for p in manager._ckpt_paths]


def test_manager_loads_existing_sorted_and_prunes(tmp_path: Path) -> None:
    for name in ("epoch_0_step_3", "epoch_0_step_1", "epoch_1_step_0", "epoch_0_step_2"):
        _make(tmp_path, name)
    _make(tmp_path, "epoch_5_step_0", complete=False)
    manager = CheckpointManager(str(tmp_path), keep_last_n_checkpoints=2, metadata_fnames=[META])
    assert _names(manager) == [
        "epoch_0_step_1",
        "epoch_0_step_2",
        "epoch_0_step_3",
        "epoch_1_step_0",
    ]
    assert len(os.listdir(tmp_path)) == 5  # nothing deleted at init
    manager.prune_surplus_checkpoints()
    assert _names(manager) == ["epoch_0_step_3", "epoch_1_step_0"]
    assert sorted(os.listdir(tmp_path)) == ["epoch_0_step_3", "epoch_1_step_0", "epoch_5_step_0"]
    assert manager.get_last_checkpoint().path == str(tmp_path / "epoch_1_step_0")
    # without a limit nothing is loaded
    assert CheckpointManager(str(tmp_path), metadata_fnames=[META])._ckpt_paths == []


def test_manager_with_best_config_orders_worst_first(tmp_path: Path) -> None:
    for name in ("epoch_0_step_1_loss=0.5", "epoch_0_step_2_loss=0.1", "epoch_0_step_3_loss=0.9"):
        _make(tmp_path, name)
    _make(tmp_path, "epoch_0_step_4")
    config = BestCheckpointConfig("loss", "min")
    manager = CheckpointManager(str(tmp_path), config, 3, metadata_fnames=[META])
    assert _names(manager) == [
        "epoch_0_step_3_loss=0.9",
        "epoch_0_step_1_loss=0.5",
        "epoch_0_step_2_loss=0.1",
    ]
    worse = manager.generate_checkpoint_path(1, {Phase.TRAIN: 5}, MetricData("loss", 1.0))
    better = manager.generate_checkpoint_path(1, {Phase.TRAIN: 6}, MetricData("loss", 0.2))
    assert not manager.should_save_checkpoint(worse)
    assert manager.should_save_checkpoint(better)
    _make(tmp_path, os.path.basename(better.path))
    manager.append_checkpoint(better)  # deletes the worst (0.9), never the best (0.1)
    assert _names(manager) == [
        "epoch_0_step_1_loss=0.5",
        "epoch_1_train_step_6_loss=0.2",
        "epoch_0_step_2_loss=0.1",
    ]
    assert not (tmp_path / "epoch_0_step_3_loss=0.9").exists()
    assert (tmp_path / "epoch_0_step_2_loss=0.1").exists()
    max_manager = CheckpointManager(str(tmp_path), BestCheckpointConfig("loss", "max"), 5, [META])
    assert _names(max_manager)[0] == "epoch_0_step_2_loss=0.1"


@pytest.mark.parametrize("mode, expected", [("min", ["new", "old"]), ("max", ["old", "new"])])
def test_manager_tie_rules(tmp_path: Path, mode: str, expected: List[str]) -> None:
    # equal values: "min" treats the new one as worse (deleted first), "max" as better
    manager = CheckpointManager(str(tmp_path), BestCheckpointConfig("m", mode), None)  # type: ignore[arg-type]
    old = CheckpointPath(str(tmp_path), 0, {Phase.TRAIN: 1}, MetricData("m", 1.0))
    new = CheckpointPath(str(tmp_path), 0, {Phase.TRAIN: 3}, MetricData("m", 1.0))
    manager.append_checkpoint(old)
    manager.append_checkpoint(new)
    ids = {old.path: "old", new.path: "new"}
    assert [ids[p.path] for p in manager._ckpt_paths] == expected
    # a checkpoint without a metric is not tracked when a best config is set
    manager.append_checkpoint(CheckpointPath(str(tmp_path), 0, {Phase.TRAIN: 4}))
    assert len(manager._ckpt_paths) == 2


def test_manager_generate_path_checks_metric_and_removal_errors_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manager = CheckpointManager(str(tmp_path) + "/", keep_last_n_checkpoints=1)
    assert manager.dirpath == str(tmp_path) + "/"
    path = manager.generate_checkpoint_path(0, {Phase.TRAIN: 1})
    assert path.path == str(tmp_path / "epoch_0_train_step_1")
    with pytest.raises(AssertionError):
        manager.generate_checkpoint_path(0, 1, MetricData("loss", 1.0))
    best = CheckpointManager(str(tmp_path), BestCheckpointConfig("acc", "max"))
    with pytest.raises(AssertionError):
        best.generate_checkpoint_path(0, 1, MetricData("loss", 1.0))
    manager.append_checkpoint(path)  # never written to disk
    with caplog.at_level(logging.ERROR):
        manager.append_checkpoint(manager.generate_checkpoint_path(0, {Phase.TRAIN: 2}))
    assert "epoch_0_train_step_1" in caplog.text
    assert _names(manager) == ["epoch_0_train_step_2"]
    assert not manager.does_checkpoint_exist(path)  # no metadata names configured
    _make(tmp_path, "epoch_0_train_step_2")
    assert manager.does_checkpoint_metadata_exist(str(tmp_path / "epoch_0_train_step_2"), META)
