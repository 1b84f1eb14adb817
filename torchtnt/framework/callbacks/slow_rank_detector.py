"""Measure how far apart the ranks are when they reach the same point of training."""

import logging
import time
from typing import List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import as_logger_list, check_int
from torchtnt.framework.state import State
from torchtnt.framework.unit import TTrainUnit
from torchtnt.utils.distributed import all_gather_tensors, get_global_rank
from torchtnt.utils.env import init_from_env
from torchtnt.utils.loggers.logger import MetricLogger
from torchtnt.utils.rank_zero_log import rank_zero_info

__all__ = ["SlowRankDetector"]

logger: logging.Logger = logging.getLogger(__name__)

_METRIC_NAME = "Difference between fastest/slowest rank (seconds)"


def _get_min_max_indices(input_list: Sequence[float]) -> Tuple[int, int]:
    """Return the index of the first minimum and of the first maximum of ``input_list``.

    Returns ``(-1, -1)`` for an empty list.
    """
    if len(input_list) == 0:
        return -1, -1
    indices = range(len(input_list))
    # min/max keep the first of equal candidates, so ties go to the lowest rank.
    return min(indices, key=input_list.__getitem__), max(indices, key=input_list.__getitem__)


class SlowRankDetector(Callback):
    """Find the slowest and fastest rank by comparing when they reach a check point.

    Every ``check_every_n_steps`` train steps and every ``check_every_n_epochs`` train
    epochs, each rank reads its clock (``time.perf_counter``) and the readings are
    gathered. The time between the first and the last rank to arrive is logged on rank 0,
    with both ranks named, and, when ``logger`` is given, written to it under
    ``"Difference between fastest/slowest rank (seconds)"`` at the current train step.
    Readings are only comparable between ranks on one host (they share the monotonic
    clock); across hosts, compare the trend rather than the absolute value.

    Note: the check is collective; every rank of ``pg`` must run this callback with the
    same frequencies.

    Args:
        check_every_n_steps: train steps between checks; None disables step checks.
        check_every_n_epochs: train epochs between checks; None disables epoch checks.
        pg: the process group to compare (default: WORLD).
        logger: a metric logger that receives the difference on rank 0.
        device: device of the gathered tensor; it must suit ``pg``'s backend (CPU for
            gloo, CUDA for NCCL). Defaults to this process's device from the
            environment (:func:`torchtnt.utils.device.get_device_from_env`).

    Raises:
        ValueError: if both frequencies are None (or 0), or one of them is <= 0.
        TypeError: if a frequency is neither an int nor None.
    """

    def __init__(
        self,
        *,
        check_every_n_steps: Optional[int] = 100,
        check_every_n_epochs: Optional[int] = 1,
        pg: Optional[dist.ProcessGroup] = None,
        logger: Optional[MetricLogger] = None,
        device: Optional[torch.device] = None,
    ) -> None:
        if not check_every_n_steps and not check_every_n_epochs:
            raise ValueError(
                f"check_every_n_steps={check_every_n_steps!r} and check_every_n_epochs="
                f"{check_every_n_epochs!r}: at least one must be a positive int, otherwise "
                "nothing is ever checked"
            )
        check_int("check_every_n_steps", check_every_n_steps, 1, allow_none=True)
        check_int("check_every_n_epochs", check_every_n_epochs, 1, allow_none=True)
        if logger is not None:
            as_logger_list(logger, "logger")
        self._check_every_n_steps = check_every_n_steps
        self._check_every_n_epochs = check_every_n_epochs
        self._pg = pg
        self._logger = logger
        # init_from_env also joins the process group torchrun describes, if none exists yet.
        self._device: torch.device = device if device is not None else init_from_env()
        self._rank: int = get_global_rank()

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Compare the ranks every ``check_every_n_steps`` train steps."""
        progress = unit.train_progress
        n = self._check_every_n_steps
        if n and progress.num_steps_completed % n == 0:
            self._sync_and_log(
                f"train step {progress.num_steps_completed}", progress.num_steps_completed
            )

    def on_train_epoch_end(self, state: State, unit: TTrainUnit) -> None:
        """Compare the ranks every ``check_every_n_epochs`` train epochs."""
        progress = unit.train_progress
        n = self._check_every_n_epochs
        if n and progress.num_epochs_completed % n == 0:
            self._sync_and_log(
                f"end of train epoch {progress.num_epochs_completed}",
                progress.num_steps_completed,
            )

    def _sync_and_log(self, where: str, step: int) -> None:
        """Gather every rank's clock, then log the spread on rank 0.

        Note: collective, every rank must call it.
        """
        # float64: float32 cannot resolve milliseconds on a clock that counts from boot. A
        # 0-dim tensor needs no shape exchange before the gather.
        now = torch.tensor(time.perf_counter(), dtype=torch.float64, device=self._device)
        times: List[float] = [t.item() for t in all_gather_tensors(now, group=self._pg)]
        fastest, slowest = _get_min_max_indices(times)
        difference = times[slowest] - times[fastest]
        rank_zero_info(
            f"SlowRankDetector at {where}: rank {slowest} arrived last, {difference:.4f} s after "
            f"rank {fastest}, the first.",
            logger=logger,
        )
        if self._logger is not None and self._rank == 0:
            self._logger.log(_METRIC_NAME, difference, step)
