"""Weight averaging (EMA or SWA) of a model, with an optional warm-up of the EMA decay."""

from typing import Any, Callable, Literal, Optional, Union

import torch

__all__ = ["AveragedModel"]

from torch.optim.swa_utils import AveragedModel as _TorchAveragedModel

try:
    from torch.optim.swa_utils import get_ema_multi_avg_fn, get_swa_multi_avg_fn

    _AVERAGED_MODEL_AVAIL = True
except ImportError:  # torch older than 2.1 has no multi-tensor averaging helpers
    _AVERAGED_MODEL_AVAIL = False

_AVERAGING_METHODS = ("ema", "swa")


def _check_decay(ema_decay: Any) -> None:
    if isinstance(ema_decay, bool) or not isinstance(ema_decay, (int, float)):
        raise ValueError(f"Decay must be between 0 and 1. Got ema_decay={ema_decay!r}")
    if not 0.0 <= ema_decay <= 1.0:
        raise ValueError(f"Decay must be between 0 and 1. Got ema_decay={ema_decay}")


def _select_multi_avg_fn(averaging_method: str, ema_decay: float, use_lit: bool) -> Callable:
    if averaging_method == "ema":
        _check_decay(ema_decay)
        return get_ema_multi_avg_fn(ema_decay)
    if averaging_method == "swa":
        if use_lit:
            raise ValueError(
                "LIT is only supported for EMA: use_lit=True needs averaging_method='ema' "
                "(SWA averages all snapshots with equal weight, there is no decay to warm up)"
            )
        return get_swa_multi_avg_fn()
    raise ValueError(
        f"Unknown averaging method: averaging_method={averaging_method!r}, expected one of "
        f"{list(_AVERAGING_METHODS)}"
    )


class AveragedModel(_TorchAveragedModel):
    """Keep a running average of a model's weights (``torch.optim.swa_utils.AveragedModel``).

    ``"ema"`` keeps an exponential moving average,
    ``avg = ema_decay * avg + (1 - ema_decay) * param``; ``"swa"`` keeps the plain mean of
    all snapshots. The first :meth:`update_parameters` call copies the weights.

    With ``use_lit`` (EMA only) the decay warms up as ``min(ema_decay, (1 + n) / (10 + n))``
    where ``n`` counts updates including the current one, so early averages follow the model
    closely (as in "Exponential Moving Average Normalization", LIT warm-up). The update count
    is restored from the ``n_averaged`` buffer when a state dict is loaded.

    Args:
        model: the model to average.
        device: where to keep the averaged copy; unchanged when None.
        use_buffers: average buffers too (otherwise only parameters).
        averaging_method: ``"ema"`` or ``"swa"``.
        ema_decay: EMA decay in [0, 1].
        skip_deepcopy: wrap ``model`` itself instead of a deep copy (saves memory when the
            caller already holds a copy).
        use_lit: warm the EMA decay up as described above.

    Raises:
        ValueError: for an unknown ``averaging_method``, ``ema_decay`` outside [0, 1] with
            EMA, or ``use_lit=True`` with SWA.
        ImportError: if this torch build lacks ``torch.optim.swa_utils`` multi-averaging.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        device: Optional[Union[str, torch.device]] = None,
        use_buffers: bool = False,
        averaging_method: Literal["ema", "swa"] = "ema",
        ema_decay: float = 0.999,
        skip_deepcopy: bool = False,
        use_lit: bool = False,
    ) -> None:
        if not _AVERAGED_MODEL_AVAIL:
            raise ImportError(
                "AveragedModel needs torch.optim.swa_utils.get_ema_multi_avg_fn: "
                "pip install a newer torch (>= 2.1)"
            )
        multi_avg_fn = _select_multi_avg_fn(averaging_method, ema_decay, use_lit)
        # The parent deep-copies whatever it is given: hand it an empty stand-in when the
        # caller asked to wrap the model itself, then put the real model in place.
        super().__init__(
            torch.nn.Module() if skip_deepcopy else model,
            device=device,
            multi_avg_fn=multi_avg_fn,
            use_buffers=use_buffers,
        )
        if skip_deepcopy:
            self.module = model.to(device) if device is not None else model
        self._averaging_method = averaging_method
        self._ema_decay = ema_decay
        self._use_lit = use_lit
        self._num_updates = 0
        self.register_load_state_dict_post_hook(_resync_update_count)

    def update_parameters(self, model: torch.nn.Module) -> None:
        """Fold the current weights of ``model`` into the average.

        Args:
            model: the model being trained (same architecture as the averaged one).
        """
        self._num_updates += 1
        if self._use_lit:
            n = self._num_updates
            decay = min(self._ema_decay, (1 + n) / (10 + n))
            self.multi_avg_fn = get_ema_multi_avg_fn(decay)
        super().update_parameters(model)


def _resync_update_count(module: torch.nn.Module, incompatible_keys: Any) -> None:
    # The Python-side counter drives the LIT decay; a restored run must continue its warm-up.
    module._num_updates = int(module.n_averaged)
