"""Allow TensorFloat32 matmuls and convolutions for a phase, then restore the settings."""

import logging
from typing import Optional

import torch

from torchtnt.framework.callback import Callback
from torchtnt.framework.state import EntryPoint, State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit, TTrainUnit
from torchtnt.utils.rank_zero_log import rank_zero_info

__all__ = ["EnableTensorFloat32"]

logger: logging.Logger = logging.getLogger(__name__)

_PRECISIONS = ("highest", "high", "medium")


class EnableTensorFloat32(Callback):
    """Switch on TensorFloat32 (faster, slightly less precise float32 math) while running.

    When a phase starts, turns on ``torch.backends.cuda.matmul.allow_tf32`` and
    ``torch.backends.cudnn.allow_tf32`` and sets
    ``torch.set_float32_matmul_precision(float32_matmul_precision)``; when it ends, puts the
    previous values back. The precision is applied last, so on torch versions where it also
    governs CUDA matmuls it has the final word (``"highest"`` keeps them in full float32).
    Inside ``fit`` the settings stay on from the start of training to its end, across
    evaluations. On a CPU-only machine the flags are plain settings and change nothing.

    Args:
        float32_matmul_precision: ``"highest"``, ``"high"`` or ``"medium"`` (see
            ``torch.set_float32_matmul_precision``).

    Raises:
        ValueError: on any other precision.
    """

    def __init__(self, float32_matmul_precision: str = "high") -> None:
        if float32_matmul_precision not in _PRECISIONS:
            raise ValueError(
                f"float32_matmul_precision={float32_matmul_precision!r} is invalid: expected "
                f"one of {list(_PRECISIONS)}"
            )
        self.float32_matmul_precision: str = float32_matmul_precision
        self.original_float32_matmul_precision: Optional[str] = None
        self.original_cuda_matmul: Optional[bool] = None
        self.original_cudnn: Optional[bool] = None

    def _enable(self) -> None:
        """Save the current settings and switch TensorFloat32 on."""
        assert self.original_float32_matmul_precision is None, "TensorFloat32 already enabled"
        assert self.original_cuda_matmul is None, "TensorFloat32 already enabled"
        assert self.original_cudnn is None, "TensorFloat32 already enabled"
        rank_zero_info(
            f"Enabling TensorFloat32 (float32 matmul precision {self.float32_matmul_precision!r})",
            logger=logger,
        )
        self.original_float32_matmul_precision = torch.get_float32_matmul_precision()
        self.original_cuda_matmul = torch.backends.cuda.matmul.allow_tf32
        self.original_cudnn = torch.backends.cudnn.allow_tf32
        # Flags first, precision last: recent torch versions refuse to report the precision
        # after a legacy flag overrode it ("mix of the legacy and new APIs").
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision(self.float32_matmul_precision)

    def _reset(self) -> None:
        """Put back whichever settings :meth:`_enable` saved."""
        rank_zero_info("Restoring the float32 precision settings from before", logger=logger)
        # Same order as in _enable, for the same reason.
        if self.original_cuda_matmul is not None:
            torch.backends.cuda.matmul.allow_tf32 = self.original_cuda_matmul
            self.original_cuda_matmul = None
        if self.original_cudnn is not None:
            torch.backends.cudnn.allow_tf32 = self.original_cudnn
            self.original_cudnn = None
        if self.original_float32_matmul_precision is not None:
            torch.set_float32_matmul_precision(self.original_float32_matmul_precision)
            self.original_float32_matmul_precision = None

    def on_train_start(self, state: State, unit: TTrainUnit) -> None:
        """Switch TensorFloat32 on."""
        self._enable()

    def on_train_end(self, state: State, unit: TTrainUnit) -> None:
        """Restore the previous settings."""
        self._reset()

    def on_eval_start(self, state: State, unit: TEvalUnit) -> None:
        """Switch TensorFloat32 on, unless training (in ``fit``) already did."""
        if state.entry_point != EntryPoint.FIT:
            self._enable()

    def on_eval_end(self, state: State, unit: TEvalUnit) -> None:
        """Restore the previous settings, unless training (in ``fit``) goes on."""
        if state.entry_point != EntryPoint.FIT:
            self._reset()

    def on_predict_start(self, state: State, unit: TPredictUnit) -> None:
        """Switch TensorFloat32 on."""
        self._enable()

    def on_predict_end(self, state: State, unit: TPredictUnit) -> None:
        """Restore the previous settings."""
        self._reset()
