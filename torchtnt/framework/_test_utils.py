"""A kit of small units, dataloaders and states for tests of code built on torchtnt.

Test suites written for TorchTNT import these names; our own tests use them too.
"""

from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from torchtnt.framework.state import EntryPoint, PhaseState, State
from torchtnt.framework.unit import EvalUnit, PredictUnit, TrainUnit

Batch = Tuple[torch.Tensor, torch.Tensor]

_DEFAULT_DATA = [1, 2, 3, 4]


def _one_step_phase(dataloader: Optional[Iterable[object]]) -> PhaseState:
    return PhaseState(
        dataloader=dataloader or _DEFAULT_DATA,
        max_epochs=1,
        max_steps=1,
        max_steps_per_epoch=1,
    )


def get_dummy_train_state(dataloader: Optional[Iterable[object]] = None) -> State:
    """A TRAIN state limited to one epoch of one step."""
    return State(entry_point=EntryPoint.TRAIN, train_state=_one_step_phase(dataloader), timer=None)


def get_dummy_eval_state(dataloader: Optional[Iterable[object]] = None) -> State:
    """An EVALUATE state limited to one step."""
    return State(
        entry_point=EntryPoint.EVALUATE, eval_state=_one_step_phase(dataloader), timer=None
    )


def get_dummy_predict_state(dataloader: Optional[Iterable[object]] = None) -> State:
    """A PREDICT state limited to one step."""
    return State(
        entry_point=EntryPoint.PREDICT, predict_state=_one_step_phase(dataloader), timer=None
    )


def get_dummy_fit_state() -> State:
    """A FIT state with one-step train and eval phases."""
    return State(
        entry_point=EntryPoint.FIT,
        train_state=_one_step_phase(None),
        eval_state=_one_step_phase(None),
        timer=None,
    )


class DummyEvalUnit(EvalUnit[Batch]):
    """Evaluates a ``Linear(input_dim, 2)`` with cross-entropy."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.module = nn.Linear(input_dim, 2)
        self.loss_fn = nn.CrossEntropyLoss()

    def eval_step(self, state: State, data: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = data
        outputs = self.module(inputs)
        return self.loss_fn(outputs, targets), outputs


class DummyPredictUnit(PredictUnit[Batch]):
    """Predicts with a ``Linear(input_dim, 2)``; batches are ``(inputs, targets)``."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.module = nn.Linear(input_dim, 2)

    def predict_step(self, state: State, data: Batch) -> torch.Tensor:
        inputs, _ = data
        return self.module(inputs)


class DummyTrainUnit(TrainUnit[Batch]):
    """Trains a ``Linear(input_dim, 2)`` with cross-entropy and SGD(lr=0.01)."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.module = nn.Linear(input_dim, 2)
        self.loss_fn = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=0.01)

    def train_step(self, state: State, data: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = data
        outputs = self.module(inputs)
        loss = self.loss_fn(outputs, targets)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss, outputs


class DummyMultiOptimUnit(TrainUnit[Batch]):
    """Six linear modules, each with its own optimizer of a different class."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.modules = [nn.Linear(input_dim, 2) for _ in range(6)]
        self.loss_fn = nn.CrossEntropyLoss()
        self.optims = [
            torch.optim.SGD,
            torch.optim.Adam,
            torch.optim.AdamW,
            torch.optim.Adadelta,
            torch.optim.NAdam,
            torch.optim.RMSprop,
        ]
        self.applied_optims: List[torch.optim.Optimizer] = []
        for module, optim_cls in zip(self.modules, self.optims):
            optimizer = optim_cls(module.parameters(), lr=0.1)
            setattr(self, f"optimizer_{optim_cls.__name__}", optimizer)
            self.applied_optims.append(optimizer)

    def train_step(self, state: State, data: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = data
        outputs = [module(inputs) for module in self.modules]
        loss = torch.stack([self.loss_fn(out, targets) for out in outputs]).sum()
        loss.backward()
        for optimizer in self.applied_optims:
            optimizer.step()
            optimizer.zero_grad()
        return loss, outputs[0]


class DummyFitUnit(TrainUnit[Batch], EvalUnit[Batch]):
    """Trains and evaluates a ``Linear(input_dim, 2)``."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.module = nn.Linear(input_dim, 2)
        self.loss_fn = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=0.01)

    def train_step(self, state: State, data: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = data
        outputs = self.module(inputs)
        loss = self.loss_fn(outputs, targets)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss, outputs

    def eval_step(self, state: State, data: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = data
        outputs = self.module(inputs)
        return self.loss_fn(outputs, targets), outputs


def generate_random_dataset(num_samples: int, input_dim: int) -> Dataset[Batch]:
    """Random inputs of width ``input_dim`` with binary targets."""
    return TensorDataset(torch.randn(num_samples, input_dim), torch.randint(0, 2, (num_samples,)))


def generate_random_dataloader(
    num_samples: int, input_dim: int, batch_size: int
) -> DataLoader[Batch]:
    """A non-shuffled DataLoader over :func:`generate_random_dataset`."""
    return DataLoader(generate_random_dataset(num_samples, input_dim), batch_size=batch_size)


class RandomIterableDataset(IterableDataset):
    """Yields ``count`` random tensors of shape ``(size,)``; has a length."""

    def __init__(self, size: int, count: int) -> None:
        self.size = size
        self.count = count

    def __iter__(self) -> Iterator[torch.Tensor]:
        for _ in range(self.count):
            yield torch.randn(self.size)

    def __len__(self) -> int:
        return self.count


def generate_random_iterable_dataloader(
    num_samples: int, input_dim: int, batch_size: int
) -> DataLoader:
    """A DataLoader over :class:`RandomIterableDataset`."""
    return DataLoader(RandomIterableDataset(input_dim, num_samples), batch_size=batch_size)


class DummyStatefulDataLoader:
    """Wraps a DataLoader and pretends to be stateful."""

    def __init__(self, dataloader: DataLoader) -> None:
        self.dataloader = dataloader

    def state_dict(self) -> Dict[str, Any]:
        return {"current_batch": 1}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        return None

    def __iter__(self) -> Iterator[object]:
        return iter(self.dataloader)


def generate_dummy_stateful_dataloader(
    num_samples: int, input_dim: int, batch_size: int
) -> DummyStatefulDataLoader:
    """A :class:`DummyStatefulDataLoader` over random iterable data."""
    return DummyStatefulDataLoader(
        generate_random_iterable_dataloader(num_samples, input_dim, batch_size)
    )


def generate_tensor_dataloader(samples: torch.Tensor, batch_size: int) -> DummyStatefulDataLoader:
    """Batches of ``samples``; each batch is a one-element list ``[tensor]``."""
    return DummyStatefulDataLoader(DataLoader(TensorDataset(samples), batch_size=batch_size))


class DummyMeanMetric:
    """A running-mean metric (update/compute/state_dict/load_state_dict)."""

    def __init__(self) -> None:
        self.sum: float = 0.0
        self.count: int = 0

    def update(self, value: float) -> None:
        self.sum += float(value)
        self.count += 1

    def compute(self) -> float:
        return self.sum / self.count if self.count else 0.0

    def state_dict(self) -> Dict[str, Any]:
        return {"sum": self.sum, "count": self.count}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.sum = state_dict["sum"]
        self.count = state_dict["count"]


class DummyStatefulConfig:
    """A config object with a nested state_dict."""

    def __init__(
        self,
        storage_path: str,
        lazy_loading: bool,
        num_workers_per_gpu: int,
        max_batch_length: int,
    ) -> None:
        self.storage_path = storage_path
        self.lazy_loading = lazy_loading
        self.num_workers_per_gpu = num_workers_per_gpu
        self.max_batch_length = max_batch_length

    def state_dict(self) -> Dict[str, Any]:
        return {
            "storage_path": self.storage_path,
            "data": {
                "lazy_loading": self.lazy_loading,
                "train": {
                    "num_workers_per_gpu": self.num_workers_per_gpu,
                    "dynamic_batch_config": {"max_batch_length": self.max_batch_length},
                },
            },
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.storage_path = state_dict["storage_path"]
        data = state_dict["data"]
        self.lazy_loading = data["lazy_loading"]
        self.num_workers_per_gpu = data["train"]["num_workers_per_gpu"]
        self.max_batch_length = data["train"]["dynamic_batch_config"]["max_batch_length"]


def _make_dummy_auto_unit() -> type:
    from torchtnt.framework.auto_unit import AutoUnit

    class DummyAutoUnit(AutoUnit[Batch]):
        """An AutoUnit with cross-entropy loss, SGD(lr=0.01) and ExponentialLR(0.9)."""

        def compute_loss(self, state: State, data: Batch) -> Tuple[torch.Tensor, Any]:
            inputs, targets = data
            outputs = self.module(inputs)
            return torch.nn.functional.cross_entropy(outputs, targets), outputs

        def configure_optimizers_and_lr_scheduler(self, module: nn.Module) -> Tuple[Any, Any]:
            optimizer = torch.optim.SGD(module.parameters(), lr=0.01)
            return optimizer, torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)

    # Named as a module-level class, so pickle finds it (through __getattr__ below).
    DummyAutoUnit.__module__ = __name__
    DummyAutoUnit.__qualname__ = "DummyAutoUnit"
    return DummyAutoUnit


def __getattr__(name: str) -> Any:
    # DummyAutoUnit needs AutoUnit, which is loaded only when a test asks for it.
    if name == "DummyAutoUnit":
        cls = _make_dummy_auto_unit()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
