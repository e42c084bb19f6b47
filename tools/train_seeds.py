"""Train the four date variants with several seeds and ship their histories (no weights): the spread over seeds.

    .venv/bin/python tools/train_seeds.py                       # seeds 1 and 2 -> attnlib/pretrained/dates_seeds.json
    .venv/bin/python tools/train_seeds.py --variants dot --seeds 1 --out /tmp/seeds.json   # a quick trial

Notebooks 06 and 08 compare variants whose shipped checkpoints (tools/train_pretrained.py) come from ONE training
seed; 0.980 against 1.000 on 1000 held-out dates is 20 dates, and a second seed may swap the order. This script
trains the same variants with the same data, sizes, optimiser and step budget as tools/train_pretrained.py
(its `train_variant`, so the recipe cannot drift), changing only the training seed (initial weights and batch
order), and stores per (variant, seed):

- history: step, CPU seconds, loss and held-out exact match at every evaluation (as in the checkpoints' extra);
- final: held-out exact match and token accuracy after the last step;
- correct: one character per held-out date, "1" if greedy decoding got the whole date right, so that a
  notebook can compute accuracy by length, per seed, without the weights.

Seed 0 is the shipped checkpoint itself: its history is read from the checkpoint and its `correct` string is
computed by decoding with it, so the file agrees with what notebooks 05-08 load. The JSON is written with a
`<name>.sha256` beside it; notebooks pin that digest (attnlib.pretrained.load_json).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from train_pretrained import OPTIMISER, STEPS, EVAL_EVERY, THREADS, VARIANTS, date_data, train_variant  # noqa: E402

from attnlib import pretrained  # noqa: E402
from attnlib.checkpoints import sha256_of  # noqa: E402
from attnlib.data import make_batch  # noqa: E402
from attnlib.train import predict, strip_eos  # noqa: E402

SEEDS = (1, 2)  # trained here; seed 0 comes from the shipped checkpoints


@torch.no_grad()
def correct_string(model, pairs, src_vocab, tgt_vocab) -> str:
    """'1'/'0' per pair: greedy decoding gives the whole target."""
    batch = make_batch(pairs, src_vocab, tgt_vocab)
    preds, _ = predict(model.cpu().eval(), batch)
    refs = [strip_eos([t for t in row if t != 0]) for row in batch.tgt_out.masked_fill(~batch.tgt_mask, 0).tolist()]
    return "".join("1" if p == r else "0" for p, r in zip(preds, refs))


def record(extra, correct: str) -> dict:
    keep = ("step", "seconds", "loss", "exact")
    return {"history": [{k: r[k] for k in keep} for r in extra["history"]],
            "final": {k: extra["final"][k] for k in ("exact", "token_acc")},
            "train_seconds": extra["train_seconds"], "correct": correct}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--out", type=Path, default=ROOT / "attnlib" / "pretrained" / "dates_seeds.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    data = date_data()
    train_pairs, test_pairs, src_vocab, tgt_vocab = data
    runs = json.loads(args.out.read_text())["runs"] if args.out.exists() else {}
    for variant in args.variants:
        model, _, _, extra = pretrained.load(f"dates_{variant}")  # seed 0: the shipped checkpoint, sha256 sidecar
        assert extra["train_config"]["max_steps"] == STEPS and extra["train_config"]["seed"] == 0
        runs.setdefault(variant, {})["0"] = record(extra, correct_string(model, test_pairs, src_vocab, tgt_vocab))
        for seed in args.seeds:
            wall = time.perf_counter()
            model, extra = train_variant(variant, data, STEPS, EVAL_EVERY, seed=seed)
            runs[variant][str(seed)] = record(extra, correct_string(model, test_pairs, src_vocab, tgt_vocab))
            print(f"{variant:9} seed {seed}: exact {extra['final']['exact']:.3f}, {extra['train_seconds']:.0f} s CPU, "
                  f"{time.perf_counter() - wall:.0f} s wall", flush=True)
        args.out.write_text(json.dumps(payload(runs, data), indent=None, separators=(",", ":")) + "\n")
    digest = sha256_of(args.out)
    Path(f"{args.out}.sha256").write_text(f"{digest}  {args.out.name}\n")
    print(f"{args.out} {args.out.stat().st_size / 1e3:.1f} kB sha256 {digest}")


def payload(runs, data) -> dict:
    train_pairs, test_pairs, _, _ = data
    return {"about": "held-out histories of the date variants over training seeds (tools/train_seeds.py); "
                     "seed 0 is the shipped checkpoint dates_<variant>.pt",
            "data": {"n_train": len(train_pairs), "n_test": len(test_pairs), "function": "attnlib.data.date_splits",
                     "seed": 0},
            "budget": {"max_steps": STEPS, "eval_every": EVAL_EVERY, **OPTIMISER},
            "clock": "process CPU seconds (time.process_time), one thread, evaluation included",
            "runs": {v: dict(sorted(s.items())) for v, s in runs.items()}}


if __name__ == "__main__":
    main()
