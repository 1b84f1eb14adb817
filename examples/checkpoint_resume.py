"""Checkpoint, get killed, resume: the resumed run continues exactly where the checkpoint was.

A small regression MLP with dropout trains with a ``DistributedCheckpointSaver`` that writes a
checkpoint every ``--save-every`` steps. ``--kill-at-step N`` makes the process send itself
SIGKILL right after step N (as an out-of-memory killer or a lost machine would: no Python
clean-up, no final checkpoint). Run the same command again without the flag and it restores
the newest complete checkpoint and trains on; the steps after that checkpoint are repeated
and come out identical, and the final weights equal those of a run that never stopped:

    python examples/checkpoint_resume.py --kill-at-step 10   # prints steps 1-10, then dies
    python examples/checkpoint_resume.py                     # "resumed after step 8 ...", steps 9-18

Three things make the resumed run bit-for-bit identical to an uninterrupted one:

* the dataloader is stateful (torchdata's ``StatefulDataLoader``, ``pip install
  torchtnt[data]``), so a mid-epoch checkpoint holds its position in the shuffled epoch and
  is restored by passing it as ``train_dataloader=`` to the restore call;
* the checkpoint holds the torch / NumPy / Python random generator states (dropout masks,
  the next epoch's shuffle);
* the checkpointer is among the resumed run's callbacks too: it puts those generator states
  back at the point of the loop where they were saved.

Each step prints its loss with every digit (``repr``), flushed at once, so the lines a killed
run printed before it died are on the screen and can be compared.
"""

import argparse
import os
import signal
from typing import Iterable, List, Optional, Tuple

import torch
from torch import nn
from torch.utils.data import TensorDataset

from torchtnt.framework import State, TrainUnit, train
from torchtnt.framework.callbacks import DistributedCheckpointSaver

Batch = Tuple[torch.Tensor, torch.Tensor]


def make_dataloader(num_samples: int, batch_size: int, data_seed: int) -> Iterable[Batch]:
    """A shuffled loader whose position can be saved and restored mid-epoch."""
    try:
        from torchdata.stateful_dataloader import StatefulDataLoader
    except ImportError as err:
        raise ImportError(
            "examples/checkpoint_resume.py needs torchdata's StatefulDataLoader to resume "
            'mid-epoch: pip install "torchtnt[data]"'
        ) from err
    gen = torch.Generator().manual_seed(data_seed)
    inputs = torch.randn(num_samples, 8, generator=gen)
    targets = (
        inputs[:, :1] * 2.0 - inputs[:, 1:2] + 0.1 * torch.randn(num_samples, 1, generator=gen)
    )
    # No generator passed: the shuffle draws from torch's global RNG, which the checkpoint
    # saves and restores, so epochs after a resume are shuffled as they would have been.
    return StatefulDataLoader(TensorDataset(inputs, targets), batch_size=batch_size, shuffle=True)


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 1))


class RegressionUnit(TrainUnit[Batch]):
    """Momentum SGD with a step LR schedule; may kill its own process after a given step.

    ``model``, ``optimizer`` and ``lr_scheduler`` are attributes, so the unit tracks them and
    checkpoints save and restore them by these names (with the progress counters).
    """

    def __init__(self, lr: float, kill_at_step: Optional[int] = None) -> None:
        super().__init__()
        self.model = make_model()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.9)
        self.lr_scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=6, gamma=0.5)
        self.kill_at_step = kill_at_step
        self.losses: List[float] = []

    def train_step(self, state: State, data: Batch) -> torch.Tensor:
        inputs, targets = data
        loss = nn.functional.mse_loss(self.model(inputs), targets)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.lr_scheduler.step()
        step = self.train_progress.num_steps_completed + 1  # counted after the step returns
        self.losses.append(loss.item())
        print(f"step {step} loss {loss.item()!r}", flush=True)
        if step == self.kill_at_step:
            print(f"killing this process (SIGKILL) after step {step}", flush=True)
            # SIGKILL cannot be caught: nothing below this line, no finally and no
            # checkpoint hook runs, exactly like a crash of the machine.
            os.kill(os.getpid(), signal.SIGKILL)
        return loss


def main(argv: Optional[List[str]] = None) -> RegressionUnit:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt-dir", default="runs/checkpoint_resume")
    parser.add_argument("--max-steps", type=int, default=18)
    parser.add_argument("--save-every", type=int, default=4, help="checkpoint every N steps")
    parser.add_argument("--keep-last", type=int, default=2, help="checkpoints to keep")
    parser.add_argument("--kill-at-step", type=int, default=None, help="SIGKILL after step N")
    parser.add_argument("--num-samples", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # One thread: float sums come out the same in every run regardless of scheduling.
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    unit = RegressionUnit(lr=args.lr, kill_at_step=args.kill_at_step)
    dataloader = make_dataloader(args.num_samples, args.batch_size, data_seed=args.seed + 1)

    # The same script starts fresh or resumes: restore_from_latest returns False when the
    # directory holds no complete checkpoint (a save cut short by the kill does not count).
    if DistributedCheckpointSaver.restore_from_latest(
        args.ckpt_dir, unit, train_dataloader=dataloader
    ):
        progress = unit.train_progress
        print(
            f"resumed after step {progress.num_steps_completed} "
            f"({progress.num_steps_completed_in_epoch} steps into epoch "
            f"{progress.num_epochs_completed})",
            flush=True,
        )
    else:
        print("no checkpoint found, starting from scratch", flush=True)

    checkpointer = DistributedCheckpointSaver(
        args.ckpt_dir,
        save_every_n_train_steps=args.save_every,
        keep_last_n_checkpoints=args.keep_last,
    )
    # max_steps counts from the start of the whole run, not of this process.
    train(unit, dataloader, max_steps=args.max_steps, callbacks=[checkpointer])
    print(f"done after step {unit.train_progress.num_steps_completed}", flush=True)
    print(f"checkpoints: {sorted(os.listdir(args.ckpt_dir))}", flush=True)
    return unit


if __name__ == "__main__":
    main()
