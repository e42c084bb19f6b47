"""Input checks shared by the whole package.

Every public function validates its tensors here, so that a wrong rank, a
mismatched size or a mask of the wrong dtype fails with a sentence that names
the argument, the expected shape in the package's letters and what was given.
"""
from __future__ import annotations

import torch


def _fmt(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def check_tensor(name: str, x, rank: int | tuple[int, ...], legend: str) -> None:
    """Raise unless ``x`` is a floating or integer tensor of the given rank.

    ``legend`` is the expected shape in letters, e.g. ``"(B, T, H)"``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {legend}, got {type(x).__name__}")
    ranks = (rank,) if isinstance(rank, int) else rank
    if x.dim() not in ranks:
        raise ValueError(
            f"{name} must have shape {legend} ({' or '.join(map(str, ranks))}-D), "
            f"got a {x.dim()}-D tensor of shape {_fmt(x.shape)}"
        )


def check_float(name: str, x: torch.Tensor) -> None:
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def check_size(what: str, got: int, expected: int) -> None:
    if got != expected:
        raise ValueError(f"{what}: expected {expected}, got {got}")


def check_mask(mask, batch: int, src_len: int) -> None:
    """A source mask is a bool tensor (B, S), True on real tokens."""
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a bool torch.Tensor of shape (B, S), got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must have dtype torch.bool (True on real tokens), got {mask.dtype}")
    if mask.dim() != 2 or tuple(mask.shape) != (batch, src_len):
        raise ValueError(f"mask must have shape (B, S) = ({batch}, {src_len}), got {_fmt(mask.shape)}")


def check_nonempty(name: str, x: torch.Tensor) -> None:
    if x.numel() == 0 or x.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {_fmt(x.shape)}): a batch needs at least one example")
