"""Device meshes for data parallelism (replicate x shard) combined with tensor parallelism.

A mesh has the dimensions ``("dp_replicate", "dp_shard")`` plus ``"tp"`` when tensor
parallelism is used; the two data-parallel dimensions are also flattened into one named
``"dp"``, which is what FSDP2 shards over in hybrid setups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import torch.distributed as dist

if TYPE_CHECKING:
    from torch.distributed.device_mesh import DeviceMesh

__all__ = [
    "GlobalMeshCoordinator",
    "create_device_mesh",
    "get_dp_local_rank",
    "get_dp_mesh",
    "get_dp_mesh_size",
]


def _resolve_mesh_shape(
    world_size: int, dp_shard: int, dp_replicate: int, tp: Optional[int]
) -> tuple[int, int, Optional[int]]:
    for name, value in (("dp_replicate", dp_replicate), ("tp", tp)):
        if value is not None and value < 1:
            raise ValueError(f"{name}={value} is invalid: expected an int >= 1")
    if dp_shard == -1:
        dp_shard = world_size // (dp_replicate * (tp or 1))
    if dp_shard < 1:
        raise ValueError(
            f"dp_shard={dp_shard} is invalid: expected -1 (use the remaining ranks) or an int >= 1"
        )
    total = dp_replicate * dp_shard * (tp or 1)
    if total != world_size:
        raise ValueError(
            f"dp_replicate ({dp_replicate}) * dp_shard ({dp_shard}) * tp ({tp or 1}) = {total} "
            f"must equal the world size ({world_size})"
        )
    return dp_shard, dp_replicate, tp


def create_device_mesh(
    dp_shard: int = -1,
    dp_replicate: int = 1,
    tp: Optional[int] = None,
    device_type: str = "cuda",
) -> DeviceMesh:
    """Build a device mesh over all ranks of the default process group.

    Note: collective — call on all ranks.

    Args:
        dp_shard: size of the sharded data-parallel dimension; -1 uses every rank not
            taken by ``dp_replicate`` and ``tp``.
        dp_replicate: size of the replicated data-parallel dimension.
        tp: size of the tensor-parallel dimension; None means no ``"tp"`` dimension.
        device_type: device type of the mesh ("cuda", or "cpu" with gloo).

    Returns:
        A mesh with dimensions ``("dp_replicate", "dp_shard"[, "tp"])``; the first two are
        also available flattened as ``mesh["dp"]``.

    Raises:
        RuntimeError: if no process group is initialized.
        ValueError: if the sizes are invalid or their product is not the world size.
    """
    return _build_mesh(dp_shard, dp_replicate, tp, device_type)[0]


def _build_mesh(
    dp_shard: int, dp_replicate: int, tp: Optional[int], device_type: str
) -> tuple[DeviceMesh, DeviceMesh]:
    """Return the mesh and its flattened ``"dp"`` mesh."""
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "create_device_mesh needs an initialized process group: call "
            "torch.distributed.init_process_group(...) (or torchtnt.utils.init_from_env()) first"
        )
    from torch.distributed.device_mesh import init_device_mesh

    dp_shard, dp_replicate, tp = _resolve_mesh_shape(
        dist.get_world_size(), dp_shard, dp_replicate, tp
    )
    shape = [dp_replicate, dp_shard]
    names = ["dp_replicate", "dp_shard"]
    if tp is not None:
        shape.append(tp)
        names.append("tp")
    mesh = init_device_mesh(device_type, tuple(shape), mesh_dim_names=tuple(names))
    # Keep the flattened mesh: slicing a flattened dim from the root mesh is deprecated.
    dp_mesh = mesh["dp_replicate", "dp_shard"]._flatten("dp")
    return mesh, dp_mesh


class GlobalMeshCoordinator:
    """Owns the global device mesh and hands out its data- and tensor-parallel sub-meshes.

    Note: collective — construct on all ranks.

    Args: the same as :func:`create_device_mesh`.
    """

    def __init__(
        self,
        dp_shard: int = -1,
        dp_replicate: int = 1,
        tp: Optional[int] = None,
        device_type: str = "cuda",
    ) -> None:
        self._dp_replicate = dp_replicate
        self._tp = tp
        self.device_mesh, self._dp_flat_mesh = _build_mesh(dp_shard, dp_replicate, tp, device_type)

    @property
    def dp_mesh(self) -> DeviceMesh:
        """The mesh data parallelism runs over: ``"dp"`` when replicating, else ``"dp_shard"``."""
        if self._dp_replicate > 1:
            return self._dp_flat_mesh
        return self.device_mesh["dp_shard"]

    @property
    def tp_mesh(self) -> Optional[DeviceMesh]:
        """The tensor-parallel mesh, or None when the mesh has no ``"tp"`` dimension."""
        if self._tp is None:
            return None
        return self.device_mesh["tp"]


def get_dp_mesh(global_mesh: GlobalMeshCoordinator) -> DeviceMesh:
    """Return the data-parallel mesh of ``global_mesh``."""
    return global_mesh.dp_mesh


def get_dp_mesh_size(global_mesh: GlobalMeshCoordinator) -> int:
    """Return the number of ranks in the data-parallel mesh of ``global_mesh``."""
    return global_mesh.dp_mesh.size()


def get_dp_local_rank(global_mesh: GlobalMeshCoordinator) -> int:
    """Return this rank's index within the data-parallel mesh of ``global_mesh``."""
    return global_mesh.dp_mesh.get_local_rank()
