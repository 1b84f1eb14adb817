"""Overlap host-to-GPU batch copies with compute by prefetching on a side CUDA stream."""

from collections import deque
from typing import Deque, Generic, Iterable, Iterator, Optional, Tuple, TypeVar, Union

import torch

from torchtnt.utils.device import copy_data_to_device, record_data_in_stream

__all__ = ["CudaDataPrefetcher"]

Batch = TypeVar("Batch")


class CudaDataPrefetcher(Iterator[Batch], Generic[Batch]):
    """Wraps an iterable of batches and keeps the next few already copied to a GPU.

    Copies are issued with ``non_blocking=True`` on a dedicated CUDA stream; each batch
    carries a CUDA event that the consuming stream waits on before the batch is handed
    out, so compute never reads a half-copied batch. Pinned host memory (e.g.
    ``DataLoader(pin_memory=True)``) makes the copies truly asynchronous.

    ``iter()`` starts a fresh pass over ``data_iterable`` and refills the queue.

    Args:
        data_iterable: the source of CPU batches.
        device: the CUDA device to copy batches to.
        num_prefetch_batches: how many batches to keep in flight ahead of the consumer.

    Raises:
        ValueError: if ``device`` is not a CUDA device, or ``num_prefetch_batches`` < 1.
        RuntimeError: if CUDA is not available on this machine.
    """

    def __init__(
        self,
        data_iterable: Iterable[Batch],
        device: torch.device,
        num_prefetch_batches: int = 1,
    ) -> None:
        self.device: torch.device = _check_cuda_device(device)
        if (
            isinstance(num_prefetch_batches, bool)
            or not isinstance(num_prefetch_batches, int)
            or num_prefetch_batches < 1
        ):
            raise ValueError(
                f"num_prefetch_batches={num_prefetch_batches!r} is invalid: expected an int >= 1"
            )
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"CudaDataPrefetcher needs CUDA but it is not available (device={self.device}); "
                "iterate over the data directly on a CPU-only machine"
            )
        self.data_iterable = data_iterable
        self.num_prefetch_batches = num_prefetch_batches
        self.stream: torch.cuda.Stream = torch.cuda.Stream(device=self.device)
        self._data_iter: Optional[Iterator[Batch]] = None
        self._queue: Deque[Tuple[Batch, torch.cuda.Event]] = deque()
        self._source_done = False

    def __iter__(self) -> "CudaDataPrefetcher[Batch]":
        """Start a new pass: drop queued batches and prefetch the first ones."""
        self._queue.clear()
        self._data_iter = iter(self.data_iterable)
        self._source_done = False
        for _ in range(self.num_prefetch_batches):
            self._prefetch_one()
        return self

    def _prefetch_one(self) -> None:
        if self._source_done or self._data_iter is None:
            return
        try:
            host_batch = next(self._data_iter)
        except StopIteration:
            self._source_done = True
            return
        with torch.cuda.stream(self.stream):
            device_batch = copy_data_to_device(host_batch, self.device, non_blocking=True)
            copied = torch.cuda.Event()
            copied.record(self.stream)
        self._queue.append((device_batch, copied))

    def __next__(self) -> Batch:
        """Return the next batch, already on the device and safe to use on the current stream.

        Raises:
            StopIteration: when the source is exhausted and the queue is empty.
        """
        if self._data_iter is None:
            iter(self)
        if not self._queue:
            raise StopIteration
        batch, copied = self._queue.popleft()
        consumer = torch.cuda.current_stream(self.device)
        consumer.wait_event(copied)
        # The memory was allocated on the side stream; tell the caching allocator the
        # consumer stream uses it too, so it is not reused while compute still reads it.
        record_data_in_stream(batch, consumer)
        self._prefetch_one()
        return batch


def _check_cuda_device(device: Union[torch.device, str]) -> torch.device:
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is invalid: expected a CUDA torch.device such as "
            "torch.device('cuda:0')"
        ) from None
    if resolved.type != "cuda":
        raise ValueError(
            f"device={device!r} is invalid: CudaDataPrefetcher only supports CUDA devices, "
            "e.g. torch.device('cuda:0')"
        )
    return resolved
