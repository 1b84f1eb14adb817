import random

import numpy as np
import torch

from torchtnt.framework._test_utils import (
    DummyEvalUnit,
    DummyFitUnit,
    DummyPredictUnit,
    DummyStatefulDataLoader,
    DummyTrainUnit,
    generate_random_dataloader,
    get_dummy_eval_state,
    get_dummy_fit_state,
    get_dummy_predict_state,
    get_dummy_train_state,
)
from torchtnt.framework.callbacks._checkpoint_utils import (
    _get_epoch,
    _get_step_phase_mapping,
    _prepare_app_state_for_checkpoint,
    _prepare_app_state_for_restore,
    _RNGStates,
)
from torchtnt.framework.callbacks.checkpointer_types import RestoreOptions
from torchtnt.framework.state import ActivePhase
from torchtnt.utils.checkpoint import Phase


def test_epoch_and_step_mapping_per_entry_point() -> None:
    unit = DummyFitUnit(2)
    for _ in range(3):
        unit.train_progress.increment_step()
    unit.train_progress.increment_epoch()
    unit.eval_progress.increment_step()
    assert _get_epoch(get_dummy_train_state(), unit) == 1
    assert _get_step_phase_mapping(get_dummy_train_state(), unit) == {Phase.TRAIN: 3}
    assert _get_step_phase_mapping(get_dummy_fit_state(), unit) == {
        Phase.TRAIN: 3,
        Phase.EVALUATE: 1,
    }
    assert _get_epoch(get_dummy_eval_state(), unit) == 0
    assert _get_step_phase_mapping(get_dummy_eval_state(), unit) == {Phase.EVALUATE: 1}
    predict_unit = DummyPredictUnit(2)
    predict_unit.predict_progress.increment_step()
    assert _get_step_phase_mapping(get_dummy_predict_state(), predict_unit) == {Phase.PREDICT: 1}


def test_app_state_for_checkpoint() -> None:
    unit = DummyTrainUnit(2)
    dl = DummyStatefulDataLoader(generate_random_dataloader(4, 2, 2))
    state = get_dummy_train_state(dl)
    base = {"module", "optimizer", "loss_fn", "train_progress"}
    assert set(_prepare_app_state_for_checkpoint(state, unit, intra_epoch=False)) == base
    mid = _prepare_app_state_for_checkpoint(state, unit, intra_epoch=True)
    assert set(mid) == base | {"train_dataloader"} and mid["train_dataloader"] is dl
    # a plain list is not stateful: not added
    assert set(_prepare_app_state_for_checkpoint(get_dummy_train_state(), unit, True)) == base
    # evaluate / predict drop the weights
    assert set(
        _prepare_app_state_for_checkpoint(get_dummy_eval_state(), DummyEvalUnit(2), False)
    ) == {"eval_progress"}
    # fit while evaluating mid train epoch also saves the train dataloader
    fit_unit = DummyFitUnit(2)
    fit_unit.train_progress.increment_step()
    fit_state = get_dummy_fit_state()
    fit_state._train_state._dataloader = dl  # type: ignore[union-attr]
    fit_state._active_phase = ActivePhase.EVALUATE
    assert "train_dataloader" in _prepare_app_state_for_checkpoint(fit_state, fit_unit, True)


def test_app_state_for_restore_honours_options() -> None:
    unit = DummyFitUnit(2)
    full = _prepare_app_state_for_restore(unit, RestoreOptions())
    assert set(full) == {"module", "optimizer", "loss_fn", "train_progress", "eval_progress"}
    some = _prepare_app_state_for_restore(
        unit,
        RestoreOptions(
            restore_modules=False, restore_optimizers=False, restore_eval_progress=False
        ),
    )
    assert set(some) == {"train_progress"}


def test_rng_states_round_trip() -> None:
    rng = _RNGStates(rank=3)
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    saved = rng.state_dict()
    assert list(saved) == ["rank_3"]
    expected = (torch.rand(2), np.random.rand(), random.random())
    rng.load_state_dict(saved)
    assert torch.equal(torch.rand(2), expected[0])
    assert np.random.rand() == expected[1] and random.random() == expected[2]
    _RNGStates(rank=0).load_state_dict(saved)  # another rank's entry: nothing happens
