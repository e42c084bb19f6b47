"""Train the shipped date models: none, Luong dot, Luong general, Bahdanau, Luong local-m and local-p.

    .venv/bin/python tools/train_pretrained.py                 # all six -> attnlib/pretrained/
    .venv/bin/python tools/train_pretrained.py --variants dot  # one of them
    .venv/bin/python tools/train_pretrained.py --out /tmp/ckpt --steps 100   # a quick trial

Every variant gets the SAME data (attnlib.data.date_splits with DATA_SEED), the
same vocabularies, the same model sizes (ModelConfig defaults), the same
optimiser settings, the same training seed and the same budget: a fixed number
of steps, without early stopping, so that the histories (step, seconds, loss,
exact) can be compared point by point in notebook 08. A step budget is
reproducible; a wall-clock budget would depend on the machine's load.

Each checkpoint stores, in its ``extra`` (plain data only, loadable with
weights_only=True): the data seed and sizes, the training config, the history,
the final held-out metrics, the parameter count and the seconds it took. The
sha256 is written beside it (``<name>.pt.sha256``); notebooks pin it.
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from attnlib.checkpoints import save_checkpoint  # noqa: E402
from attnlib.data import date_splits  # noqa: E402
from attnlib.device import seed_everything  # noqa: E402
from attnlib.seq2seq import ModelConfig, build_model  # noqa: E402
from attnlib.train import TrainConfig, evaluate, train  # noqa: E402
from attnlib.vocab import Vocab  # noqa: E402


# The data every variant sees, and that notebooks 05-08 rebuild to evaluate.
DATA_SEED = 0
N_TRAIN = 20_000
N_TEST = 1_000
VARIANTS = ("none", "dot", "general", "bahdanau", "local-m", "local-p")  # local-*: notebook 09 (window D = 10)
# The budget: the same number of steps for every variant, evaluated every EVAL_EVERY steps.
STEPS = 500
EVAL_EVERY = 25
# The optimiser settings the shipped checkpoints were trained with (attnlib.train's defaults at the time),
# pinned so that later changes to those defaults do not change what this script makes: each batch in one
# piece (length_slices=1), as before attnlib.train ran batches in length slices (same loss, other rounding).
OPTIMISER = {"lr": 1e-2, "lr_patience": 2, "min_lr": 0.0, "length_slices": 1}
# One thread, and the history's "seconds" are this process's CPU seconds
# (time.process_time): the machine these were trained on was shared, and wall
# time would have measured the other users. With one thread, CPU seconds are
# what a quiet one-core machine would take, evaluation included.
THREADS = 1


def date_data(seed: int = DATA_SEED, n_train: int = N_TRAIN, n_test: int = N_TEST):
    """-> train pairs, test pairs, source vocab, target vocab (characters)."""
    train_pairs, test_pairs = date_splits(n_train, n_test, seed=seed)
    src_vocab = Vocab.build(s for s, _ in train_pairs)
    tgt_vocab = Vocab.build(t for _, t in train_pairs)
    return train_pairs, test_pairs, src_vocab, tgt_vocab


def train_variant(variant: str, data, steps: int, eval_every: int, seed: int = 0):
    train_pairs, test_pairs, src_vocab, tgt_vocab = data
    seed_everything(seed)
    model = build_model(ModelConfig(variant=variant), len(src_vocab), len(tgt_vocab))
    # val_pairs=test_pairs, restore_best=False: how the shipped checkpoints were trained (before attnlib's validation
    # split), kept so that this script reproduces them; their held-out curves steered the LR schedule
    config = TrainConfig(max_steps=steps, eval_every=eval_every, target=None, seed=seed, progress=False, restore_best=False,
                         clock="cpu", **OPTIMISER)  # the history's seconds: CPU seconds of this process
    wall = time.perf_counter()
    start = time.process_time()
    history = train(model, train_pairs, test_pairs, src_vocab, tgt_vocab, config, device="cpu", val_pairs=test_pairs)
    seconds = time.process_time() - start
    wall = time.perf_counter() - wall
    final = evaluate(model, test_pairs, src_vocab, tgt_vocab)
    extra = {
        "task": "dates",
        "data": {"seed": DATA_SEED, "n_train": len(train_pairs), "n_test": len(test_pairs),
                 "function": "attnlib.data.date_splits"},
        "train_config": dataclasses.asdict(config),
        "history": [{k: (round(float(v), 6) if isinstance(v, float) else int(v)) for k, v in r.items()}
                    for r in history.records],
        "final": {k: round(float(v), 6) for k, v in final.items()},
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(seconds, 3),
        "clock": "process CPU seconds (time.process_time), one thread, evaluation included",
        "wall_seconds": round(wall, 3),
        "machine": {"threads": torch.get_num_threads(), "torch": str(torch.__version__), "python": platform.python_version()},
    }
    return model, extra


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--eval-every", type=int, default=EVAL_EVERY)
    parser.add_argument("--out", type=Path, default=ROOT / "attnlib" / "pretrained")
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = date_data()
    for variant in args.variants:
        model, extra = train_variant(variant, data, args.steps, args.eval_every)
        path = args.out / f"dates_{variant}.pt"
        digest = save_checkpoint(path, model, data[2], data[3], extra)
        last = extra["history"][-1]
        print(f"{variant:9s} {extra['parameters']:7d} params  {extra['train_seconds']:7.1f} s CPU  {extra['wall_seconds']:7.1f} s wall  "
              f"exact {extra['final']['exact']:.3f}  loss {last['loss']:.4f}  "
              f"{path.stat().st_size / 1e6:.2f} MB  sha256 {digest}", flush=True)


if __name__ == "__main__":
    main()
