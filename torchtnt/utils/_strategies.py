"""The parallelism strategies and parameter records that :mod:`torchtnt.utils.prepare_module`
understands. Users import them from that module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Collection,
    ContextManager,
    Dict,
    Iterable,
    List,
    Literal,
    Optional,
    Tuple,
    Type,
    Union,
)

import torch
import torch.distributed as dist

from torchtnt.utils.fsdp_utils import (
    BackwardPrefetch,
    MixedPrecision,
    ShardingStrategy,
    StateDictType,
)

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointImpl
    from torch.distributed.fsdp import CPUOffload, MixedPrecisionPolicy
    from torch.distributed.fsdp.api import OptimStateDictConfig, StateDictConfig
    from torch.distributed.tensor.parallel import ParallelStyle


@dataclass
class Strategy:
    """Base class of the parallelism strategies :func:`prepare_module` understands."""


@dataclass
class NOOPStrategy(Strategy):
    """Leave the module exactly as it is: no wrapping and no device move."""


@dataclass
class DDPStrategy(Strategy):
    """Wrap the module in ``DistributedDataParallel``.

    The fields up to ``static_graph`` are passed to DDP's constructor. ``comm_hook`` (with
    ``comm_state``) is registered on the wrapper; ``sync_batchnorm`` converts BatchNorm layers
    to ``SyncBatchNorm`` first (CUDA only).
    """

    output_device: Optional[Union[int, torch.device]] = None
    dim: int = 0
    broadcast_buffers: bool = True
    process_group: Optional[ProcessGroup] = None
    bucket_cap_mb: int = 25
    find_unused_parameters: bool = False
    check_reduction: bool = False
    gradient_as_bucket_view: bool = False
    static_graph: bool = False
    comm_state: Optional[object] = None
    comm_hook: Optional[Callable[[object, dist.GradBucket], torch.futures.Future]] = None
    sync_batchnorm: bool = False


@dataclass
class FSDPStrategy(Strategy):
    """Wrap the module in ``FullyShardedDataParallel`` (FSDP1).

    Fields are passed to FSDP's constructor, except the state-dict settings, which are applied
    with ``FSDP.set_state_dict_type``. Strings (``sharding_strategy="FULL_SHARD"``,
    ``backward_prefetch="BACKWARD_POST"``, ``state_dict_type="SHARDED_STATE_DICT"``) and a
    torchtnt :class:`MixedPrecision` are converted to torch's types on construction.
    """

    process_group: Optional[ProcessGroup] = None
    sharding_strategy: Optional[Union[str, Any]] = None
    cpu_offload: Optional[CPUOffload] = None
    auto_wrap_policy: Optional[Callable[[torch.nn.Module, bool, int], bool]] = None
    backward_prefetch: Optional[Union[str, Any]] = BackwardPrefetch.BACKWARD_PRE
    mixed_precision: Optional[Union[Any, MixedPrecision]] = None
    ignored_modules: Optional[Iterable[torch.nn.Module]] = None
    param_init_fn: Optional[Callable[[torch.nn.Module], None]] = None
    sync_module_states: bool = False
    forward_prefetch: bool = False
    limit_all_gathers: bool = True
    use_orig_params: bool = False
    state_dict_type: Optional[Union[str, Any]] = None
    state_dict_config: Optional[StateDictConfig] = None
    optim_state_dict_config: Optional[OptimStateDictConfig] = None

    def __post_init__(self) -> None:
        if isinstance(self.sharding_strategy, str):
            self.sharding_strategy = ShardingStrategy.to_native_sharding_strategy(
                self.sharding_strategy
            )
        if isinstance(self.backward_prefetch, str):
            self.backward_prefetch = BackwardPrefetch.to_native_backward_prefetch(
                self.backward_prefetch
            )
        if isinstance(self.state_dict_type, str):
            self.state_dict_type = StateDictType.to_native_state_dict_type(self.state_dict_type)
        if isinstance(self.mixed_precision, MixedPrecision):
            self.mixed_precision = self.mixed_precision.to_native_mixed_precision()


@dataclass
class FSDP2Strategy(Strategy):
    """Shard the module with FSDP2's ``fully_shard`` over a 1-D data-parallel device mesh.

    Attributes:
        modules_to_shard: submodules that get their own ``fully_shard`` call (so their
            parameters are gathered and freed one group at a time): ``"all"``, or module
            classes / class names. The root is always sharded last. With neither this nor
            ``shard_predicates`` given, only the root is sharded.
        shard_predicates: extra ``(fqn, module) -> bool`` rules selecting submodules to shard.
        reshard_after_forward: free gathered parameters after forward (True), keep them
            (False), or reshard to a smaller group of this size (int).
        mp_policy: mixed precision: a dtype or precision string (used for parameters,
            gradient reduction and outputs) or a full ``MixedPrecisionPolicy``.
        cpu_offload: keep sharded parameters, gradients and optimizer state on the CPU.
        shard_on_largest_dim: shard each parameter along its largest dimension instead of
            dimension 0.
    """

    modules_to_shard: Optional[
        Union[Literal["all"], Iterable[Union[str, Type[torch.nn.Module]]]]
    ] = None
    shard_predicates: List[Callable[[str, torch.nn.Module], bool]] = field(default_factory=list)
    reshard_after_forward: Union[bool, int] = True
    mp_policy: Optional[Union[str, torch.dtype, MixedPrecisionPolicy]] = None
    cpu_offload: bool = False
    shard_on_largest_dim: bool = False


@dataclass
class TPStrategy(Strategy):
    """Tensor parallelism with ``parallelize_module`` on the global mesh's ``"tp"`` dimension,
    optionally combined with FSDP2 over its data-parallel dimension."""

    tp_plan: Union[ParallelStyle, Dict[str, ParallelStyle]]
    fsdp2_strategy: Optional[FSDP2Strategy] = None


@dataclass
class TorchCompileParams:
    """Arguments of ``torch.compile``, applied in place with ``module.compile(...)``.

    ``recursive_module_types`` compiles only the submodules of these classes (or class
    names) instead of the whole module.
    """

    fullgraph: bool = False
    dynamic: bool = False
    backend: Union[str, Callable[..., Any]] = "inductor"
    mode: Union[str, None] = None
    options: Optional[Dict[str, Union[str, int, bool]]] = None
    disable: bool = False
    recursive_module_types: Collection[Union[str, Type[torch.nn.Module]]] = field(
        default_factory=list
    )


def _check_all(_: torch.nn.Module) -> bool:
    return True


@dataclass
class ActivationCheckpointParams:
    """Where and how to apply activation checkpointing (``apply_activation_checkpointing``).

    Attributes:
        checkpoint_impl: reentrant or non-reentrant checkpointing (``CheckpointImpl``).
        check_fn: selects the submodules to checkpoint.
        auto_wrap_policy: an FSDP-style wrap policy; used instead of ``check_fn`` when set.
        context_fn: returns the two context managers for the forward and recomputation
            passes (non-reentrant checkpointing only), e.g. for selective checkpointing.
    """

    checkpoint_impl: CheckpointImpl
    check_fn: Callable[[torch.nn.Module], bool] = _check_all
    auto_wrap_policy: Optional[Callable[[torch.nn.Module, bool, int], bool]] = None
    context_fn: Optional[Callable[[], Tuple[ContextManager, ContextManager]]] = None
