"""Small checkpoints shipped with the course, for notebooks whose training would take too long.

Each `<name>.pt` has a `<name>.pt.sha256` beside it; `load(name)` verifies it and
loads with `torch.load(weights_only=True)`. `tools/train_pretrained.py` remakes the
`dates_*` models (notebooks 05-09), `tools/train_bottleneck.py` the `bottleneck_*` models of notebook 01 and the
`bottleneck_local-*` models of notebook 09. `dates_seeds.json` (with `dates_seeds.json.sha256`) holds no weights:
the histories of the four date variants trained from seeds 0, 1 and 2, made by `tools/train_seeds.py` and read
with `load_json`.
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """The file of a shipped checkpoint, e.g. path("dates_dot") -> .../dates_dot.pt."""
    p = HERE / f"{name}.pt"
    if not p.is_file():
        known = sorted(f.stem for f in HERE.glob("*.pt"))
        raise FileNotFoundError(f"no shipped checkpoint {name!r} in {HERE}; known: {known}")
    return p


def load(name: str, sha256: str | None = None, device=None):
    """-> (model, src_vocab, tgt_vocab, extra), sha256-checked."""
    from ..checkpoints import load_checkpoint

    return load_checkpoint(path(name), sha256=sha256, device=device)


def load_json(name: str, sha256: str | None = None):
    """-> the data of a shipped `<name>.json` (plain data, no weights: e.g. `dates_seeds`, the training histories
    of the date variants over several seeds, made by tools/train_seeds.py), sha256-checked against `sha256` or,
    when it is None, against the `<name>.json.sha256` beside it."""
    import json

    from ..checkpoints import verify_sha256

    p = HERE / f"{name}.json"
    if not p.is_file():
        known = sorted(f.stem for f in HERE.glob("*.json"))
        raise FileNotFoundError(f"no shipped data {name!r} in {HERE}; known: {known}")
    verify_sha256(p, sha256)
    return json.loads(p.read_text())
