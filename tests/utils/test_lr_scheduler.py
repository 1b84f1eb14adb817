import torch

import torchtnt.utils
from torchtnt.utils.lr_scheduler import TLRScheduler


def test_tlrscheduler_is_torch_base_scheduler() -> None:
    base = getattr(torch.optim.lr_scheduler, "LRScheduler", None)
    expected = base if base is not None else torch.optim.lr_scheduler._LRScheduler
    assert TLRScheduler is expected
    assert torchtnt.utils.TLRScheduler is TLRScheduler


def test_builtin_schedulers_are_tlrschedulers() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    step_lr = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    assert isinstance(step_lr, TLRScheduler)
    assert not isinstance(optimizer, TLRScheduler)
