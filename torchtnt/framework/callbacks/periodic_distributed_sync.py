"""Keep ranks in step during long eval and predict loops with a periodic barrier."""

import logging

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import check_int
from torchtnt.framework.state import State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit
from torchtnt.utils.distributed import barrier

__all__ = ["PeriodicDistributedSync"]

logger: logging.Logger = logging.getLogger(__name__)


class PeriodicDistributedSync(Callback):
    """Call a distributed barrier every ``sync_every_n_steps`` eval and predict steps.

    Eval and predict steps have no collective of their own, so a fast rank can race far
    ahead of a slow one and then time out in the next collective (e.g. a checkpoint or a
    metric sync). A barrier every few steps bounds that drift. Without a process group the
    barrier does nothing.

    Note: collective; every rank must run this callback with the same interval.

    Args:
        sync_every_n_steps: steps between barriers.

    Raises:
        ValueError: if ``sync_every_n_steps < 1``.
        TypeError: if ``sync_every_n_steps`` is not an int.
    """

    def __init__(self, sync_every_n_steps: int = 1000) -> None:
        check_int("sync_every_n_steps", sync_every_n_steps, 1)
        self.sync_every_n_steps: int = sync_every_n_steps

    def on_eval_step_end(self, state: State, unit: TEvalUnit) -> None:
        """Wait for all ranks every ``sync_every_n_steps`` eval steps."""
        self._maybe_sync("eval", unit.eval_progress.num_steps_completed)

    def on_predict_step_end(self, state: State, unit: TPredictUnit) -> None:
        """Wait for all ranks every ``sync_every_n_steps`` predict steps."""
        self._maybe_sync("predict", unit.predict_progress.num_steps_completed)

    def _maybe_sync(self, phase: str, num_steps: int) -> None:
        if num_steps % self.sync_every_n_steps == 0:
            logger.info("PeriodicDistributedSync: barrier at %s step %d", phase, num_steps)
            barrier()
