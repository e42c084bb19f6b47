"""Small date models for the explorer notebooks of the browser test.

``get_models(directory)`` returns ({name: Seq2Seq}, src_vocab, tgt_vocab). It
loads ``<directory>/<variant>.pt`` when present (and readable, with the same
vocabularies) and otherwise trains the model for a fixed number of steps and
saves it there: the browser test trains once (artifacts/browser-models/ is its
cache) and each notebook only loads. The shipped checkpoints
``attnlib/pretrained/dates_<variant>.pt`` are used where they exist (with the
vocabularies of the first one found); only missing variants are trained. These models are for showing widgets, not for
accuracy: Luong dot gets 150 steps (≈ 97 % exact match, ≈ 6 s on an idle
2-core machine), the others fewer.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from attnlib import pretrained
from attnlib.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from attnlib.data import date_splits
from attnlib.seq2seq import ModelConfig, build_model
from attnlib.train import TrainConfig, train
from attnlib.vocab import Vocab

VARIANTS = {"none": "none", "Luong dot": "dot", "Luong general": "general", "Bahdanau": "bahdanau"}
STEPS = {"dot": 150, "general": 80, "bahdanau": 50, "none": 50}
MAX_SECONDS = 120.0  # a guard for a very busy machine; the step counts decide normally


def get_models(directory, steps: dict | None = None):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    steps = {**STEPS, **(steps or {})}
    train_pairs, test_pairs = date_splits(4000, 300, seed=0)
    shipped = {}
    for variant in VARIANTS.values():
        try:
            shipped[variant] = pretrained.load(f"dates_{variant}")
        except FileNotFoundError:
            pass
        except CheckpointError as e:  # another test owns the shipped files; here, train instead
            warnings.warn(f"shipped checkpoint dates_{variant} is unusable, training a fixture model instead: {e}")
    if shipped:
        src_vocab, tgt_vocab = next(iter(shipped.values()))[1:3]
    else:
        src_vocab = Vocab.build(s for s, _ in train_pairs + test_pairs)
        tgt_vocab = Vocab.build(t for _, t in train_pairs + test_pairs)
    models = {}
    for name, variant in VARIANTS.items():
        if variant in shipped and shipped[variant][1:3] == (src_vocab, tgt_vocab):
            models[name] = shipped[variant][0].eval()
            continue
        path = directory / f"{variant}.pt"
        if path.exists():
            try:
                model, sv, tv, extra = load_checkpoint(path)
            except CheckpointError:  # stale (the model code changed) or damaged: train again
                extra = None
            if extra is not None and sv == src_vocab and tv == tgt_vocab and extra.get("steps") == steps[variant]:
                models[name] = model.eval()
                continue
        model = build_model(ModelConfig(variant=variant), len(src_vocab), len(tgt_vocab))
        train(model, train_pairs, test_pairs, src_vocab, tgt_vocab,
              TrainConfig(max_steps=steps[variant], max_seconds=MAX_SECONDS, target=0.95, eval_every=50,
                          progress=False, seed=0), device="cpu", val_pairs=test_pairs)  # as before the validation split
        save_checkpoint(path, model, src_vocab, tgt_vocab, {"steps": steps[variant]})
        models[name] = model.eval()
    return models, src_vocab, tgt_vocab
