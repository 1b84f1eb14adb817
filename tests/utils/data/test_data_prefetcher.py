from typing import List, Tuple

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from torchtnt.utils.data.data_prefetcher import CudaDataPrefetcher

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def make_dataloader(num_samples: int = 10, batch_size: int = 4) -> DataLoader:
    inputs = torch.arange(num_samples * 2, dtype=torch.float32).reshape(num_samples, 2)
    targets = torch.arange(num_samples)
    return DataLoader(TensorDataset(inputs, targets), batch_size=batch_size)


@pytest.mark.parametrize("device", [torch.device("cpu"), "cpu", torch.device("meta")])
def test_non_cuda_device_is_rejected(device: object) -> None:
    with pytest.raises(ValueError, match="only supports CUDA devices"):
        CudaDataPrefetcher(make_dataloader(), device)  # type: ignore[arg-type]


def test_unparseable_device_is_rejected() -> None:
    with pytest.raises(ValueError, match="device='not-a-device' is invalid"):
        CudaDataPrefetcher(make_dataloader(), "not-a-device")  # type: ignore[arg-type]


@pytest.mark.parametrize("num", [0, -1, 1.5, True])
def test_num_prefetch_batches_is_checked_after_device(num: object) -> None:
    # The device is checked first, so a CPU device wins over a bad count.
    with pytest.raises(ValueError, match="only supports CUDA devices"):
        CudaDataPrefetcher(make_dataloader(), torch.device("cpu"), num)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=rf"num_prefetch_batches={num!r} is invalid"):
        CudaDataPrefetcher(make_dataloader(), torch.device("cuda"), num)  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_cuda_device_without_cuda_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="CudaDataPrefetcher needs CUDA"):
        CudaDataPrefetcher(make_dataloader(), torch.device("cuda"))


def _collect(prefetcher: CudaDataPrefetcher) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    return [(x.cpu(), y.cpu()) for x, y in prefetcher]


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("num_prefetch_batches", [1, 2, 5])
def test_prefetched_batches_match_the_source(num_prefetch_batches: int) -> None:
    device = torch.device("cuda", 0)
    dataloader = make_dataloader()
    prefetcher = CudaDataPrefetcher(dataloader, device, num_prefetch_batches)
    seen = []
    for x, y in prefetcher:
        assert x.device == device and y.device == device
        # The queue never holds more than the requested number of batches.
        assert len(prefetcher._queue) <= num_prefetch_batches
        seen.append((x.cpu(), y.cpu()))
    expected = list(dataloader)
    assert len(seen) == len(expected) == 3
    for (x, y), (ex, ey) in zip(seen, expected):
        torch.testing.assert_close(x, ex)
        torch.testing.assert_close(y, ey)


@pytest.mark.gpu
@requires_cuda
def test_iter_restarts_and_next_without_iter_works() -> None:
    prefetcher = CudaDataPrefetcher(make_dataloader(), torch.device("cuda"), 2)
    first_x, _ = next(prefetcher)
    torch.testing.assert_close(
        first_x.cpu(), torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]])
    )
    first_pass = _collect(prefetcher)
    assert len(first_pass) == 2
    second_pass = _collect(iter(prefetcher))
    assert len(second_pass) == 3
    torch.testing.assert_close(second_pass[0][0], first_x.cpu())
    with pytest.raises(StopIteration):
        next(prefetcher)


@pytest.mark.gpu
@requires_cuda
def test_pinned_batches_are_usable_on_the_current_stream() -> None:
    data = torch.randn(64, 256)
    dataloader = DataLoader(TensorDataset(data), batch_size=16, pin_memory=True)
    total = torch.zeros((), device="cuda")
    for (batch,) in CudaDataPrefetcher(dataloader, torch.device("cuda"), 3):
        total += batch.sum()
    torch.testing.assert_close(total.cpu(), data.sum(), rtol=1e-4, atol=1e-3)
