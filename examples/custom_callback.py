"""Write a callback: watch the gradient norm of every step, stop when it explodes or plateaus.

``GradNormGuard`` reads each step's loss and gradient norm in ``on_train_step_end`` and
calls ``state.stop()`` when the norm is above ``--max-grad-norm`` (or not finite), or when
the loss has not improved by more than ``--min-delta`` for ``--patience`` steps. Each line
it prints starts with the hook that printed it, so the output shows the hook order:

    python examples/custom_callback.py               # learns, then stops on a loss plateau
    python examples/custom_callback.py --lr 1.5      # too large a step: the norm explodes

The hook order it relies on, for one epoch of ``train()`` (unit hooks run before callback
hooks of the same name)::

    on_train_start                      reset the history
    on_train_epoch_start
      on_train_step_start
        unit.train_step(batch)          zero_grad, forward, backward, optimizer step
      on_train_step_end                 read step_output and the gradients, maybe stop()
      ... (after stop(): no further batch is fetched)
    on_train_epoch_end                  still fires for the epoch that was cut short
    on_train_end                        still fires: say why training stopped

Gradients are still on the parameters in ``on_train_step_end`` only because the unit
zeroes them at the *start* of its step; a unit that zeroes them after ``optimizer.step()``
would leave nothing to measure there.
"""

import argparse
import math
from typing import List, Optional, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchtnt.framework import Callback, State, TrainUnit, train
from torchtnt.utils.distributed import sync_bool

Batch = Tuple[torch.Tensor, torch.Tensor]


class GradNormGuard(Callback):
    """Record ``(step, loss, grad norm)`` per train step; stop on explosion or a plateau.

    The gradient norm is the 2-norm over the gradients of every module the unit tracks. The
    step output (``state.train_state.step_output``) must be the loss.

    Args:
        max_grad_norm: stop when the norm exceeds this (or is NaN / infinite).
        patience: stop when the loss has not improved for this many steps.
        min_delta: how much lower than the best loss so far counts as an improvement.
        print_every: print a step line every this many steps (the stopping step always).

    Raises:
        ValueError: if an argument is out of range (the message names it).
    """

    def __init__(
        self, max_grad_norm: float, patience: int, min_delta: float = 0.0, print_every: int = 10
    ) -> None:
        if not max_grad_norm > 0:
            raise ValueError(f"max_grad_norm={max_grad_norm!r} is invalid: expected a number > 0")
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience={patience!r} is invalid: expected an int >= 1")
        if not min_delta >= 0:
            raise ValueError(f"min_delta={min_delta!r} is invalid: expected a number >= 0")
        if not isinstance(print_every, int) or print_every < 1:
            raise ValueError(f"print_every={print_every!r} is invalid: expected an int >= 1")
        self.max_grad_norm = max_grad_norm
        self.patience = patience
        self.min_delta = min_delta
        self.print_every = print_every
        self.history: List[Tuple[int, float, float]] = []
        self.stop_reason: Optional[str] = None
        self._best_loss = math.inf
        self._steps_without_improvement = 0

    def on_train_start(self, state: State, unit: TrainUnit) -> None:
        # A callback object may serve several train() calls: start each one clean.
        self.history.clear()
        self.stop_reason = None
        self._best_loss = math.inf
        self._steps_without_improvement = 0
        print(f"[on_train_start] watching {sorted(unit.tracked_modules())}")

    def on_train_step_end(self, state: State, unit: TrainUnit) -> None:
        step = unit.train_progress.num_steps_completed  # already counts this step
        loss = state.train_state.step_output.item()  # type: ignore[union-attr]
        norm = self._grad_norm(unit)
        self.history.append((step, loss, norm))
        reason = self._reason_to_stop(loss, norm)
        # Every rank must stop at the same step; with one process this returns its input.
        if sync_bool(reason is not None, coherence_mode="any"):
            self.stop_reason = reason or "another rank asked to stop"
            state.stop()
        if step % self.print_every == 0 or self.stop_reason is not None:
            print(f"[on_train_step_end] step {step:3d}  loss {loss:.6f}  grad norm {norm:.4g}")

    def on_train_epoch_end(self, state: State, unit: TrainUnit) -> None:
        epoch = unit.train_progress.num_epochs_completed  # already counts this epoch
        print(f"[on_train_epoch_end] epoch {epoch} done, {len(self.history)} steps so far")

    def on_train_end(self, state: State, unit: TrainUnit) -> None:
        steps = unit.train_progress.num_steps_completed
        print(f"[on_train_end] after {steps} steps: {self.stop_reason or 'no stop requested'}")

    def _grad_norm(self, unit: TrainUnit) -> float:
        grads = [
            p.grad.detach().flatten()
            for module in unit.tracked_modules().values()
            for p in module.parameters()
            if p.grad is not None
        ]
        return float(torch.cat(grads).norm()) if grads else 0.0

    def _reason_to_stop(self, loss: float, norm: float) -> Optional[str]:
        if not math.isfinite(norm) or norm > self.max_grad_norm:
            return f"gradient norm {norm:.4g} > max_grad_norm={self.max_grad_norm:g}"
        if loss < self._best_loss - self.min_delta:
            self._best_loss = loss
            self._steps_without_improvement = 0
            return None
        self._steps_without_improvement += 1
        if self._steps_without_improvement >= self.patience:
            return (
                f"loss plateau: no improvement > min_delta={self.min_delta:g} on the best "
                f"loss {self._best_loss:.6f} for {self.patience} steps"
            )
        return None


class LinearRegression(TrainUnit[Batch]):
    """Plain SGD on a linear model; zeroes gradients at the start of the step (see above)."""

    def __init__(self, lr: float) -> None:
        super().__init__()
        self.model = nn.Linear(8, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)

    def train_step(self, state: State, data: Batch) -> torch.Tensor:
        inputs, targets = data
        self.optimizer.zero_grad()
        loss = nn.functional.mse_loss(self.model(inputs), targets)
        loss.backward()
        self.optimizer.step()
        return loss


def main(argv: Optional[List[str]] = None) -> Tuple[LinearRegression, GradNormGuard]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--max-grad-norm", type=float, default=100.0)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--min-delta", type=float, default=1e-3)
    parser.add_argument("--max-epochs", type=int, default=50)
    parser.add_argument("--num-samples", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--print-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    # Noise-free targets: the loss keeps shrinking, so a plateau means "learned it".
    inputs = torch.randn(args.num_samples, 8)
    targets = inputs @ torch.linspace(-1.0, 1.0, 8).unsqueeze(1) + 0.5
    dataloader = DataLoader(TensorDataset(inputs, targets), batch_size=args.batch_size)
    unit = LinearRegression(lr=args.lr)
    guard = GradNormGuard(
        max_grad_norm=args.max_grad_norm,
        patience=args.patience,
        min_delta=args.min_delta,
        print_every=args.print_every,
    )
    train(unit, dataloader, max_epochs=args.max_epochs, callbacks=[guard])
    return unit, guard


if __name__ == "__main__":
    main()
