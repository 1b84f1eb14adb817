"""A unit and a callback that record every hook they see, for hook-order tests."""

from typing import Any, Iterable, List, Optional

import torch

from torchtnt.framework._callback_handler import HOOK_NAMES
from torchtnt.framework.callback import Callback
from torchtnt.framework.state import State
from torchtnt.framework.unit import EvalUnit, PredictUnit, TrainUnit

UNIT_HOOKS = [
    f"on_{phase}_{event}"
    for phase in ("train", "eval", "predict")
    for event in ("start", "epoch_start", "epoch_end", "end")
]


class RecordingCallback(Callback):
    """Appends ``"cb.<hook>"`` to ``log`` for every hook."""

    def __init__(self, log: List[str]) -> None:
        self.log = log


def _callback_hook(hook: str) -> Any:
    if hook == "on_exception":

        def record(self: RecordingCallback, state: State, unit: Any, exc: BaseException) -> None:
            self.log.append(f"cb.{hook}")

    else:

        def record(self: RecordingCallback, state: State, unit: Any) -> None:
            self.log.append(f"cb.{hook}")

    return record


for _hook in HOOK_NAMES:
    setattr(RecordingCallback, _hook, _callback_hook(_hook))


class RecordingUnit(TrainUnit[int], EvalUnit[int], PredictUnit[int]):
    """Records its hooks as ``"unit.<hook>"`` and steps as ``"unit.<phase>_step(<batch>)"``.

    A step may be told to fail (``fail_on``) or to stop the run (``stop_on``) at a given
    ``(phase, batch)``.
    """

    def __init__(
        self,
        log: List[str],
        fail_on: Optional[Iterable[Any]] = None,
        stop_on: Optional[Iterable[Any]] = None,
    ) -> None:
        super().__init__()
        self.log = log
        self.fail_on = set(fail_on or ())
        self.stop_on = set(stop_on or ())
        self.module = torch.nn.Linear(1, 1)
        self.grad_enabled: List[bool] = []
        self.training_flags: List[bool] = []

    def _step(self, phase: str, state: State, data: int) -> str:
        self.log.append(f"unit.{phase}_step({data})")
        self.grad_enabled.append(torch.is_grad_enabled())
        self.training_flags.append(self.module.training)
        if (phase, data) in self.fail_on:
            raise RuntimeError(f"{phase} step failed on {data}")
        if (phase, data) in self.stop_on:
            state.stop()
        return f"{phase}:{data}"

    def train_step(self, state: State, data: int) -> str:
        return self._step("train", state, data)

    def eval_step(self, state: State, data: int) -> str:
        return self._step("eval", state, data)

    def predict_step(self, state: State, data: int) -> str:
        return self._step("predict", state, data)

    def on_exception(self, state: State, exc: BaseException) -> None:
        self.log.append("unit.on_exception")


def _unit_hook(hook: str) -> Any:
    def record(self: RecordingUnit, state: State) -> None:
        self.log.append(f"unit.{hook}")

    return record


for _hook in UNIT_HOOKS:
    setattr(RecordingUnit, _hook, _unit_hook(_hook))


def steps(phase: str, batches: Iterable[int]) -> List[str]:
    """The hooks of full steps over ``batches``."""
    out: List[str] = []
    for batch in batches:
        out += [
            f"cb.on_{phase}_get_next_batch_start",
            f"cb.on_{phase}_get_next_batch_end",
            f"cb.on_{phase}_step_start",
            f"unit.{phase}_step({batch})",
            f"cb.on_{phase}_step_end",
        ]
    return out


def both(hook: str) -> List[str]:
    """A hook the unit and the callbacks both have: the unit's fires first."""
    return [f"unit.{hook}", f"cb.{hook}"]


def epoch_open(phase: str, fresh: bool = True) -> List[str]:
    """Hooks from epoch start through iterator creation."""
    start = both(f"on_{phase}_epoch_start") if fresh else []
    return start + [
        f"cb.on_{phase}_dataloader_iter_creation_start",
        f"cb.on_{phase}_dataloader_iter_creation_end",
    ]


def exhausted(phase: str) -> List[str]:
    """The failed fetch that ends an epoch when the data runs out."""
    return [f"cb.on_{phase}_get_next_batch_start"]
