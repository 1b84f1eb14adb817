"""Test-session settings shared by every test module."""

import os

import torch

# Tiny models run fastest single-threaded, and pytest-xdist already runs one worker per core:
# more threads only oversubscribe the CPU. Child processes inherit the variables.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
torch.set_num_threads(1)
