from unittest.mock import MagicMock

import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from torchtnt.framework._loop_utils import (
    _exported_mode_helpers,
    _is_done,
    _is_epoch_done,
    _log_api_usage,
    _maybe_set_distributed_sampler_epoch,
    _reason_epoch_completed,
    _reset_module_training_mode,
    _set_module_training_mode,
)
from torchtnt.utils.progress import Progress


def test_is_done() -> None:
    p = Progress(num_epochs_completed=2, num_steps_completed=10)
    assert _is_done(p, max_epochs=2, max_steps=None)
    assert _is_done(p, max_epochs=None, max_steps=10)
    assert not _is_done(p, max_epochs=3, max_steps=11)
    assert not _is_done(p, max_epochs=None, max_steps=None)


def test_is_epoch_done() -> None:
    p = Progress(num_epochs_completed=0, num_steps_completed=5, num_steps_completed_in_epoch=3)
    assert _is_epoch_done(p, max_steps_per_epoch=3, max_steps=None)
    assert _is_epoch_done(p, max_steps_per_epoch=None, max_steps=5)
    assert not _is_epoch_done(p, max_steps_per_epoch=4, max_steps=6)


def test_reason_epoch_completed() -> None:
    p = Progress(num_epochs_completed=1, num_steps_completed=6, num_steps_completed_in_epoch=3)
    assert (
        _reason_epoch_completed(p, 3, 6, True)
        == "Train epoch 2 ended as it reached end of train dataloader"
    )
    assert (
        _reason_epoch_completed(p, 3, 6, False)
        == "Train epoch 2 ended as max steps per epoch reached: 3"
    )
    assert (
        _reason_epoch_completed(p, None, 6, False) == "Train epoch 2 ended as max steps reached: 6"
    )
    assert (
        _reason_epoch_completed(p, None, None, False)
        == "Unable to determine reason for stopping train epoch 2"
    )


def test_set_distributed_sampler_epoch() -> None:
    dataset = TensorDataset(torch.arange(4))
    sampler = DistributedSampler(dataset, num_replicas=1, rank=0)
    _maybe_set_distributed_sampler_epoch(DataLoader(dataset, sampler=sampler), 3)
    assert sampler.epoch == 3
    fake = MagicMock()
    _maybe_set_distributed_sampler_epoch(fake, 2)  # not a DataLoader: untouched
    fake.sampler.set_epoch.assert_not_called()
    _maybe_set_distributed_sampler_epoch(DataLoader(dataset), 1)  # sampler without set_epoch


def test_module_modes_round_trip() -> None:
    a, b = torch.nn.Linear(1, 1), torch.nn.Dropout()
    b.eval()
    modules = {"a": a, "b": b}
    prior = _set_module_training_mode(modules, False)
    assert prior == {"a": True, "b": False}
    assert not a.training and not b.training
    _reset_module_training_mode(modules, prior)
    assert a.training and not b.training
    _reset_module_training_mode({"a": a}, {})  # modules absent from prior are left alone
    assert a.training


def test_exported_module_modes() -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop = torch.nn.Dropout(0.5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.drop(x)

    exported = torch.export.export(Net(), (torch.ones(4),)).module()
    prior = _set_module_training_mode({"m": exported}, False)
    assert exported.training is False
    if _exported_mode_helpers() is not None:
        assert torch.equal(exported(torch.ones(1000)), torch.ones(1000))  # dropout off in eval
    _set_module_training_mode({"m": exported}, True)
    assert exported.training is True
    assert set(prior) == {"m"}


def test_log_api_usage_runs() -> None:
    assert _log_api_usage("train") is None
