from typing import List

import numpy as np
import pytest
import torch

from torchtnt.framework.callbacks import _staging
from torchtnt.framework.callbacks._staging import _ReusableStager, _split_evenly


def test_staging_reuses_buffers_and_copies_exactly() -> None:
    stager = _ReusableStager()
    weight = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    state = {
        "m": {"w": weight, "t": weight.t(), "b": torch.tensor([True, False])},
        "o": {"step": 3, "groups": [{"lr": 0.5}], "h": torch.arange(4, dtype=torch.bfloat16)},
        "betas": (0.9, torch.tensor(0.99)),
    }
    first = stager.stage(state)
    assert first["o"]["step"] == 3 and first["o"]["groups"] == [{"lr": 0.5}]
    assert first["betas"] == (0.9, torch.tensor(0.99)) and isinstance(first["betas"], tuple)
    assert first["o"]["groups"][0] is not state["o"]["groups"][0]
    assert torch.equal(first["m"]["t"], weight.t()) and first["m"]["t"].is_contiguous()
    assert torch.equal(first["o"]["h"], state["o"]["h"])
    assert first["o"]["h"].dtype == torch.bfloat16
    assert torch.equal(first["m"]["b"], torch.tensor([True, False]))
    assert first["m"]["w"].data_ptr() != weight.data_ptr()
    assert stager.nbytes == 6 * 4 * 2 + 2 + 4 * 2 + 4

    weight.add_(100.0)  # training changes the original after staging
    assert torch.equal(first["m"]["w"], torch.arange(6, dtype=torch.float32).reshape(2, 3))

    second = stager.stage(state)  # the same buffers, now holding the new values
    assert second["m"]["w"].data_ptr() == first["m"]["w"].data_ptr()
    assert torch.equal(second["m"]["w"], weight)

    state["m"]["w"] = torch.zeros(3)  # new shape: a new buffer; a dropped key: freed
    del state["m"]["b"]
    third = stager.stage(state)
    assert third["m"]["w"].data_ptr() != first["m"]["w"].data_ptr()
    assert torch.equal(third["m"]["w"], torch.zeros(3))
    assert stager.nbytes == 3 * 4 + 6 * 4 + 4 * 2 + 4
    stager.close()
    assert stager.nbytes == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_staging_cuda_tensors_into_pinned_buffers() -> None:
    stager = _ReusableStager()
    weight = torch.arange(8, dtype=torch.float32, device="cuda")
    staged = stager.stage({"w": weight})["w"]
    assert staged.device.type == "cpu" and staged.is_pinned()
    weight.add_(1.0)  # queued after the copy on the same stream; the copy is complete
    assert torch.equal(staged, torch.arange(8, dtype=torch.float32))
    again = stager.stage({"w": weight})["w"]
    assert again.data_ptr() == staged.data_ptr()
    assert torch.equal(again, weight.cpu())


@pytest.mark.parametrize("sizes", [[10], [3, 4, 5], [1, 1, 1, 1, 1, 1, 1], [100, 1, 1]])
@pytest.mark.parametrize("n_shares", [1, 2, 3, 4])
def test_split_evenly_covers_every_byte_once(sizes: List[int], n_shares: int) -> None:
    sources = [np.arange(n, dtype=np.uint8) + 7 * i for i, n in enumerate(sizes)]
    targets = [np.zeros(n, dtype=np.uint8) for n in sizes]
    total = sum(sizes)
    shares = _split_evenly(list(zip(targets, sources)), n_shares, total)
    assert 1 <= len(shares) <= n_shares
    limit = -(-total // n_shares)
    assert all(sum(src.nbytes for _, src in share) <= limit for share in shares)
    assert sum(src.nbytes for share in shares for _, src in share) == total
    for share in shares:
        for dst, src in share:
            np.copyto(dst, src)
    for dst, src in zip(targets, sources):
        assert np.array_equal(dst, src)


def test_large_state_is_copied_on_several_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_staging, "_PARALLEL_MIN_BYTES", 1024)
    threads: List[str] = []
    real_copy_all = _staging._copy_all

    def recording_copy_all(jobs: List[_staging._CopyJob]) -> None:
        import threading

        threads.append(threading.current_thread().name)
        real_copy_all(jobs)

    monkeypatch.setattr(_staging, "_copy_all", recording_copy_all)
    gen = torch.Generator().manual_seed(0)
    state = {
        "w": torch.randn(64, 33, generator=gen),
        "b": torch.randn(7, generator=gen).to(torch.float16),
        "momentum": torch.randn(1000, generator=gen, dtype=torch.float64),
        "step": torch.tensor(5),
    }
    stager = _ReusableStager(copy_threads=3)
    try:
        staged = stager.stage(state)
        # three shares: one copied by the calling thread, two handed to the pool
        assert len(threads) == 3 and threads.count("MainThread") == 1
        assert all(t.startswith("tnt_ckpt_stage") for t in threads if t != "MainThread")
        for key, value in state.items():
            assert torch.equal(staged[key], value) and staged[key].dtype == value.dtype
            value.add_(1)  # the originals change; the staged copy keeps the old values
            assert not torch.equal(staged[key], value)
        again = stager.stage(state)
        for key, value in state.items():
            assert again[key].data_ptr() == staged[key].data_ptr()
            assert torch.equal(again[key], value)
    finally:
        stager.close()
    assert stager.nbytes == 0 and stager._pool is None
