"""Log throughput (items per second) per step and per epoch, and MFU when FLOPs are known."""

import logging
import math
import time
from typing import Dict, List, Mapping, Optional, Tuple, Union

from torchtnt.framework.callback import Callback
from torchtnt.framework.callbacks._callback_utils import check_step_cadence
from torchtnt.framework.state import ActivePhase, State
from torchtnt.framework.unit import TEvalUnit, TPredictUnit, TTrainUnit
from torchtnt.utils.loggers.logger import MetricLogger

__all__ = ["ThroughputLogger"]

logger: logging.Logger = logging.getLogger(__name__)

_PREFIXES = {
    ActivePhase.TRAIN: "Train",
    ActivePhase.EVALUATE: "Eval",
    ActivePhase.PREDICT: "Predict",
}
_ITERATION_KEYS = {
    ActivePhase.TRAIN: "train_iteration_time",
    ActivePhase.EVALUATE: "eval_iteration_time",
    ActivePhase.PREDICT: "predict_iteration_time",
}
_PHASE_NAMES = {
    "train": ActivePhase.TRAIN,
    "eval": ActivePhase.EVALUATE,
    "predict": ActivePhase.PREDICT,
}

# (metric name, numerator): the value logged is numerator / seconds (times steps per epoch).
_Metrics = List[Tuple[str, float]]


def _check_throughput_per_batch(throughput_per_batch: Mapping[str, int]) -> None:
    if not isinstance(throughput_per_batch, Mapping):
        raise TypeError(
            f"throughput_per_batch={throughput_per_batch!r} is invalid: expected a mapping "
            'of item name to count per batch, e.g. {"Samples": 32}'
        )
    if not throughput_per_batch:
        raise ValueError("throughput_per_batch cannot be empty")
    for item, count in throughput_per_batch.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(
                f"throughput_per_batch[{item!r}]={count!r} is invalid: expected an int >= 1 "
                "(the number of items in one batch)"
            )


def _check_positive_number(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name}={value!r} is invalid: expected a finite number > 0")
    return float(value)


def _flops_by_phase(
    flops_per_step: Union[float, Mapping[str, float], None],
) -> Dict[ActivePhase, float]:
    """Normalize ``flops_per_step`` to FLOPs per step of each phase that has them."""
    if flops_per_step is None:
        return {}
    if not isinstance(flops_per_step, Mapping):
        value = _check_positive_number("flops_per_step", flops_per_step)
        return dict.fromkeys(_PREFIXES, value)
    flops: Dict[ActivePhase, float] = {}
    for phase_name, value in flops_per_step.items():
        if phase_name not in _PHASE_NAMES:
            raise ValueError(
                f"flops_per_step key {phase_name!r} is invalid: expected 'train', 'eval' "
                "or 'predict'"
            )
        flops[_PHASE_NAMES[phase_name]] = _check_positive_number(
            f"flops_per_step[{phase_name!r}]", value
        )
    return flops


class ThroughputLogger(Callback):
    """Log how many items per second each phase processes.

    For every ``item: count`` of ``throughput_per_batch`` (e.g. ``{"Samples": 32,
    "Tokens": 4096}``) two metrics are logged:

    - ``"{Phase}: {item} per second (step granularity)"`` = count / (iteration time + time
      waiting for the batch) of one step, at that step. As the current step's iteration time
      is recorded after the step-end hooks, ``on_*_step_end`` logs the previous step and
      ``on_*_end`` the last one.
    - ``"{Phase}: {item} per second (epoch granularity)"`` = count * steps / wall time of
      the epoch, at the phase's ``num_epochs_completed`` (train: at each epoch end; eval: at
      the end of the run; predict: none, as in TorchTNT).

    ``{Phase}`` is ``Train``, ``Eval`` or ``Predict``. Values are computed on every rank; use
    a logger that writes on rank 0 only (all built-in loggers do).

    Beyond TorchTNT: when the FLOPs of one step are known (for instance
    ``flops_forward + flops_backward`` of :func:`torchtnt.utils.module_summary.get_module_summary`),
    pass them as ``flops_per_step`` to also log ``"{Phase}: TFLOPs per second (...)"``, and
    the hardware peak as ``peak_flops_per_second`` to log the model FLOPs utilization
    ``"{Phase}: MFU (...)"`` (a fraction of the peak, 0 to 1), at both granularities.

    Args:
        logger: where to log.
        throughput_per_batch: item name to the number of such items in one batch.
        log_every_n_steps: step-granularity values are logged for steps divisible by this.
        warmup_steps: steps up to and including this one are not logged.
        flops_per_step: FLOPs one step performs on this rank: one number for every phase,
            or a mapping with keys among ``"train"``, ``"eval"`` and ``"predict"``.
        peak_flops_per_second: peak FLOPs per second of this rank's device at the precision
            used (e.g. ``989e12`` for dense bf16 on an H100 SXM).

    Raises:
        TypeError: ``logger`` is not a MetricLogger, or an argument has the wrong type.
        ValueError: ``throughput_per_batch`` is empty or has a count below 1,
            ``log_every_n_steps`` is below 1, ``warmup_steps`` is negative, a FLOPs value is
            not a positive number, or ``peak_flops_per_second`` is given without
            ``flops_per_step``.
    """

    def __init__(
        self,
        logger: MetricLogger,
        throughput_per_batch: Mapping[str, int],
        *,
        log_every_n_steps: int = 1,
        warmup_steps: int = 0,
        flops_per_step: Union[float, Mapping[str, float], None] = None,
        peak_flops_per_second: Optional[float] = None,
    ) -> None:
        if not callable(getattr(logger, "log", None)):
            raise TypeError(
                f"logger={logger!r} is invalid: expected a MetricLogger (an object with a "
                "log(name, value, step) method, e.g. TensorBoardLogger or CSVLogger)"
            )
        _check_throughput_per_batch(throughput_per_batch)
        check_step_cadence(log_every_n_steps, warmup_steps)
        flops = _flops_by_phase(flops_per_step)
        peak = None
        if peak_flops_per_second is not None:
            if not flops:
                raise ValueError(
                    "peak_flops_per_second was given without flops_per_step: MFU needs the "
                    "FLOPs of one step; pass flops_per_step too"
                )
            peak = _check_positive_number("peak_flops_per_second", peak_flops_per_second)
        self._logger = logger
        self._throughput_per_batch = dict(throughput_per_batch)
        self._log_every_n_steps = log_every_n_steps
        self._warmup_steps = warmup_steps
        self._flops = flops
        self._peak_flops = peak
        # Metric names are built once so that logging a step formats no strings.
        self._step_metrics = {p: self._metrics(p, "step") for p in _PREFIXES}
        self._epoch_metrics = {p: self._metrics(p, "epoch") for p in _PREFIXES}
        self._epoch_start_times: Dict[ActivePhase, float] = {}
        self._steps_in_epoch: Dict[ActivePhase, int] = {}

    def _metrics(self, phase: ActivePhase, granularity: str) -> _Metrics:
        prefix, suffix = _PREFIXES[phase], f"per second ({granularity} granularity)"
        metrics = [
            (f"{prefix}: {item} {suffix}", float(count))
            for item, count in self._throughput_per_batch.items()
        ]
        flops = self._flops.get(phase)
        if flops is not None:
            metrics.append((f"{prefix}: TFLOPs {suffix}", flops / 1e12))
            if self._peak_flops is not None:
                metrics.append(
                    (f"{prefix}: MFU ({granularity} granularity)", flops / self._peak_flops)
                )
        return metrics

    def _maybe_log_for_step(
        self, state: State, step_logging_for: int, *, is_step_end_hook: bool = True
    ) -> None:
        """Log the step-granularity values of step ``step_logging_for`` of the active phase.

        At a step end the latest data wait belongs to the current step, so the one of the
        step being logged is second to last; at the end of the phase it is the last one.
        """
        if step_logging_for <= self._warmup_steps or step_logging_for % self._log_every_n_steps:
            return
        phase = state.active_phase
        durations = state.active_phase_state().iteration_timer.recorded_durations
        iteration_times = durations.get(_ITERATION_KEYS[phase])
        data_waits = durations.get("data_wait_time")
        offset = 2 if is_step_end_hook else 1
        if not iteration_times or not data_waits or len(data_waits) < offset:
            return
        total = iteration_times[-1] + data_waits[-offset]
        if total <= 0:
            return
        log = self._logger.log
        for name, numerator in self._step_metrics[phase]:
            log(name, numerator / total, step_logging_for)

    def _start_epoch(self, phase: ActivePhase) -> None:
        self._epoch_start_times[phase] = time.perf_counter()
        self._steps_in_epoch[phase] = 0

    def _log_for_epoch(self, state: State, *, epoch_logging_for: int) -> None:
        """Log the epoch-granularity values of the active phase's epoch, then reset it."""
        phase = state.active_phase
        start = self._epoch_start_times.get(phase)
        steps = self._steps_in_epoch.get(phase)
        if start is None or steps is None:
            logger.warning(
                f"ThroughputLogger: no start time recorded for the {phase} epoch (was it "
                "resumed mid-epoch?); its epoch throughput is not logged"
            )
            return
        if steps <= 0:
            return
        elapsed = time.perf_counter() - start
        if elapsed > 0:
            for name, numerator in self._epoch_metrics[phase]:
                self._logger.log(name, numerator * steps / elapsed, epoch_logging_for)
        self._steps_in_epoch[phase] = 0

    def _count_step(self, phase: ActivePhase) -> None:
        steps = self._steps_in_epoch
        if phase in steps:
            steps[phase] += 1

    def on_train_epoch_start(self, state: State, unit: TTrainUnit) -> None:
        """Start timing the train epoch."""
        self._start_epoch(ActivePhase.TRAIN)

    def on_train_step_end(self, state: State, unit: TTrainUnit) -> None:
        """Log the previous train step and count this one."""
        self._maybe_log_for_step(state, unit.train_progress.num_steps_completed - 1)
        self._count_step(ActivePhase.TRAIN)

    def on_train_epoch_end(self, state: State, unit: TTrainUnit) -> None:
        """Log the train epoch's throughput."""
        self._log_for_epoch(state, epoch_logging_for=unit.train_progress.num_epochs_completed)

    def on_train_end(self, state: State, unit: TTrainUnit) -> None:
        """Log the last train step."""
        self._maybe_log_for_step(
            state, unit.train_progress.num_steps_completed, is_step_end_hook=False
        )

    def on_eval_start(self, state: State, unit: TEvalUnit) -> None:
        """Start timing the eval run."""
        self._start_epoch(ActivePhase.EVALUATE)

    def on_eval_step_end(self, state: State, unit: TEvalUnit) -> None:
        """Log the previous eval step and count this one."""
        self._maybe_log_for_step(state, unit.eval_progress.num_steps_completed - 1)
        self._count_step(ActivePhase.EVALUATE)

    def on_eval_end(self, state: State, unit: TEvalUnit) -> None:
        """Log the last eval step and the eval run's throughput."""
        self._maybe_log_for_step(
            state, unit.eval_progress.num_steps_completed, is_step_end_hook=False
        )
        self._log_for_epoch(state, epoch_logging_for=unit.eval_progress.num_epochs_completed)

    def on_predict_start(self, state: State, unit: TPredictUnit) -> None:
        """Start timing the predict run."""
        self._start_epoch(ActivePhase.PREDICT)

    def on_predict_step_end(self, state: State, unit: TPredictUnit) -> None:
        """Log the previous predict step. Predict steps are not counted per epoch (as in
        TorchTNT), so prediction logs no epoch-granularity throughput."""
        self._maybe_log_for_step(state, unit.predict_progress.num_steps_completed - 1)

    def on_predict_end(self, state: State, unit: TPredictUnit) -> None:
        """Log the last predict step and the predict run's throughput."""
        self._maybe_log_for_step(
            state, unit.predict_progress.num_steps_completed, is_step_end_hook=False
        )
        self._log_for_epoch(state, epoch_logging_for=unit.predict_progress.num_epochs_completed)
