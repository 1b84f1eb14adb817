"""Optimizer helpers: eager state creation and learning-rate extraction for logging."""

from __future__ import annotations

from collections import Counter

import torch


def init_optim_state(optimizer: torch.optim.Optimizer) -> None:
    """Create the optimizer's per-parameter state (e.g. Adam moments) right away.

    Optimizers normally build their state on the first ``step()``; loading a checkpoint
    into an optimizer needs that state to exist already. This takes one step with
    all-zero gradients and then clears them. Does nothing if the state already exists.
    As in torch, that step can still move weights for some optimizers (e.g. decoupled
    weight decay).

    Raises:
        RuntimeError: if a parameter already has a gradient (it would be overwritten).
    """
    if optimizer.state:
        return
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for param in params:
        if param.grad is not None:
            raise RuntimeError(
                "init_optim_state needs parameters without gradients, but a parameter of "
                f"shape {tuple(param.shape)} has one: call optimizer.zero_grad(set_to_none=True) "
                "first"
            )
    for param in params:
        if param.requires_grad:
            param.grad = torch.zeros_like(param)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def extract_lr_from_optimizer(optim: torch.optim.Optimizer, prefix: str) -> dict[str, float]:
    """Return the learning rate of each param group, keyed for a metrics logger.

    Keys are ``f"{prefix}/{name}:{k}"`` where ``name`` is the group's "name" entry (or
    "pg") and ``k`` counts earlier groups with the same name, starting at 0.

    Example: two unnamed groups with prefix "lr-SGD" give ``{"lr-SGD/pg:0": ...,
    "lr-SGD/pg:1": ...}``.
    """
    seen: Counter[str] = Counter()
    learning_rates: dict[str, float] = {}
    for group in optim.param_groups:
        name = group.get("name", "pg")
        lr = group["lr"]
        learning_rates[f"{prefix}/{name}:{seen[name]}"] = (
            lr.item() if isinstance(lr, torch.Tensor) else lr
        )
        seen[name] += 1
    return learning_rates
