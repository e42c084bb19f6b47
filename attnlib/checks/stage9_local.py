"""Stage 9 exercises: Luong's local attention (Luong et al. 2015, section 3.2, eqs. 9 and 10).

    window_mask(positions (B, T), window, lengths (B,), S) -> allowed (B, T, S) bool
        |s - p_t| ≤ D and 0 ≤ s < lengths[b]: the window, clipped at both sentence ends and at padding
    local_p_attention(scores (B, T, S), query (B, T, H), W_p (A, H), v_p (A,), mask (B, S), window)
        -> positions (B, T), weights (B, T, S)
        p_t = S_b · sigmoid(v_pᵀ tanh(W_p h_t)) with S_b the real length (eq. 9);
        a_t(s) = softmax over the window of the scores, times exp(-(s - p_t)² / (2σ²)), σ = D/2 (eq. 10)

The references are attnlib.local's own functions (window_mask is attnlib.local.window_mask itself, so the
check says so when an answer calls it). The mistakes the issue names are registered with their own kinds:
sigma-D, p-not-scaled, p-scaled-by-padded-width, gaussian-before-softmax, window-not-clipped.
"""
from __future__ import annotations

import math

import torch

from ..attention import masked_softmax
from ..local import gaussian_weights, lengths_of, local_weights, predicted_positions, window_mask
from .core import Exercise, Mistake, register
from .diagnose import Diagnosis
from .stage5_luong_dot import random_mask


def local_p_attention(scores, query, W_p, v_p, mask, window):
    """Reference: p_t = S · sigmoid(v_pᵀ tanh(W_p h_t)) (eq. 9), then align · Gaussian with σ = D/2 (eq. 10)."""
    positions = predicted_positions(query, W_p, v_p, lengths_of(mask))  # (B, T): eq. 9, S = real length
    return positions, local_weights(scores, positions, window, mask, sigma=window / 2)  # (B, T), (B, T, S)


# ---------------------------------------------------------------- window_mask (local-m: p_t = t)

def _monotonic(B, T, start=0):
    return torch.arange(start, start + T, dtype=torch.float32).expand(B, T).clone()  # (B, T): p_t = t


def _mask_inputs(g, B=3, T=7, S=9, window=2):
    lengths = torch.randint(1, S + 1, (B,), generator=g)
    lengths[0] = S
    return {"positions": _monotonic(B, T), "window": window, "lengths": lengths, "S": S}


def _mask_edges(g):
    fractional = _mask_inputs(g)
    fractional["positions"] = torch.rand(3, 7, generator=g) * 9  # local-p's p_t: the window holds 2D positions
    beyond = _mask_inputs(g, T=9)
    beyond["lengths"] = torch.tensor([9, 3, 2])  # t ≥ length + D: an empty window, all False
    return [
        ("one decoder step (T = 1), as when decoding step by step", _mask_inputs(g, T=1)),
        ("window D = 0: each step reads only position p_t", _mask_inputs(g, window=0)),
        ("fractional positions p_t (local-p): |s - p_t| ≤ D holds 2D positions", fractional),
        ("steps past the end of short sentences: empty windows", beyond),
        ("a window wider than the sentence (D ≥ S): all real positions", _mask_inputs(g, window=12)),
        ("batch of one, a sentence of one token", {"positions": _monotonic(1, 3), "window": 1,
                                                  "lengths": torch.tensor([1]), "S": 4}),
    ]


def _mask_not_clipped(positions, window, lengths, S):
    s = torch.arange(S, dtype=positions.dtype)  # (S,)
    return (s - positions[..., None]).abs() <= window  # (B, T, S): lengths ignored


def _mask_negative_slice(positions, window, lengths, S):
    out = torch.zeros(*positions.shape, S, dtype=torch.bool)
    for b in range(positions.shape[0]):
        for t in range(positions.shape[1]):
            p = float(positions[b, t])
            lo, hi = math.ceil(p - window), math.floor(p + window) + 1
            out[b, t, lo:hi] = True  # a negative lo counts from the END of the row
            out[b, t, int(lengths[b]):] = False
    return out


def _mask_strict(positions, window, lengths, S):
    s = torch.arange(S, dtype=positions.dtype)  # (S,)
    return ((s - positions[..., None]).abs() < window) & (s < lengths[:, None, None])


def _mask_right_of_p(positions, window, lengths, S):
    s = torch.arange(S, dtype=positions.dtype)  # (S,)
    d = s - positions[..., None]
    return (d >= 0) & (d <= 2 * window) & (s < lengths[:, None, None])


def _not_bool(kwargs, got, expected):
    """A 0/1 tensor of another dtype in place of the bool mask."""
    if isinstance(got, torch.Tensor) and got.dtype != torch.bool and got.shape == expected.shape \
            and bool((got.detach() == expected.to(got.dtype)).all()):
        return Diagnosis("dtype", "the values are right but the dtype is not: return a bool tensor (True = in the "
                                  "window). Comparisons and & already give bool; drop the .float() / .long().")
    return None


register(Exercise(
    "window_mask", 9, window_mask, _mask_inputs, _mask_edges,
    mistakes=(
        Mistake("the window is not clipped at the sentence end: positions at or after lengths[b] are padding, "
                "never in the window. Combine |s - p_t| ≤ D with s < lengths[b] (lengths[:, None, None]).",
                _mask_not_clipped, kind="window-not-clipped"),
        Mistake("the window is not clipped at the start of the sentence: when p_t < D, p_t - D is negative, and a "
                "slice row[p_t - D : p_t + D + 1] with a negative start counts from the END of the row (or is "
                "empty). Clip the start at 0, or compare |s - p_t| ≤ D over s = 0..S-1 instead of slicing.",
                _mask_negative_slice, kind="window-not-clipped"),
        Mistake("the window is one position too narrow on each side: it is [p_t - D, p_t + D] with both ends "
                "included, |s - p_t| ≤ D (2D + 1 positions when p_t is an integer), not < D.",
                _mask_strict, kind="window-too-narrow"),
        Mistake("the window starts at p_t: Luong's window is centred on the aligned position, [p_t - D, p_t + D], "
                "not [p_t, p_t + 2D].", _mask_right_of_p, kind="window-not-centred"),
    ),
    properties=(_not_bool,),
    describe="positions (B, T), window, lengths (B,), S -> allowed (B, T, S)",
))


# ---------------------------------------------------------------- local_p_attention

def _p_inputs(g, B=3, T=5, S=9, H=4, A=6, window=2):
    return {"scores": torch.randn(B, T, S, generator=g), "query": torch.randn(B, T, H, generator=g),
            "W_p": torch.randn(A, H, generator=g), "v_p": 2 * torch.randn(A, generator=g),  # p_t spread over (0, S)
            "mask": random_mask(g, B, S), "window": window}


def _p_edges(g):
    large = _p_inputs(g)
    large["scores"] = large["scores"] * 40  # exp overflows without the max trick
    one_real = _p_inputs(g)
    one_real["mask"][1] = False
    one_real["mask"][1, 0] = True  # a sentence of one token: p_t in (0, 1), the window holds position 0 only
    return [
        ("one decoder step (T = 1)", _p_inputs(g, T=1)),
        ("a sentence of one real token", one_real),
        ("a window wider than the sentence (D ≥ S)", _p_inputs(g, window=10)),
        ("large scores (the softmax must not overflow)", large),
        ("batch of one", _p_inputs(g, B=1, S=6)),
    ]


def _p_wrong(sigma=None, scale="real", gaussian="after", clip=True, window_on=True):
    """local_p_attention with one thing changed, as a learner would write it."""
    def wrong(scores, query, W_p, v_p, mask, window):
        B, T, S = scores.shape
        pos01 = torch.sigmoid(torch.tanh(query @ W_p.T) @ v_p)  # (B, T) in (0, 1)
        length = {"real": mask.sum(-1).to(scores.dtype)[:, None], "padded": float(S), "none": 1.0}[scale]
        positions = length * pos01  # (B, T)
        sig = window / 2 if sigma is None else sigma(window)
        gauss = gaussian_weights(positions, S, sig)  # (B, T, S)
        lengths = mask.sum(-1) if clip else torch.full((B,), S)
        allowed = window_mask(positions, window, lengths, S) if window_on else mask[:, None, :].expand(B, T, S)
        flat = lambda x: x.reshape(B * T, S)  # noqa: E731
        if gaussian == "after":
            w = masked_softmax(flat(scores), flat(allowed)).view(B, T, S) * gauss
        elif gaussian == "inside":  # softmax of scores · G: the Gaussian scales the scores, before the softmax
            w = masked_softmax(flat(scores * gauss), flat(allowed)).view(B, T, S)
        else:  # "renormalised": softmax(scores + log G) = align · G / Σ align · G
            w = masked_softmax(flat(scores + gauss.log()), flat(allowed)).view(B, T, S)
        return positions, w
    return wrong


def _renormalised(kwargs, got, expected):
    """Weights that sum to 1 over the window where the reference's sum to less: normalised after the Gaussian."""
    if not (isinstance(got, (tuple, list)) and len(got) == 2 and isinstance(got[1], torch.Tensor)):
        return None
    w, ref = got[1], expected[1]
    if w.shape != ref.shape or not w.is_floating_point():
        return None
    sums, ref_sums = w.detach().double().sum(-1), ref.double().sum(-1)
    real = ref_sums > 0
    if bool(real.any()) and bool(torch.isclose(sums[real], torch.ones_like(sums[real]), atol=1e-4).all()) \
            and bool((ref_sums[real] < 1 - 1e-3).any()):
        return Diagnosis("renormalised",
                         "your weights sum to 1 over each window, the reference's to less: Luong multiplies the "
                         "softmax by the Gaussian AFTER normalising (eq. 10) and does not normalise again. "
                         "a_t(s) = align(h_t, h̄_s) · exp(-(s - p_t)² / (2σ²)).")
    return None


register(Exercise(
    "local_p_attention", 9, local_p_attention, _p_inputs, _p_edges,
    mistakes=(
        Mistake("σ = D: Luong sets the Gaussian's width to σ = D/2 (section 3.2), so that the window's edges, "
                "D = 2σ away from p_t, get weight exp(-2) ≈ 0.14.", _p_wrong(sigma=lambda D: D), kind="sigma-D"),
        Mistake("p_t is not scaled by S: sigmoid(v_pᵀ tanh(W_p h_t)) lies in (0, 1); eq. 9 multiplies it by the "
                "sentence length S to get a position in (0, S).", _p_wrong(scale="none"), kind="p-not-scaled"),
        Mistake("p_t is scaled by the padded width S of the batch, not by each sentence's real length "
                "(mask.sum(-1)): a short sentence in a long batch would get positions in its padding.",
                _p_wrong(scale="padded"), kind="p-scaled-by-padded-width"),
        Mistake("the Gaussian is applied before the softmax (the scores are multiplied by it): eq. 10 takes the "
                "softmax of the scores over the window first, align(h_t, h̄_s), and multiplies THAT by "
                "exp(-(s - p_t)² / (2σ²)).", _p_wrong(gaussian="inside"), kind="gaussian-before-softmax"),
        Mistake("the Gaussian is applied before the softmax (as log G added to the scores, which renormalises "
                "align · G to sum to 1): eq. 10 multiplies the softmax by the Gaussian after normalising, so "
                "local-p's weights sum to less than 1.", _p_wrong(gaussian="renormalised"),
                kind="gaussian-before-softmax"),
        Mistake("the window is not clipped at padding: positions in [p_t - D, p_t + D] at or after the real "
                "length get weight. Build the window with the real lengths (mask.sum(-1)), so padding is never in it.",
                _p_wrong(clip=False), kind="window-not-clipped"),
        Mistake("there is no window: the softmax runs over the whole sentence. Local attention normalises over "
                "[p_t - D, p_t + D] only (your window_mask), then multiplies by the Gaussian.",
                _p_wrong(window_on=False), kind="no-window"),
    ),
    properties=(_renormalised,),
    describe="scores (B, T, S), query (B, T, H), W_p (A, H), v_p (A,), mask (B, S), window "
             "-> positions (B, T), weights (B, T, S)",
))
