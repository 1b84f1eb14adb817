"""Protocols for objects whose state can be saved and restored, and small containers of them."""

from typing import Any, Dict, Protocol, runtime_checkable

__all__ = [
    "Stateful",
    "MetricStateful",
    "MultiStateful",
    "DictStateful",
    "StatefulDict",
    "ModuleDict",
    "OptimizerAndLRSchedulerDict",
    "ProgressDict",
]


@runtime_checkable
class Stateful(Protocol):
    """Anything with ``state_dict()`` and ``load_state_dict(state_dict)``."""

    def state_dict(self) -> Dict[str, Any]: ...

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None: ...


@runtime_checkable
class MetricStateful(Protocol):
    """A metric: stateful, and also updatable and computable."""

    def update(self, *_: Any, **__: Any) -> None: ...

    def compute(self) -> Any: ...

    def state_dict(self) -> Dict[str, Any]: ...

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None: ...


StatefulDict = Dict[str, Stateful]
ModuleDict = Dict[str, Any]
OptimizerAndLRSchedulerDict = Dict[str, Any]
ProgressDict = Dict[str, Any]


class MultiStateful:
    """Groups several stateful objects under names so they save and load as one.

    Args:
        stateful_objs: mapping from name to a stateful object.
    """

    def __init__(self, stateful_objs: StatefulDict) -> None:
        self.stateful_objs = stateful_objs

    def state_dict(self) -> Dict[str, Any]:
        """Return ``{name: obj.state_dict()}`` for every grouped object."""
        return {name: obj.state_dict() for name, obj in self.stateful_objs.items()}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Load each entry of ``state_dict`` into the object of the same name.

        Raises:
            KeyError: if ``state_dict`` names an object that is not grouped here.
        """
        for name, sub_state in state_dict.items():
            self.stateful_objs[name].load_state_dict(sub_state)


class DictStateful(Stateful, Dict[str, Any]):
    """A plain dict that can be checkpointed: its state is a shallow copy of itself."""

    def state_dict(self) -> Dict[str, Any]:
        """Return a shallow copy of the dict."""
        return dict(self)

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Replace the dict's contents with ``state_dict``."""
        self.clear()
        self.update(state_dict)
