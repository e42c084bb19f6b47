"""Checkpoints as plain data, loaded with weights_only=True and checked by sha256.

A checkpoint holds the model's config, its state dict and both vocabularies'
token lists: no pickled objects, so loading one runs no code.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from .seq2seq import ModelConfig, build_model
from .vocab import Vocab


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or not the file it claims to be."""


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(path, model, src_vocab: Vocab, tgt_vocab: Vocab, extra: dict | None = None) -> str:
    """Write the checkpoint and `<path>.sha256` beside it; return the sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"config": model.config_dict(), "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "src_tokens": list(src_vocab.tokens), "tgt_tokens": list(tgt_vocab.tokens), "extra": extra or {}}
    torch.save(payload, path)
    digest = sha256_of(path)
    Path(str(path) + ".sha256").write_text(f"{digest}  {path.name}\n")
    return digest


def verify_sha256(path: Path, sha256: str | None = None) -> None:
    """Raise CheckpointError unless the file at `path` has the given sha256, or the one in `<path>.sha256` beside it."""
    if sha256 is None:
        side = Path(str(path) + ".sha256")
        if not side.is_file():
            raise CheckpointError(f"{path} has no {side.name} beside it and no sha256 was given")
        sha256 = side.read_text().split()[0]
    actual = sha256_of(path)
    if actual != sha256:
        raise CheckpointError(f"{path} has sha256 {actual}, expected {sha256}: the file was changed or corrupted")


def load_checkpoint(path, sha256: str | None = None, device=None):
    """-> (model, src_vocab, tgt_vocab, extra). Verifies sha256 (given, or from `<path>.sha256`)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    verify_sha256(path, sha256)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        config = ModelConfig(**payload["config"])
        src_vocab, tgt_vocab = Vocab(payload["src_tokens"]), Vocab(payload["tgt_tokens"])
        model = build_model(config, len(src_vocab), len(tgt_vocab))
        model.load_state_dict(payload["state_dict"])
    except CheckpointError:
        raise
    except Exception as e:  # unreadable, wrong keys, wrong shapes
        raise CheckpointError(f"checkpoint {path} could not be loaded: {type(e).__name__}: {e}") from e
    if device is not None:
        model.to(device)
    return model.eval(), src_vocab, tgt_vocab, payload.get("extra", {})
