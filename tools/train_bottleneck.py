"""Train the checkpoints of notebook 01_bottleneck and ship them in attnlib/pretrained/.

    .venv/bin/python tools/train_bottleneck.py            # all four models, then prints their sha256
    .venv/bin/python tools/train_bottleneck.py --steps 50 --out /tmp/x   # a quick trial

Task: copy random digit strings of length 5..30 (attnlib.data.symbol_pairs).
All models get the same data, the same decoder size (64) and the same number
of optimiser steps. "none" reads a single fixed-size vector (the encoder's last
state), "dot" may also attend over every encoder state (Luong et al. 2015),
"local-m" and "local-p" only over a window of 2D + 1 = 21 of them (Luong's
local attention, section 3.2, general score; notebook 09);
both have a bidirectional encoder (32 units per direction), whose final state
already holds the backward state at the FIRST token, which eases the copy.
"none_uni" is the encoder of Sutskever et al. 2014: one direction (64 units),
read left to right, so its final state is the state after the last token only;
"none_uni_reversed" reads the source reversed, as Sutskever et al. did, so that
the first digits to write are the last ones read. Training is seeded and uses a step
budget (not a time budget), so it is reproducible on one machine; the
notebook pins each file's sha256, so rerunning this script means updating the
hashes written in solutions/01_bottleneck/01_bottleneck.ipynb.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from attnlib.checkpoints import save_checkpoint
from attnlib.data import symbol_pairs
from attnlib.seq2seq import ModelConfig, build_model
from attnlib.train import TrainConfig, evaluate, train
from attnlib.vocab import Vocab

# The task, shared with the notebook (which rebuilds its test set from these numbers).
TASK = {"task": "copy", "min_len": 5, "max_len": 30, "n_train": 20000, "train_seed": 1, "eval_seed": 2}
# Small on purpose: the course runs on 2 CPU cores. The encoder is a bi-LSTM with 32 units per direction.
MODEL = {"emb_size": 16, "hidden_size": 64}
BATCH_SIZE = 64
VARIANTS = ("none", "dot", "none_uni", "none_uni_reversed", "local-m", "local-p")  # local-*: notebook 09


def model_config(variant: str) -> ModelConfig:
    """The ModelConfig of a checkpoint variant: 'none_uni*' are 'none' with a unidirectional encoder."""
    if variant.startswith("none_uni"):
        return ModelConfig(variant="none", bidirectional=False, **MODEL)
    return ModelConfig(variant=variant, **MODEL)


def reverse_sources(pairs):
    """(source, target) -> (source reversed, target): the input order of Sutskever et al. 2014."""
    return [(s[::-1], t) for s, t in pairs]


def task_data():
    train_pairs = symbol_pairs(TASK["n_train"], TASK["min_len"], TASK["max_len"], TASK["task"], seed=TASK["train_seed"])
    eval_pairs = symbol_pairs(300, TASK["min_len"], TASK["max_len"], TASK["task"], seed=TASK["eval_seed"])
    vocab = Vocab.build(s for s, _ in train_pairs)
    return train_pairs, eval_pairs, vocab


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="optimiser steps per model (the same for all)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "attnlib" / "pretrained")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--progress", action="store_true", help="show a progress bar")
    parser.add_argument("--variant", choices=VARIANTS, action="append",
                        help="train only this variant (repeatable; default: all). Two processes can train two at once.")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    torch.set_num_threads(args.threads)
    train_pairs, eval_pairs, vocab = task_data()
    summary = {}
    for variant in args.variant or VARIANTS:
        config = model_config(variant)
        reverse = variant.endswith("_reversed")
        train_v, eval_v = (reverse_sources(train_pairs), reverse_sources(eval_pairs)) if reverse else (train_pairs, eval_pairs)
        torch.manual_seed(0)
        model = build_model(config, len(vocab), len(vocab))
        start, cpu = time.perf_counter(), time.process_time()
        history = train(model, train_v, eval_v, vocab, vocab,
                        TrainConfig(batch_size=BATCH_SIZE, max_steps=args.steps, eval_every=100, target=None, seed=0,
                                    progress=args.progress, restore_best=False, length_slices=1),
                        device="cpu", val_pairs=eval_v)  # as the shipped checkpoints were trained (before the validation split and length slices)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        metrics = evaluate(model, eval_v, vocab, vocab)
        extra = {**TASK, "variant": variant, "bidirectional": config.bidirectional, "reversed_source": reverse, "steps": args.steps, "batch_size": BATCH_SIZE, "curve": [(r["step"], round(r["exact"], 4)) for r in history.records], "train_seconds": round(seconds, 1),
                 "cpu_seconds": round(cpu, 1),  # this process's CPU time: wall time measures a shared machine's load
                 "eval_exact": round(metrics["exact"], 4), "loss": round(history.records[-1]["loss"], 4)}
        digest = save_checkpoint(args.out / f"bottleneck_{variant}.pt", model, vocab, vocab, extra)
        summary[variant] = {"sha256": digest, **extra}
        for r in history.records:
            print(f"  {variant} step {r['step']}: loss {r['loss']:.3f}, held-out exact {r['exact']:.3f}", flush=True)
        print(f"{variant}: {args.steps} steps in {seconds:.0f} s, held-out exact match {metrics['exact']:.3f}, sha256 {digest}",
              flush=True)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
