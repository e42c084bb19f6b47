"""Stage 8 exercises: comparing models fairly.

    accuracy_by_length(correct (N,) bool, lengths (N,) long, edges (K+1,) long) -> (K,) float
        bucket k holds edges[k] <= length < edges[k+1]; NaN for an empty bucket
    attention_entropy(weights (B, T, S), mask (B, S)) -> (B, T) entropy in nats over real positions, 0 log 0 = 0
"""
from __future__ import annotations

import math

import torch

from .._validate import check_mask, check_tensor
from .core import Exercise, Mistake, register
from .stage5_luong_dot import random_mask


def accuracy_by_length(correct, lengths, edges):
    """Reference: the fraction correct in each length bucket [edges[k], edges[k+1]); NaN where a bucket is empty."""
    check_tensor("correct", correct, 1, "(N,)")
    check_tensor("lengths", lengths, 1, "(N,)")
    check_tensor("edges", edges, 1, "(K+1,)")
    if correct.shape != lengths.shape:
        raise ValueError(f"correct and lengths must both be (N,), got {tuple(correct.shape)} and {tuple(lengths.shape)}")
    if edges.numel() < 2 or bool((edges[1:] <= edges[:-1]).any()):
        raise ValueError(f"edges must be at least two strictly increasing values, got {edges.tolist()}")
    out = torch.full((edges.numel() - 1,), math.nan)  # (K,)
    for k in range(edges.numel() - 1):
        inside = (lengths >= edges[k]) & (lengths < edges[k + 1])  # (N,)
        if bool(inside.any()):
            out[k] = correct[inside].float().mean()
    return out


def attention_entropy(weights, mask):
    """Reference: H_t = -Σ_{s real} a_t(s) ln a_t(s), with 0 ln 0 = 0; padded positions are ignored."""
    check_tensor("weights", weights, 3, "(B, T, S)")
    check_mask(mask, weights.shape[0], weights.shape[2])
    w = weights.masked_fill(~mask[:, None, :], 0.0)  # (B, T, S): padding ignored
    return -torch.special.xlogy(w, w).sum(dim=-1)  # (B, T)


# ---------------------------------------------------------------- accuracy_by_length

def _length_inputs(g, N=60, lo=3, hi=20, K=4):
    lengths = torch.randint(lo, hi, (N,), generator=g)
    cuts = torch.randperm(hi - lo - 1, generator=g)[: K - 1] + lo + 1
    edges = torch.cat([torch.tensor([lo]), cuts.sort().values, torch.tensor([hi])])  # (K+1,)
    lengths[: K + 1] = edges.clamp(max=hi - 1)  # lengths that sit exactly on the edges
    return {"correct": torch.rand(N, generator=g) < 0.6, "lengths": lengths, "edges": edges}


def _length_edges(g):
    empty = _length_inputs(g)
    empty["edges"] = torch.tensor([0, 3, 10, 15, 20, 40])  # nothing shorter than 3, nothing from 20 on
    outside = _length_inputs(g)
    outside["edges"] = torch.tensor([5, 8, 12])  # lengths outside [5, 12) belong to no bucket
    return [
        ("empty buckets give NaN", empty),
        ("lengths outside every bucket are left out", outside),
        ("one example", {"correct": torch.tensor([True]), "lengths": torch.tensor([7]), "edges": torch.tensor([5, 7, 9])}),
        ("all wrong", {**_length_inputs(g), "correct": torch.zeros(60, dtype=torch.bool)}),
    ]


def _length_wrong(lower_open=False, upper_closed=False, empty_zero=False, of_all=False):
    def wrong(correct, lengths, edges):
        K = edges.numel() - 1
        out = torch.full((K,), 0.0 if empty_zero else math.nan)
        for k in range(K):
            lo_ok = lengths > edges[k] if lower_open else lengths >= edges[k]
            hi_ok = lengths <= edges[k + 1] if upper_closed else lengths < edges[k + 1]
            inside = lo_ok & hi_ok
            if bool(inside.any()):
                hits = correct[inside].float().sum()
                out[k] = hits / (correct.numel() if of_all else inside.sum())
        return out
    return wrong


def _shifted_buckets(kwargs, got, expected):
    """got[k] == expected[k + 1] (or k - 1) wherever both exist: the buckets read the neighbouring edges."""
    from .diagnose import Diagnosis
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape or got.numel() < 2:
        return None
    for shift in (1, -1):
        a, b = (got[:-1], expected[1:]) if shift == 1 else (got[1:], expected[:-1])
        if torch.allclose(a.double(), b.double(), equal_nan=True) and not bool(torch.isnan(b).all()):
            return Diagnosis("shifted-buckets",
                             f"your buckets are shifted by one: your bucket k holds what belongs to bucket "
                             f"k {'+' if shift == 1 else '-'} 1 (so one end shows NaN, an empty bucket). Bucket k is "
                             f"edges[k] <= length < edges[k+1], for k = 0 .. K-1.")
    return None


register(Exercise(
    "accuracy_by_length", 8, accuracy_by_length, _length_inputs, _length_edges,
    properties=(_shifted_buckets,),
    mistakes=(
        Mistake("off by one at the upper edge: bucket k is edges[k] <= length < edges[k+1]; "
                "a length equal to edges[k+1] belongs to the next bucket.", _length_wrong(upper_closed=True)),
        Mistake("off by one at the lower edge: a length equal to edges[k] belongs to bucket k (<=, not <).",
                _length_wrong(lower_open=True)),
        Mistake("an empty bucket must be NaN (no evidence), not 0 (every answer wrong).",
                _length_wrong(empty_zero=True)),
        Mistake("you divided by all N examples: accuracy in a bucket is correct-in-bucket / size-of-bucket.",
                _length_wrong(of_all=True)),
    ),
    describe="correct (N,) bool, lengths (N,) long, edges (K+1,) long -> accuracy (K,) per bucket, NaN if empty",
))


# ---------------------------------------------------------------- attention_entropy

def _entropy_inputs(g, B=3, T=4, S=7):
    mask = random_mask(g, B, S)
    scores = torch.randn(B, T, S, generator=g) * 2
    weights = torch.softmax(scores, dim=-1)  # (B, T, S): an unmasked softmax, so padding holds weight
    weights[0, 0] = 0.0
    weights[0, 0, 2] = 1.0  # one step attends to one position only: 0 log 0 must give 0
    return {"weights": weights, "mask": mask}


def _entropy_edges(g):
    B, T, S = 2, 3, 6
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    uniform = mask[:, None, :].float().expand(B, T, S) / mask.sum(1)[:, None, None]  # entropy ln(len)
    one_hot = torch.zeros(B, T, S)
    one_hot[..., 0] = 1.0
    empty = _entropy_inputs(g)
    empty["mask"][1] = False
    return [
        ("uniform over the real positions: ln 6 and ln 4", {"weights": uniform.contiguous(), "mask": mask}),
        ("one-hot weights: entropy 0 (0 log 0 = 0, not NaN)", {"weights": one_hot, "mask": mask}),
        ("a row with no real position: entropy 0", empty),
        ("batch of one, one position", {"weights": torch.ones(1, 2, 1), "mask": torch.ones(1, 1, dtype=torch.bool)}),
    ]


def _entropy_wrong(pads=False, base2=False, nan=False, sign=False):
    def wrong(weights, mask):
        w = weights if pads else weights.masked_fill(~mask[:, None, :], 0.0)
        terms = w * w.log() if nan else torch.special.xlogy(w, w)
        h = terms.sum(-1) if sign else -terms.sum(-1)
        return h / math.log(2) if base2 else h
    return wrong


register(Exercise(
    "attention_entropy", 8, attention_entropy, _entropy_inputs, _entropy_edges,
    mistakes=(
        Mistake("padded positions are counted: sum -a log a over the real positions only (mask True).",
                _entropy_wrong(pads=True)),
        Mistake("0 log 0 gives NaN: a weight of exactly 0 contributes 0 (torch.special.xlogy(w, w) does that).",
                _entropy_wrong(nan=True)),
        Mistake("0 log 0 gives NaN and padded positions are counted: mask first, and let a zero weight contribute 0.",
                _entropy_wrong(nan=True, pads=True)),
        Mistake("this is in bits: use the natural log (nats), torch.log, not log2.", _entropy_wrong(base2=True)),
        Mistake("the sign is missing: entropy is -Σ a log a, which is >= 0.", _entropy_wrong(sign=True)),
    ),
    describe="weights (B, T, S), mask (B, S) -> entropy (B, T) in nats over real positions",
))
