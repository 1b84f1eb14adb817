"""torchtnt: a light, fast PyTorch training framework compatible with TorchTNT's API."""

__version__ = "0.3.0"
