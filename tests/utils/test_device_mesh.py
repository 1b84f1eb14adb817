"""Device meshes on 2 gloo ranks (CPU)."""

from typing import Any, Dict

import pytest

from torchtnt.utils.device_mesh import (
    GlobalMeshCoordinator,
    create_device_mesh,
    get_dp_local_rank,
    get_dp_mesh,
    get_dp_mesh_size,
)
from torchtnt.utils.distributed import spawn_multi_process


def test_create_device_mesh_needs_a_process_group() -> None:
    with pytest.raises(RuntimeError, match="needs an initialized process group"):
        create_device_mesh(device_type="cpu")


def _mesh_checks() -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    mesh = create_device_mesh(device_type="cpu")
    out["default"] = (mesh.mesh_dim_names, tuple(mesh.shape))

    shard = GlobalMeshCoordinator(device_type="cpu")
    out["shard"] = (
        shard.dp_mesh.mesh_dim_names,
        get_dp_mesh_size(shard),
        get_dp_local_rank(shard),
        shard.tp_mesh,
        get_dp_mesh(shard).mesh_dim_names,
    )

    replicate = GlobalMeshCoordinator(dp_replicate=2, dp_shard=1, device_type="cpu")
    out["replicate"] = (replicate.dp_mesh.mesh_dim_names, get_dp_mesh_size(replicate))

    tp = GlobalMeshCoordinator(tp=2, device_type="cpu")
    out["tp"] = (
        tp.device_mesh.mesh_dim_names,
        tuple(tp.device_mesh.shape),
        tp.tp_mesh.size(),
        tp.tp_mesh.get_local_rank(),
        get_dp_mesh_size(tp),
    )

    errors = []
    for kwargs in ({"dp_shard": 3}, {"dp_replicate": 0}, {"tp": 4}):
        try:
            create_device_mesh(device_type="cpu", **kwargs)
            errors.append(None)
        except ValueError as err:
            errors.append(str(err))
    out["errors"] = errors
    return out


@pytest.mark.distributed
@pytest.mark.filterwarnings("ignore:Slicing a flattened dim")
def test_meshes_on_two_ranks() -> None:
    results = spawn_multi_process(2, "gloo", _mesh_checks)
    for rank, out in enumerate(results):
        assert out["default"] == (("dp_replicate", "dp_shard"), (1, 2))
        assert out["shard"] == (("dp_shard",), 2, rank, None, ("dp_shard",))
        assert out["replicate"] == (("dp",), 2)
        assert out["tp"] == (("dp_replicate", "dp_shard", "tp"), (1, 1, 2), 2, rank, 1)
        no_fit, bad_replicate, too_big = out["errors"]
        assert no_fit == (
            "dp_replicate (1) * dp_shard (3) * tp (1) = 3 must equal the world size (2)"
        )
        assert bad_replicate == "dp_replicate=0 is invalid: expected an int >= 1"
        assert "dp_shard=0 is invalid" in too_big
