"""Stage 6 exercises: the general score and a whole Luong output layer (Luong et al. 2015, eqs. 5, 6, 8).

    luong_general_attention(query (B, T, H), keys (B, S, Hk), mask (B, S), W_a (H, Hk))
        -> context (B, T, Hk), weights (B, T, S)
    luong_output_log_probs(h (B, T, H), keys (B, S, Hk), mask, W_a (H, Hk), W_c (H, Hk + H), W_s (V, H), b_s (V,))
        -> log p(y_t | y_<t, x) (B, T, V)
"""
from __future__ import annotations

import torch

from ..attention import context_vector, masked_softmax
from ..scores import dot_score, general_score
from .core import Exercise, Mistake, register
from .stage5_luong_dot import attentional_hidden, random_mask


def luong_general_attention(query, keys, mask, W_a):
    """Reference: a_t = softmax over real s of h_tᵀ W_a h̄_s; c_t = Σ_s a_t(s) h̄_s (the keys, not W_a h̄_s)."""
    weights = masked_softmax(general_score(query, keys, W_a), mask)  # (B, T, S)
    return context_vector(weights, keys), weights  # (B, T, Hk), (B, T, S)


def luong_output_log_probs(h, keys, mask, W_a, W_c, W_s, b_s):
    """Reference: eq. 8 (general) -> c_t; eq. 5 h̃_t = tanh(W_c [c_t; h_t]); eq. 6 log softmax(W_s h̃_t + b_s)."""
    context, _ = luong_general_attention(h, keys, mask, W_a)  # (B, T, Hk)
    h_tilde = attentional_hidden(context, h, W_c)  # (B, T, H)
    return torch.log_softmax(h_tilde @ W_s.T + b_s, dim=-1)  # (B, T, V)


# ---------------------------------------------------------------- luong_general_attention

def _general_inputs(g, B=3, T=4, S=6, H=5, Hk=5):
    return {"query": torch.randn(B, T, H, generator=g), "keys": torch.randn(B, S, Hk, generator=g),
            "mask": random_mask(g, B, S), "W_a": torch.randn(H, Hk, generator=g)}


def _general_edges(g):
    all_masked = _general_inputs(g)
    all_masked["mask"][2] = False
    identity = _general_inputs(g)
    identity["W_a"] = torch.eye(5)
    return [
        ("H != Hk (the general score allows it, the dot score does not)", _general_inputs(g, H=4, Hk=7)),
        ("a row with no real source token: weights and context 0, not NaN", all_masked),
        ("W_a = I gives the dot score", identity),
        ("one source position (S = 1), batch of one", _general_inputs(g, B=1, T=3, S=1)),
        ("one decoder step (T = 1), as when decoding step by step", _general_inputs(g, T=1)),
    ]


def _context_from_projected(query, keys, mask, W_a):
    weights = luong_general_attention(query, keys, mask, W_a)[1]
    return context_vector(weights, keys @ W_a.T), weights


register(Exercise(
    "luong_general_attention", 6, luong_general_attention, _general_inputs, _general_edges,
    mistakes=(
        Mistake("W_a is used transposed: the score is h_tᵀ (W_a h̄_s) with W_a (H, Hk), "
                "so project the keys as keys @ W_a.T.",
                lambda query, keys, mask, W_a: luong_general_attention(query, keys, mask, W_a.T)),
        Mistake("W_a is missing: these are the dot-score weights. general = h_tᵀ W_a h̄_s.",
                lambda query, keys, mask, W_a: (lambda w: (context_vector(w, keys), w))(
                    masked_softmax(dot_score(query, keys), mask))),
        Mistake("the mask is ignored: padded positions get weight. Pass the mask to masked_softmax.",
                lambda query, keys, mask, W_a: luong_general_attention(query, keys, None, W_a)),
        Mistake("the context averages the projected keys W_a h̄_s. W_a only shapes the scores; "
                "c_t = Σ_s a_t(s) h̄_s averages the encoder states themselves.", _context_from_projected),
        Mistake("the outputs are swapped: return (context, weights), context first.",
                lambda query, keys, mask, W_a: luong_general_attention(query, keys, mask, W_a)[::-1]),
    ),
    describe="query (B, T, H), keys (B, S, Hk), mask (B, S), W_a (H, Hk) -> context (B, T, Hk), weights (B, T, S)",
))


# ---------------------------------------------------------------- luong_output_log_probs

def _output_inputs(g, B=2, T=3, S=5, H=4, Hk=6, V=7):
    return {"h": torch.randn(B, T, H, generator=g), "keys": torch.randn(B, S, Hk, generator=g),
            "mask": random_mask(g, B, S), "W_a": torch.randn(H, Hk, generator=g),
            "W_c": torch.randn(H, Hk + H, generator=g), "W_s": torch.randn(V, H, generator=g),
            "b_s": torch.randn(V, generator=g)}


def _output_edges(g):
    all_masked = _output_inputs(g)
    all_masked["mask"][1] = False
    return [
        ("Hk == H (the swapped-halves mistake is shape-compatible)", _output_inputs(g, H=5, Hk=5)),
        ("T == V (a log_softmax over the steps is shape-compatible)", _output_inputs(g, T=7, V=7)),
        ("a row with no real source token: the context is 0, log-probs still finite", all_masked),
        ("batch of one, one step", _output_inputs(g, B=1, T=1)),
    ]


def _wrong_output(swap=False, tanh=True, axis=-1, log=True, use_mask=True, bias=True, attend=True):
    def wrong(h, keys, mask, W_a, W_c, W_s, b_s):
        context, _ = luong_general_attention(h, keys, mask if use_mask else None, W_a)
        if attend:
            pre = torch.cat([h, context] if swap else [context, h], dim=-1) @ W_c.T
            h_tilde = torch.tanh(pre) if tanh else pre
        else:
            h_tilde = h
        logits = h_tilde @ W_s.T + (b_s if bias else 0.0)
        return torch.log_softmax(logits, dim=axis) if log else torch.softmax(logits, dim=axis)
    return wrong


register(Exercise(
    "luong_output_log_probs", 6, luong_output_log_probs, _output_inputs, _output_edges,
    mistakes=(
        Mistake("log_softmax runs over the wrong axis: each step's distribution is over the vocabulary, "
                "the last axis V (dim=-1).", _wrong_output(axis=1)),
        Mistake("these are probabilities, not log-probabilities: use torch.log_softmax (stable), "
                "not softmax (or log of softmax).", _wrong_output(log=False)),
        Mistake("the halves are swapped: eq. 5 concatenates [c_t; h_t], context first.", _wrong_output(swap=True)),
        Mistake("tanh is missing from eq. 5: h̃_t = tanh(W_c [c_t; h_t]).", _wrong_output(tanh=False)),
        Mistake("the bias b_s is missing: logits = W_s h̃_t + b_s.", _wrong_output(bias=False)),
        Mistake("the mask is ignored: padded source positions leak into the context.", _wrong_output(use_mask=False)),
        Mistake("the output layer reads h_t directly: attention is skipped. Eq. 6 reads h̃_t, "
                "which combines h_t with the context c_t.", _wrong_output(attend=False)),
    ),
    describe="h (B, T, H), keys (B, S, Hk), mask, W_a (H, Hk), W_c (H, Hk + H), W_s (V, H), b_s (V,) -> log_probs (B, T, V)",
))
