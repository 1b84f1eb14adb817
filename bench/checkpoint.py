"""Checkpoint save cost: DistributedCheckpointSaver vs plain ``torch.save``.

Builds a ~200 MB state (a 100 MB model plus 100 MB of SGD momentum), then, interleaved in
one process, times ``torch.save`` of the same state dicts, a synchronous DCP save, and an
asynchronous DCP save (the time the caller is blocked, and until it is complete), and
for comparison an async save staged into freshly allocated memory ("async fresh") and a
plain copy of the state's tensors into preallocated buffers ("state copy": the floor of
any async save that finishes copying before it returns). Peak
extra memory is the RSS increase over the pre-save level, sampled every millisecond in a
separate round (the sampling thread would slow the timed saves on a small machine).

Each save follows an optimizer step, as in a training loop: the state changes between
saves and memory is in use right before each save (on some VMs a memory copy issued
after the process idled for a second runs several times slower, which would distort
the async figure). The figures are medians over the repeats after a warm-up round, i.e.
the steady state of a run that saves repeatedly. The async saver keeps its staging buffers (one copy of the
state) between saves; they are allocated by its first save, whose blocked time and peak
memory are printed separately ("first async save"), and the buffers are reported as
"retained" (they are part of the pre-save level of later saves).

Run: ``python bench/checkpoint.py [--repeats 5] [--mb 200] [--dir /tmp] [--device cuda]``
"""

import argparse
import contextlib
import os
import shutil
import statistics
import tempfile
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Tuple

import psutil
import torch

from torchtnt.framework.callbacks.dcp_saver import DistributedCheckpointSaver
from torchtnt.framework.state import EntryPoint, PhaseState, State
from torchtnt.framework.unit import TrainUnit


class _BenchUnit(TrainUnit[Any]):
    def __init__(self, total_mb: int, device: str = "cpu") -> None:
        super().__init__()
        # half the bytes in weights, half in momentum buffers
        n_layers = 8
        width = int((total_mb / 2 * 2**20 / 4 / n_layers) ** 0.5)
        self.module = torch.nn.Sequential(
            *[torch.nn.Linear(width, width, bias=False) for _ in range(n_layers)]
        ).to(device)
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=1e-3, momentum=0.9)
        for p in self.module.parameters():
            p.grad = torch.randn_like(p)  # kept: every step() below reuses them
        self.optimizer.step()

    def train_step(self, state: State, data: Any) -> Any:
        """An optimizer step: changes every weight and momentum buffer."""
        self.optimizer.step()
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # the step is over before the save is timed
        return None


class _PeakRSS:
    """Samples this process's RSS in a thread; reports the peak above the start level."""

    def __enter__(self) -> "_PeakRSS":
        self._proc = psutil.Process()
        self.base = self._proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.001)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def extra(self) -> int:
        return self.peak - self.base


def _state_bytes(unit: _BenchUnit) -> int:
    total = sum(t.numel() * t.element_size() for t in unit.module.state_dict().values())
    for s in unit.optimizer.state.values():
        total += sum(
            t.numel() * t.element_size() for t in s.values() if isinstance(t, torch.Tensor)
        )
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument(
        "--device",
        default="cpu",
        help="where the model lives: cpu or cuda (async staging "
        "then copies into pinned host memory)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    unit = _BenchUnit(args.mb, args.device)
    size = _state_bytes(unit)
    root = tempfile.mkdtemp(dir=args.dir, prefix="tnt_ckpt_bench_")
    state = State(entry_point=EntryPoint.TRAIN, train_state=PhaseState(dataloader=[]))
    sync_saver = DistributedCheckpointSaver(os.path.join(root, "sync"))
    async_saver = DistributedCheckpointSaver(os.path.join(root, "async"), async_checkpoint=True)

    def torch_save(i: int) -> Tuple[float, float]:
        path = os.path.join(root, f"plain_{i}.pt")
        t0 = time.perf_counter()
        torch.save(
            {"module": unit.module.state_dict(), "optimizer": unit.optimizer.state_dict()}, path
        )
        dt = time.perf_counter() - t0
        return dt, dt

    def dcp_sync(i: int) -> Tuple[float, float]:
        t0 = time.perf_counter()
        sync_saver._checkpoint_impl(
            state,
            unit,
            checkpoint_id=os.path.join(root, "sync", f"epoch_{i}_step_0"),
            hook="on_train_epoch_end",
        )
        dt = time.perf_counter() - t0
        return dt, dt

    def dcp_async(i: int, stager: Any = None, sub: str = "async") -> Tuple[float, float]:
        t0 = time.perf_counter()
        async_saver._checkpoint_impl(
            state,
            unit,
            checkpoint_id=os.path.join(root, sub, f"epoch_{i}_step_0"),
            hook="on_train_epoch_end",
            stager=stager,
        )
        blocked = time.perf_counter() - t0
        async_saver._wait()
        return blocked, time.perf_counter() - t0

    # The floor of any staging that completes before the save returns: copying the same
    # tensors into preallocated buffers (pinned on CUDA), as a user would by hand.
    def state_tensors() -> List[torch.Tensor]:
        tensors = list(unit.module.state_dict().values())
        for s in unit.optimizer.state.values():
            tensors += [t for t in s.values() if isinstance(t, torch.Tensor)]
        return tensors

    on_cuda = args.device.startswith("cuda")
    copy_buffers = [torch.empty_like(t, device="cpu", pin_memory=on_cuda) for t in state_tensors()]

    def plain_copy(i: int) -> Tuple[float, float]:
        t0 = time.perf_counter()
        for buffer, tensor in zip(copy_buffers, state_tensors()):
            buffer.copy_(tensor, non_blocking=on_cuda)
        if on_cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        return dt, dt

    def dcp_async_fresh(i: int) -> Tuple[float, float]:
        # for comparison: torch's stager, which allocates new CPU memory for every save
        from torch.distributed.checkpoint.staging import BlockingAsyncStager

        return dcp_async(i, BlockingAsyncStager(), "async_fresh")

    variants: List[Tuple[str, Callable[[int], Tuple[float, float]]]] = [
        ("torch.save", torch_save),
        ("dcp sync", dcp_sync),
        ("dcp async", dcp_async),
        ("async fresh", dcp_async_fresh),
        ("state copy", plain_copy),
    ]
    runs: Dict[str, List[Tuple[float, float]]] = {name: [] for name, _ in variants}
    peak: Dict[str, int] = {}
    first_async: Tuple[float, int] = (0.0, 0)
    # Round 0 warms up caches and thread pools; rounds 1..repeats are timed; the last round
    # measures peak memory. The sampling thread is kept out of the timed rounds: on a small
    # machine it would take CPU time from the save it measures.
    rounds = args.repeats + 2
    try:
        for i in range(rounds):
            sampled = i in (0, rounds - 1)
            for name, fn in variants:
                unit.train_step(state, None)
                with _PeakRSS() if sampled else contextlib.nullcontext() as mem:
                    blocked, total = fn(i)
                if i == 0 and name == "dcp async":
                    first_async = (blocked, mem.extra)
                elif sampled and i:
                    peak[name] = mem.extra
                elif i:
                    runs[name].append((blocked, total))
            for sub in ("sync", "async", "async_fresh"):
                shutil.rmtree(os.path.join(root, sub), ignore_errors=True)
            for f in os.listdir(root):
                if f.endswith(".pt"):
                    os.remove(os.path.join(root, f))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def med(name: str, idx: int) -> float:
        return statistics.median(r[idx] for r in runs[name])

    base = med("torch.save", 1)
    print(
        f"state: {size / 2**20:.0f} MiB on {args.device}, {args.repeats} interleaved repeats, "
        "medians"
    )
    print(f"{'variant':<12}{'blocked s':>11}{'total s':>10}{'x torch.save':>14}{'peak extra':>12}")
    for name in runs:
        print(
            f"{name:<12}{med(name, 0):>11.3f}{med(name, 1):>10.3f}{med(name, 1) / base:>14.2f}"
            f"{peak[name] / size:>11.2f}x"
        )
    retained = async_saver._stager.nbytes
    print(
        f"first async save (allocates the staging buffers): blocked {first_async[0]:.3f} s, "
        f"peak extra {first_async[1] / size:.2f}x; retained between saves: "
        f"{retained / size:.2f}x the state"
    )
    print(
        f"sync/torch.save = {med('dcp sync', 1) / base:.2f} (budget 1.10); "
        f"async blocked / sync = {med('dcp async', 0) / med('dcp sync', 1):.2f} (budget 0.10)"
    )
    print(
        f"state copy / sync = {med('state copy', 0) / med('dcp sync', 1):.2f} (the floor of a "
        f"staged async save); async blocked / state copy = "
        f"{med('dcp async', 0) / med('state copy', 0):.2f}"
    )


if __name__ == "__main__":
    main()
