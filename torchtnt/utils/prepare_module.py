"""Preparing a module for a device and a parallelism strategy.

:func:`prepare_module` is the one entry point AutoUnit uses: it resolves a strategy (an
object, or one of the strings ``"ddp"``, ``"fsdp"``, ``"fsdp2"``, ``"noop"``), wraps or shards
the module accordingly, then applies activation checkpointing and ``torch.compile`` in place.
Each wrapping is a small function of its own (:func:`prepare_ddp`, :func:`prepare_fsdp`,
:func:`prepare_fsdp2`) that can be used and tested alone.

Importing this module stays cheap: ``torch.distributed.fsdp`` and tensor-parallel code are
imported only by the functions that need them, and the FSDP detection helpers peek at
``sys.modules`` instead of importing FSDP.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import logging
import sys
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Collection,
    Dict,
    Optional,
    Tuple,
    Union,
)

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from torchtnt.utils.fsdp_utils import (
    BackwardPrefetch,
    MixedPrecision,
    ShardingStrategy,
    StateDictType,
)
from torchtnt.utils.rank_zero_log import rank_zero_debug, rank_zero_info, rank_zero_warn
from torchtnt.utils.version import is_torch_version_geq

if TYPE_CHECKING:
    from torch.distributed.device_mesh import DeviceMesh
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp import MixedPrecisionPolicy

    from torchtnt.utils.device_mesh import GlobalMeshCoordinator

__all__ = [
    "ActivationCheckpointParams",
    "BackwardPrefetch",
    "DDPStrategy",
    "FSDP2OptimizerWrapper",
    "FSDP2Strategy",
    "FSDPOptimizerWrapper",
    "FSDPStrategy",
    "MixedPrecision",
    "NOOPStrategy",
    "ShardingStrategy",
    "StateDictType",
    "Strategy",
    "TPStrategy",
    "TorchCompileParams",
    "apply_ac",
    "apply_torch_compile",
    "convert_str_to_strategy",
    "get_module_state_dict",
    "materialize_meta_params",
    "on_meta_device",
    "prepare_ddp",
    "prepare_fsdp",
    "prepare_fsdp2",
    "prepare_module",
]

logger: logging.Logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Detecting FSDP without importing it


def _fsdp_namespace() -> Any:
    # A module can only be FSDP-wrapped if torch.distributed.fsdp was imported, so peeking at
    # sys.modules keeps these checks free of a costly import for everybody else.
    return sys.modules.get("torch.distributed.fsdp")


def _is_fsdp1_module(module: torch.nn.Module) -> bool:
    """Return True if ``module`` is, or contains, a FullyShardedDataParallel (FSDP1) wrapper."""
    fsdp = _fsdp_namespace()
    if fsdp is None:
        return False
    wrapper = fsdp.FullyShardedDataParallel
    return any(isinstance(m, wrapper) for m in module.modules())


def _is_fsdp2_module(module: torch.nn.Module) -> bool:
    """Return True if ``module`` or a submodule was sharded with ``fully_shard`` (FSDP2)."""
    fsdp = _fsdp_namespace()
    fsdp_module = getattr(fsdp, "FSDPModule", None) if fsdp is not None else None
    if fsdp_module is None:
        composable = sys.modules.get("torch.distributed._composable.fsdp")
        fsdp_module = getattr(composable, "FSDPModule", None)
    if fsdp_module is None:
        return False
    return any(isinstance(m, fsdp_module) for m in module.modules())


def _is_fsdp_module(module: torch.nn.Module) -> bool:
    """Return True if ``module`` uses FSDP1 or FSDP2."""
    return _is_fsdp1_module(module) or _is_fsdp2_module(module)


from torchtnt.utils._strategies import (  # noqa: E402,F401  (public names of this module)
    ActivationCheckpointParams,
    DDPStrategy,
    FSDP2Strategy,
    FSDPStrategy,
    NOOPStrategy,
    Strategy,
    TorchCompileParams,
    TPStrategy,
    _check_all,
)

_STRATEGY_NAMES = ("ddp", "fsdp", "fsdp2", "noop")


def convert_str_to_strategy(
    strategy: str,
) -> Union[DDPStrategy, FSDPStrategy, FSDP2Strategy, NOOPStrategy]:
    """Return the default strategy object for a name.

    Args:
        strategy: ``"ddp"``, ``"fsdp"``, ``"fsdp2"`` or ``"noop"``.

    Raises:
        ValueError: for any other string.
    """
    if strategy == "ddp":
        return DDPStrategy()
    if strategy == "fsdp":
        return FSDPStrategy()
    if strategy == "fsdp2":
        return FSDP2Strategy()
    if strategy == "noop":
        return NOOPStrategy()
    raise ValueError(
        f"Strategy {strategy!r} not supported: expected one of {list(_STRATEGY_NAMES)} or a "
        "Strategy object (DDPStrategy, FSDPStrategy, FSDP2Strategy, TPStrategy, NOOPStrategy)"
    )


# ---------------------------------------------------------------------------------------------
# Thin doors onto torch's parallelism APIs, imported on first use (tests patch these names)


def fully_shard(module: torch.nn.Module, **kwargs: Any) -> torch.nn.Module:
    """Call torch's FSDP2 ``fully_shard(module, **kwargs)`` (imported on first use)."""
    from torch.distributed.fsdp import fully_shard as _torch_fully_shard

    return _torch_fully_shard(module, **kwargs)


def parallelize_module(
    module: torch.nn.Module, device_mesh: DeviceMesh, parallelize_plan: Any, **kwargs: Any
) -> torch.nn.Module:
    """Call torch's tensor-parallel ``parallelize_module`` (imported on first use)."""
    from torch.distributed.tensor.parallel import parallelize_module as _torch_parallelize

    return _torch_parallelize(module, device_mesh, parallelize_plan, **kwargs)


# ---------------------------------------------------------------------------------------------
# Meta-device helpers


def on_meta_device(module: torch.nn.Module) -> bool:
    """Return True if the first parameter owned directly by ``module`` is on the meta device.

    Submodules are not looked at; a module without direct parameters returns False.
    """
    for param in module.parameters(recurse=False):
        return param.device.type == "meta"
    return False


def materialize_meta_params(module: torch.nn.Module, device: torch.device) -> None:
    """Allocate (uninitialized) storage on ``device`` for every submodule whose parameters are
    on the meta device. Initializing the values is left to the caller."""
    for name, submodule in module.named_modules():
        if on_meta_device(submodule):
            rank_zero_info(f"{name or 'root module'} is on the meta device: allocating on {device}")
            submodule.to_empty(device=device, recurse=False)


# ---------------------------------------------------------------------------------------------
# DDP


def _require_process_group(strategy: Strategy) -> None:
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            f"strategy={type(strategy).__name__} needs an initialized default process group: "
            "call torch.distributed.init_process_group(...) or torchtnt.utils.init_from_env() "
            "before preparing the module (or launch with torchrun)"
        )


def prepare_ddp(
    module: torch.nn.Module,
    device: torch.device,
    strategy: Optional[DDPStrategy] = None,
) -> DDP:
    """Move ``module`` to ``device`` and wrap it in ``DistributedDataParallel``.

    Note: collective — call on all ranks (DDP broadcasts rank 0's parameters).

    Args:
        module: the module; meta-device parameters are materialized first.
        device: this rank's device; on CUDA it becomes DDP's single ``device_ids`` entry.
        strategy: DDP settings; defaults to ``DDPStrategy()``.

    Raises:
        RuntimeError: if no process group is initialized.
    """
    strategy = strategy if strategy is not None else DDPStrategy()
    _require_process_group(strategy)
    materialize_meta_params(module, device)
    module = module.to(device)
    if strategy.sync_batchnorm:
        if device.type == "cuda":
            module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        else:
            rank_zero_warn(
                f"sync_batchnorm=True is only supported on CUDA devices, got {device}: "
                "keeping the regular BatchNorm layers",
                logger=logger,
            )
    skip = {"comm_state", "comm_hook", "sync_batchnorm"}
    kwargs = {f.name: getattr(strategy, f.name) for f in dataclasses.fields(strategy)}
    kwargs = {k: v for k, v in kwargs.items() if k not in skip}
    if kwargs["broadcast_buffers"]:
        # Buffer sync is DDP's default; recent torch deprecates passing the flag explicitly.
        del kwargs["broadcast_buffers"]
    device_ids = [device.index] if device.type == "cuda" else None
    wrapped = DDP(module, device_ids=device_ids, **kwargs)
    if strategy.comm_hook is not None:
        wrapped.register_comm_hook(state=strategy.comm_state, hook=strategy.comm_hook)
    return wrapped


# ---------------------------------------------------------------------------------------------
# FSDP1


def prepare_fsdp(
    module: torch.nn.Module,
    device: torch.device,
    strategy: Optional[FSDPStrategy] = None,
) -> FSDP:
    """Wrap ``module`` in ``FullyShardedDataParallel`` on ``device``.

    Note: collective — call on all ranks.

    Args:
        module: the module to shard.
        device: this rank's device (passed as FSDP's ``device_id``).
        strategy: FSDP settings; defaults to ``FSDPStrategy()``.

    Raises:
        RuntimeError: if no process group is initialized.
    """
    from torch.distributed.fsdp import FullyShardedDataParallel

    strategy = strategy if strategy is not None else FSDPStrategy()
    _require_process_group(strategy)
    state_dict_keys = {"state_dict_type", "state_dict_config", "optim_state_dict_config"}
    kwargs = {
        f.name: getattr(strategy, f.name)
        for f in dataclasses.fields(strategy)
        if f.name not in state_dict_keys
    }
    wrapped = FullyShardedDataParallel(module, device_id=device, **kwargs)
    if strategy.state_dict_type is not None:
        FullyShardedDataParallel.set_state_dict_type(
            wrapped,
            strategy.state_dict_type,
            strategy.state_dict_config,
            strategy.optim_state_dict_config,
        )
    return wrapped


# ---------------------------------------------------------------------------------------------
# FSDP2


def _check_and_convert_mp_policy_dtypes(mp_policy: MixedPrecisionPolicy) -> MixedPrecisionPolicy:
    """Return ``mp_policy`` with dtype fields given as strings ("bf16", "fp32"...) converted.

    Raises:
        ValueError: if a dtype field is neither None, a ``torch.dtype`` nor a known string.
    """
    from torchtnt.utils.fsdp_utils import _dtype_from_str

    converted = {}
    for name in ("param_dtype", "reduce_dtype", "output_dtype"):
        value = getattr(mp_policy, name)
        if value is None or isinstance(value, torch.dtype):
            continue
        if not isinstance(value, str):
            raise ValueError(
                f"mp_policy.{name}={value!r} is invalid: expected None, a torch.dtype or a "
                "precision string such as 'bf16', 'fp16' or 'fp32'"
            )
        converted[name] = _dtype_from_str(value, f"mp_policy.{name}")
    return dataclasses.replace(mp_policy, **converted) if converted else mp_policy


def _resolve_mp_policy(mp_policy: Union[str, torch.dtype, Any]) -> MixedPrecisionPolicy:
    from torch.distributed.fsdp import MixedPrecisionPolicy

    from torchtnt.utils.fsdp_utils import _dtype_from_str

    if isinstance(mp_policy, MixedPrecisionPolicy):
        return _check_and_convert_mp_policy_dtypes(mp_policy)
    if isinstance(mp_policy, (str, torch.dtype)):
        dtype = _dtype_from_str(mp_policy, "mp_policy")  # type: ignore[arg-type]
        return MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=dtype, output_dtype=dtype)
    raise ValueError(
        f"mp_policy={mp_policy!r} is invalid: expected a precision string, a torch.dtype or a "
        "torch.distributed.fsdp.MixedPrecisionPolicy"
    )


def _shard_on_largest_dim(param: torch.nn.Parameter) -> Any:
    from torch.distributed.tensor import Shard

    return Shard(max(range(param.dim()), key=lambda d: param.shape[d])) if param.dim() else None


def _fully_shard_kwargs(strategy: FSDP2Strategy, mesh: DeviceMesh) -> Dict[str, Any]:
    kwargs: Dict[str, Any] = {
        "mesh": mesh,
        "reshard_after_forward": strategy.reshard_after_forward,
    }
    if strategy.cpu_offload:
        from torch.distributed.fsdp import CPUOffloadPolicy

        kwargs["offload_policy"] = CPUOffloadPolicy()
    if strategy.mp_policy is not None:
        kwargs["mp_policy"] = _resolve_mp_policy(strategy.mp_policy)
    if strategy.shard_on_largest_dim:
        kwargs["shard_placement_fn"] = _shard_on_largest_dim
    return kwargs


def _submodule_selector(strategy: FSDP2Strategy) -> Callable[[str, torch.nn.Module], bool]:
    """Build the rule choosing which submodules get their own ``fully_shard`` call."""
    targets = strategy.modules_to_shard
    shard_all = targets == "all"
    types: Tuple[type, ...] = ()
    names: set = set()
    if targets is not None and not shard_all:
        if isinstance(targets, str):
            raise ValueError(
                f"modules_to_shard={targets!r} is invalid: expected 'all' or an iterable of "
                "module classes / class names"
            )
        types = tuple(t for t in targets if isinstance(t, type))
        names = {t for t in targets if isinstance(t, str)}
    containers = (torch.nn.ModuleList, torch.nn.ModuleDict)
    predicates = tuple(strategy.shard_predicates)

    def selected(fqn: str, submodule: torch.nn.Module) -> bool:
        if shard_all:
            return not isinstance(submodule, containers)
        if isinstance(submodule, types) or type(submodule).__name__ in names:
            return True
        return any(predicate(fqn, submodule) for predicate in predicates)

    return selected


def prepare_fsdp2(
    module: torch.nn.Module,
    device: torch.device,
    strategy: Optional[FSDP2Strategy] = None,
    global_mesh: Optional[GlobalMeshCoordinator] = None,
) -> torch.nn.Module:
    """Shard ``module`` in place with FSDP2 (``fully_shard``) and return it.

    The mesh is ``global_mesh.dp_mesh`` if given, else a 1-D mesh over all ranks of the
    default group on ``device.type``. Selected submodules (see :class:`FSDP2Strategy`) are
    sharded bottom-up, then the root with ``reshard_after_forward=False`` (its parameters are
    needed again right away by backward). Meta-device parameters are materialized last.

    Note: collective — call on all ranks.

    Raises:
        RuntimeError: if no process group is initialized (and no ``global_mesh`` given).
        ValueError: if ``modules_to_shard`` / ``shard_predicates`` were given but match no
            submodule, or ``mp_policy`` is invalid.
    """
    strategy = strategy if strategy is not None else FSDP2Strategy()
    if global_mesh is not None:
        mesh = global_mesh.dp_mesh
    else:
        from torch.distributed.device_mesh import init_device_mesh

        _require_process_group(strategy)  # the mesh spans the default group
        mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    kwargs = _fully_shard_kwargs(strategy, mesh)
    selected = _submodule_selector(strategy)
    num_sharded = 0
    for fqn, submodule in reversed(list(module.named_modules())):
        if not fqn or not selected(fqn, submodule):
            continue
        fully_shard(submodule, **kwargs)
        num_sharded += 1
    explicit = strategy.modules_to_shard is not None or bool(strategy.shard_predicates)
    if num_sharded == 0 and explicit:
        raise ValueError(
            f"FSDP2Strategy(modules_to_shard={strategy.modules_to_shard!r}, shard_predicates="
            f"{strategy.shard_predicates!r}) matched no submodule of {type(module).__name__}: "
            "check the class names / predicates, or leave both unset to shard only the root"
        )
    if num_sharded == 0:
        rank_zero_debug(
            f"FSDP2: no submodule selected for sharding; sharding only the root "
            f"{type(module).__name__}",
            logger=logger,
        )
    fully_shard(module, **{**kwargs, "reshard_after_forward": False})
    materialize_meta_params(module, device)
    return module


# ---------------------------------------------------------------------------------------------
# Activation checkpointing and torch.compile


def apply_ac(
    module: torch.nn.Module, activation_checkpoint_params: ActivationCheckpointParams
) -> None:
    """Wrap the selected submodules of ``module`` in place with activation checkpointing."""
    import functools

    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
        apply_activation_checkpointing,
        checkpoint_wrapper,
    )

    params = activation_checkpoint_params
    wrapper_kwargs: Dict[str, Any] = {"checkpoint_impl": params.checkpoint_impl}
    if params.context_fn is not None:
        wrapper_kwargs["context_fn"] = params.context_fn
    apply_activation_checkpointing(
        module,
        checkpoint_wrapper_fn=functools.partial(checkpoint_wrapper, **wrapper_kwargs),
        check_fn=params.check_fn,
        auto_wrap_policy=params.auto_wrap_policy,
    )


def _check_params_types(torch_compile_params: object, activation_checkpoint_params: object) -> None:
    """Require the params dataclasses (or None), so a dict or a backend name fails here."""
    for name, value, cls in (
        ("torch_compile_params", torch_compile_params, TorchCompileParams),
        ("activation_checkpoint_params", activation_checkpoint_params, ActivationCheckpointParams),
    ):
        if value is not None and not isinstance(value, cls):
            raise TypeError(
                f"{name}={value!r} is invalid: expected an instance of {cls.__name__} (from "
                f"torchtnt.utils.prepare_module) or None"
            )


def _validate_torch_compile_params(params: TorchCompileParams) -> None:
    types = getattr(params, "recursive_module_types", None)
    if isinstance(types, (str, type)) or (
        types is not None and not isinstance(types, collections.abc.Iterable)
    ):
        raise TypeError(
            f"torch_compile_params.recursive_module_types={types!r} is invalid: expected a "
            "list of module types or class names, or None"
        )
    backend = params.backend
    if callable(backend):
        return
    if not isinstance(backend, str):
        raise ValueError(
            f"torch_compile_params.backend={backend!r} is invalid: expected a backend name or "
            "a callable"
        )
    import torch._dynamo

    available = torch._dynamo.list_backends(exclude_tags=())
    if backend not in available:
        raise ValueError(
            f"torch_compile_params.backend={backend!r} is not a registered torch.compile "
            f"backend: expected one of {available} or a callable"
        )


def _compile_kwargs(params: TorchCompileParams) -> Dict[str, Any]:
    return {
        "fullgraph": params.fullgraph,
        "dynamic": params.dynamic,
        "backend": params.backend,
        "mode": params.mode,
        "options": params.options,
        "disable": params.disable,
    }


def _matches_type(submodule: torch.nn.Module, module_types: Collection[Any]) -> bool:
    return any(
        (isinstance(t, type) and isinstance(submodule, t)) or type(submodule).__name__ == t
        for t in module_types
    )


def apply_torch_compile(module: torch.nn.Module, torch_compile_params: TorchCompileParams) -> None:
    """Compile ``module`` in place (``module.compile``), keeping its state-dict keys.

    With ``recursive_module_types`` set, only the submodules of those classes (or class
    names) are compiled, innermost first. If in-place compilation is unavailable in this
    torch, a warning is logged and the module is left uncompiled.
    """
    kwargs = _compile_kwargs(torch_compile_params)
    module_types = torch_compile_params.recursive_module_types
    try:
        if module_types:
            for submodule in reversed(list(module.modules())):
                if _matches_type(submodule, module_types):
                    submodule.compile(**kwargs)
        else:
            module.compile(**kwargs)
    except AttributeError:
        rank_zero_warn(
            "In-place module.compile is not available in this PyTorch; skipping torch.compile. "
            "Upgrade PyTorch to compile without changing state-dict keys.",
            logger=logger,
        )


# ---------------------------------------------------------------------------------------------
# prepare_module


def _prepare_module_1d(
    module: torch.nn.Module,
    device: torch.device,
    strategy: Optional[Union[Strategy, str]] = None,
    torch_compile_params: Optional[TorchCompileParams] = None,
    activation_checkpoint_params: Optional[ActivationCheckpointParams] = None,
    enable_compiled_autograd: bool = False,
    global_mesh: Optional[GlobalMeshCoordinator] = None,
) -> torch.nn.Module:
    """Data parallelism only (or none): wrap/shard/move, then checkpointing and compile."""
    if strategy is not None and not isinstance(strategy, (str, Strategy)):
        raise ValueError(
            f"strategy={strategy!r} is invalid: expected one of {list(_STRATEGY_NAMES)} or a "
            f"Strategy object, got {type(strategy).__name__}"
        )
    if isinstance(strategy, str):
        strategy = convert_str_to_strategy(strategy)
    if torch_compile_params is not None:
        _validate_torch_compile_params(torch_compile_params)

    if isinstance(strategy, DDPStrategy):
        if (
            torch_compile_params is not None
            and strategy.static_graph
            and not is_torch_version_geq("2.1.0")
        ):
            raise RuntimeError(
                "torch.compile with DDPStrategy(static_graph=True) needs torch >= 2.1.0"
            )
        if enable_compiled_autograd:
            if torch_compile_params is None:
                raise RuntimeError(
                    "enable_compiled_autograd=True needs torch_compile_params: compiled "
                    "autograd is only used with a compiled module"
                )
            import torch._dynamo

            torch._dynamo.config.optimize_ddp = "python_reducer"
        module = prepare_ddp(module, device, strategy)
    elif isinstance(strategy, FSDPStrategy):
        if torch_compile_params is not None and not strategy.use_orig_params:
            raise RuntimeError(
                "torch.compile with FSDPStrategy needs use_orig_params=True (AOTAutograd must "
                "see the original parameters)"
            )
        module = prepare_fsdp(module, device, strategy)
    elif isinstance(strategy, FSDP2Strategy):
        module = prepare_fsdp2(module, device, strategy, global_mesh)
    elif isinstance(strategy, NOOPStrategy):
        pass
    else:
        materialize_meta_params(module, device)
        module = module.to(device)

    if activation_checkpoint_params is not None:
        apply_ac(module, activation_checkpoint_params)
    if torch_compile_params is not None:
        apply_torch_compile(module, torch_compile_params)
    return module


def _prepare_module_2d(
    module: torch.nn.Module,
    device: torch.device,
    strategy: TPStrategy,
    global_mesh: GlobalMeshCoordinator,
    torch_compile_params: Optional[TorchCompileParams] = None,
    activation_checkpoint_params: Optional[ActivationCheckpointParams] = None,
) -> torch.nn.Module:
    """Tensor parallelism on the mesh's ``"tp"`` dimension, optionally with FSDP2 on top."""
    tp_mesh = global_mesh.tp_mesh
    if tp_mesh is None:
        raise ValueError(
            "TPStrategy needs a global_mesh with a tensor-parallel dimension: build it with "
            "GlobalMeshCoordinator(tp=<size>, ...)"
        )
    if torch_compile_params is not None:
        _validate_torch_compile_params(torch_compile_params)
    parallelize_module(module, tp_mesh, strategy.tp_plan)
    if activation_checkpoint_params is not None:
        apply_ac(module, activation_checkpoint_params)
    if torch_compile_params is not None:
        apply_torch_compile(module, torch_compile_params)
    if strategy.fsdp2_strategy is not None:
        return prepare_fsdp2(module, device, strategy.fsdp2_strategy, global_mesh)
    materialize_meta_params(module, device)
    return module.to(device)


def prepare_module(
    module: torch.nn.Module,
    device: torch.device,
    *,
    strategy: Optional[Union[Strategy, str]] = None,
    torch_compile_params: Optional[TorchCompileParams] = None,
    activation_checkpoint_params: Optional[ActivationCheckpointParams] = None,
    enable_compiled_autograd: bool = False,
    global_mesh: Optional[GlobalMeshCoordinator] = None,
) -> torch.nn.Module:
    """Prepare ``module`` for training on ``device`` with a parallelism strategy.

    Without a strategy the module is moved to ``device`` (meta parameters materialized);
    ``"noop"`` leaves it untouched; DDP / FSDP / FSDP2 wrap or shard it (all ranks must call
    this); a :class:`TPStrategy` applies tensor parallelism on ``global_mesh``. Activation
    checkpointing and then ``torch.compile`` are applied in place afterwards.

    Args:
        module: the module.
        device: this process's device.
        strategy: a :class:`Strategy` or one of "ddp", "fsdp", "fsdp2", "noop".
        torch_compile_params: compile the module in place with these settings.
        activation_checkpoint_params: apply activation checkpointing with these settings.
        enable_compiled_autograd: compile the backward pass too (DDP: needs
            ``torch_compile_params``).
        global_mesh: the device mesh for FSDP2 / tensor parallelism.

    Returns:
        The prepared module (a wrapper for DDP/FSDP1, the same object otherwise).

    Raises:
        ValueError: for an unknown strategy, a TPStrategy without ``global_mesh``, an unknown
            compile backend, or FSDP2 sharding rules that match nothing.
        RuntimeError: for a distributed strategy without an initialized process group, or
            incompatible compile settings.
    """
    _check_params_types(torch_compile_params, activation_checkpoint_params)
    if isinstance(strategy, TPStrategy):
        if global_mesh is None:
            raise ValueError(
                "TPStrategy needs global_mesh: pass a GlobalMeshCoordinator(tp=<size>, ...)"
            )
        return _prepare_module_2d(
            module,
            device,
            strategy,
            global_mesh,
            torch_compile_params=torch_compile_params,
            activation_checkpoint_params=activation_checkpoint_params,
        )
    return _prepare_module_1d(
        module,
        device,
        strategy,
        torch_compile_params=torch_compile_params,
        activation_checkpoint_params=activation_checkpoint_params,
        enable_compiled_autograd=enable_compiled_autograd,
        global_mesh=global_mesh,
    )


# ---------------------------------------------------------------------------------------------
# State dicts of sharded modules and their optimizers


from torchtnt.utils._fsdp_state import (  # noqa: E402,F401  (public names of this module)
    FSDP2OptimizerWrapper,
    FSDPOptimizerWrapper,
    get_module_state_dict,
)
