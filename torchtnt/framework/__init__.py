"""The training framework: units, the loops that run them, state and callbacks."""

from typing import Any

from torchtnt.framework.callback import Callback
from torchtnt.framework.evaluate import evaluate
from torchtnt.framework.fit import fit
from torchtnt.framework.predict import predict
from torchtnt.framework.state import ActivePhase, EntryPoint, PhaseState, State
from torchtnt.framework.train import train
from torchtnt.framework.unit import (
    EvalUnit,
    PredictUnit,
    TEvalUnit,
    TPredictUnit,
    TrainUnit,
    TTrainUnit,
)

__all__ = [
    "AutoPredictUnit",
    "AutoUnit",
    "Callback",
    "evaluate",
    "fit",
    "predict",
    "ActivePhase",
    "EntryPoint",
    "PhaseState",
    "State",
    "train",
    "EvalUnit",
    "PredictUnit",
    "TEvalUnit",
    "TPredictUnit",
    "TrainUnit",
    "TTrainUnit",
]

_LAZY = {"AutoUnit", "AutoPredictUnit"}


def __getattr__(name: str) -> Any:
    # AutoUnit pulls in the distributed/FSDP preparation code; load it only when asked for.
    if name in _LAZY:
        from torchtnt.framework import auto_unit

        value = getattr(auto_unit, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
