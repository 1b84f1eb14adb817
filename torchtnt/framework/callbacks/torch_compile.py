"""Shut down torch.compile's background compile workers once compilation is done."""

import logging

from torchtnt.framework.callback import Callback
from torchtnt.framework.state import State
from torchtnt.framework.unit import TTrainUnit

__all__ = ["TorchCompile"]

logger: logging.Logger = logging.getLogger(__name__)


def shutdown_compile_workers() -> None:
    """Stop inductor's compile worker pools (a warning where this torch lacks them)."""
    # Imported here: loading inductor takes seconds and only this hook needs it.
    try:
        from torch._inductor.async_compile import (
            shutdown_compile_workers as _inductor_shutdown,
        )
    except ImportError:
        logger.warning(
            "This torch has no torch._inductor.async_compile.shutdown_compile_workers; "
            "compile workers are left running."
        )
        return
    _inductor_shutdown()


class TorchCompile(Callback):
    """Free the processes torch.compile keeps for parallel compilation.

    ``torch.compile`` starts a pool of worker processes to compile kernels in parallel;
    they hold memory for the rest of the run. Once the model has been compiled (after the
    first few steps), this callback shuts them down at train step
    ``step_shutdown_compile_workers``. A later recompilation still works, compiling in
    the main process.

    Args:
        step_shutdown_compile_workers: train step (1-based count of completed steps) at
            which the workers are shut down.

    Raises:
        ValueError: if ``step_shutdown_compile_workers < 1``.
        TypeError: if it is not an int.
    """

    def __init__(self, step_shutdown_compile_workers: int) -> None:
        value = step_shutdown_compile_workers
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"step_shutdown_compile_workers={value!r} is invalid: expected an int >= 1"
            )
        if value < 1:
            raise ValueError(
                f"step_shutdown_compile_workers={value!r} is invalid: expected an int >= 1 "
                "(steps are counted after they complete, starting at 1)"
            )
        self._step_shutdown_compile_workers = value

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Shut the compile workers down at the configured step."""
        if unit.train_progress.num_steps_completed == self._step_shutdown_compile_workers:
            logger.info(
                "TorchCompile: shutting down compile workers after train step %d",
                self._step_shutdown_compile_workers,
            )
            shutdown_compile_workers()
