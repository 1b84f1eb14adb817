"""The learning-rate scheduler base type used in type hints and attribute tracking."""

import torch

try:
    TLRScheduler = torch.optim.lr_scheduler.LRScheduler
except AttributeError:  # torch releases before LRScheduler became public
    TLRScheduler = torch.optim.lr_scheduler._LRScheduler  # type: ignore[attr-defined,misc]

__all__ = ["TLRScheduler"]
