"""One code path for CPU and GPU: pick the device, seed every generator."""
from __future__ import annotations

import random

import torch


def default_device() -> torch.device:
    """CUDA when a GPU is visible, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None means `default_device()`; a name or device is validated."""
    if device is None:
        return default_device()
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA GPU is available; use 'cpu'")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's and torch's generators; return a torch.Generator seeded the same."""
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
