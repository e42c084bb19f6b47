"""Every model learns the date task to 99% held-out exact match, with margin, on any CPU.

Each variant trains twice at once, one thread each: from seed 0 with this machine's native kernels, and
from seed 1 with torch's generic kernels (ATEN_CPU_CAPABILITY=default, another CPU's rounding). Both must
reach 99% within attnlib.train.TEST_STEPS; the recipe needs at most half of that on 3 seeds x both kernels
(benchmark 10, `python -m bench --only robustness`).
"""
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from attnlib.data import date_splits
from attnlib.seq2seq import VARIANTS, ModelConfig, build_model
from attnlib.train import TrainConfig, train
from attnlib.vocab import Vocab

from bench.robustness import spawn

# concat has no recipe here; the local variants (local-m, local-p) neither: their training is tested on a copy task in test_local.py
TRAINED = [v for v in VARIANTS if v not in ("concat", "local-m", "local-p")]


@pytest.mark.parametrize("variant", TRAINED)
def test_reaches_99_percent_on_held_out_dates_on_any_cpu(variant):
    runs = {"native kernels, seed 0": (0, "native"), "generic kernels, seed 1": (1, "default")}
    with ThreadPoolExecutor(len(runs)) as pool:
        results = dict(zip(runs, pool.map(lambda args: spawn(variant, *args), runs.values())))
    for name, r in results.items():
        assert r["reached"], f"{variant}, {name}: {r['exact']:.1%} held-out exact match after {r['steps']} steps"
        assert r["capability"] != "DEFAULT" or "generic" in name, f"{name} ran with {r['capability']} kernels"
    assert results["generic kernels, seed 1"]["capability"] == "DEFAULT"


def test_training_is_reproducible_from_a_seed():
    train_pairs, test_pairs = date_splits(2000, 50, seed=0)
    sv, tv = Vocab.build(s for s, _ in train_pairs), Vocab.build(t for _, t in train_pairs)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model(ModelConfig(variant="dot", hidden_size=16, emb_size=8), len(sv), len(tv))
        runs.append(train(model, train_pairs, test_pairs, sv, tv, TrainConfig(max_steps=6, eval_every=3, progress=False, target=None)).column("loss"))
    assert runs[0] == runs[1]
    assert runs[0][1] < runs[0][0]  # it is learning
