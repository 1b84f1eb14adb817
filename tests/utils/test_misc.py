"""days_to_secs, weight transfer and BatchNorm statistics transfer."""

import pytest
import torch

from torchtnt.utils.misc import days_to_secs, transfer_batch_norm_stats, transfer_weights


def test_days_to_secs() -> None:
    assert days_to_secs(None) is None
    assert days_to_secs(0) == 0
    assert days_to_secs(1) == 86400
    assert days_to_secs(3) == 259200
    with pytest.raises(ValueError, match="days=-1 is invalid"):
        days_to_secs(-1)
    with pytest.raises(TypeError, match="days='2' is invalid: expected a number of days"):
        days_to_secs("2")  # type: ignore[arg-type]


def _mlp(seed: int, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).to(
        dtype
    )


def test_transfer_weights_copies_values_not_storage() -> None:
    src, dst = _mlp(0), _mlp(1)
    assert not torch.equal(src[0].weight, dst[0].weight)
    transfer_weights(src, dst)
    for s, d in zip(src.parameters(), dst.parameters()):
        assert torch.equal(s, d)
        assert s.data_ptr() != d.data_ptr()
    with torch.no_grad():
        src[0].weight.add_(1.0)
    assert not torch.equal(src[0].weight, dst[0].weight)


def test_transfer_weights_casts_to_destination_dtype() -> None:
    src, dst = _mlp(0), _mlp(1, dtype=torch.float64)
    transfer_weights(src, dst)
    assert dst[2].bias.dtype == torch.float64
    assert torch.equal(dst[2].bias, src[2].bias.double())


def test_transfer_weights_rejects_different_layouts() -> None:
    with pytest.raises(ValueError, match="src_module has 4 parameters but dst_module has 2"):
        transfer_weights(_mlp(0), torch.nn.Linear(3, 4))
    with pytest.raises(
        ValueError, match=r"parameter 0 has shape \(4, 3\) in src_module but \(4, 5\)"
    ):
        transfer_weights(torch.nn.Linear(3, 4), torch.nn.Linear(5, 4))


def _bn_net() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Sequential(torch.nn.BatchNorm1d(4))
    )


def test_transfer_batch_norm_stats() -> None:
    torch.manual_seed(0)
    src, dst = _bn_net(), _bn_net()
    src[1].momentum = 0.3
    for _ in range(3):
        src(torch.randn(8, 3) * 5 + 2)
    weight_before = dst[1].weight.clone()
    transfer_batch_norm_stats(src, dst)
    for s, d in ((src[1], dst[1]), (src[2][0], dst[2][0])):
        assert torch.equal(s.running_mean, d.running_mean)
        assert torch.equal(s.running_var, d.running_var)
        assert int(d.num_batches_tracked) == 3
        assert s.running_mean.data_ptr() != d.running_mean.data_ptr()
    assert dst[1].momentum == 0.3
    assert dst[2][0].momentum == 0.1
    assert torch.equal(dst[1].weight, weight_before)  # affine parameters are not stats


def test_transfer_batch_norm_stats_rejects_mismatched_counts() -> None:
    with pytest.raises(ValueError, match="src_module has 2 batch norm layers but dst_module has 1"):
        transfer_batch_norm_stats(_bn_net(), torch.nn.BatchNorm1d(4))
