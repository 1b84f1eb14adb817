"""Saving and loading the state of FSDP-wrapped modules and their optimizers.

Users import these names from :mod:`torchtnt.utils.prepare_module`.
"""

from __future__ import annotations

from typing import Any, Dict

import torch
from torch.nn.parallel import DistributedDataParallel as DDP


def get_module_state_dict(module: torch.nn.Module, rank0_only: bool = False) -> Dict[str, Any]:
    """Return a full (unsharded, unwrapped) state dict of ``module``.

    FSDP1: gathered and offloaded to the CPU (only on rank 0 if ``rank0_only``; collective).
    DDP: the wrapped module's state dict, without the ``module.`` prefix. Otherwise the plain
    state dict.
    """
    # Looked up at call time: prepare_module imports this module, and tests patch its names.
    from torchtnt.utils.prepare_module import _is_fsdp1_module

    if _is_fsdp1_module(module):
        from torch.distributed.fsdp import FullStateDictConfig, FullyShardedDataParallel
        from torch.distributed.fsdp import StateDictType as NativeStateDictType

        # Offloading a module that already lives on the CPU would free the storage it reads.
        on_cpu = all(p.device.type == "cpu" for p in module.parameters())
        config = FullStateDictConfig(offload_to_cpu=not on_cpu, rank0_only=rank0_only)
        with FullyShardedDataParallel.state_dict_type(
            module, NativeStateDictType.FULL_STATE_DICT, config
        ):
            return module.state_dict()
    if isinstance(module, DDP):
        return module.module.state_dict()
    return module.state_dict()


class FSDPOptimizerWrapper:
    """Make an optimizer of an FSDP1 module save and load state dicts keyed by parameter
    names, through FSDP's optimizer-state APIs (so checkpoints are independent of sharding).

    Args:
        module: the FSDP1-wrapped module.
        optimizer: its optimizer.
    """

    def __init__(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.module = module
        self.optimizer = optimizer

    def state_dict(self) -> Dict[str, Any]:
        """Return the optimizer state as configured by the module's state-dict type.

        Note: collective — call on all ranks."""
        from torch.distributed.fsdp import FullyShardedDataParallel

        return FullyShardedDataParallel.optim_state_dict(self.module, self.optimizer)

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Load a state dict produced by :meth:`state_dict`. Note: collective."""
        from torch.distributed.fsdp import FullyShardedDataParallel

        to_load = FullyShardedDataParallel.optim_state_dict_to_load(
            self.module, self.optimizer, state_dict
        )
        self.optimizer.load_state_dict(to_load)


class FSDP2OptimizerWrapper:
    """Make an optimizer of an FSDP2 module save and load state dicts keyed by parameter
    names (``get_optimizer_state_dict`` / ``set_optimizer_state_dict``).

    Args:
        module: the module sharded with ``fully_shard``.
        optimizer: its optimizer.
    """

    def __init__(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.module = module
        self.optimizer = optimizer

    def state_dict(self) -> Dict[str, Any]:
        """Return the optimizer state keyed by parameter names. Note: collective."""
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        return get_optimizer_state_dict(self.module, self.optimizer)

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Load a state dict produced by :meth:`state_dict`. Note: collective."""
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

        set_optimizer_state_dict(self.module, self.optimizer, optim_state_dict=state_dict)
