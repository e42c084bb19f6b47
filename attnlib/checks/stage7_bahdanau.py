"""Stage 7 exercises: Bahdanau's additive attention and one decoder step (Bahdanau et al. 2014, eqs. 4-6, A.1.2).

    bahdanau_attention(s_prev (B, Hq), keys (B, S, Hk), mask (B, S), W_q (A, Hq), W_k (A, Hk), v_a (A,))
        -> context (B, Hk), weights (B, S)
    bahdanau_step(y_emb (B, E), s_prev (B, H), keys, mask, W_q, W_k, v_a, W_in (H, E + Hk), W_rec (H, H), b (H,))
        -> s (B, H), context (B, Hk), weights (B, S)

with s = tanh(W_in [y_emb; c] + W_rec s_prev + b): the context, computed from
s_{i-1}, enters the recurrence. A plain tanh RNN cell stands in for the
paper's gated f.

W_q and W_k are Bahdanau's W_a and U_a in the course's notation (docs/glossary.md): W_q projects the query
s_{i-1}, W_k the keys h_j. attnlib's BahdanauAttention keeps the paper's attribute names (.W_a is W_q, .U_a is W_k).
"""
from __future__ import annotations

import torch

from ..attention import masked_softmax
from ..scores import additive_score
from .core import Exercise, Mistake, register
from .stage5_luong_dot import random_mask


def bahdanau_attention(s_prev, keys, mask, W_q, W_k, v_a):
    """Reference: e_ij = v_aᵀ tanh(W_q s_{i-1} + W_k h_j), α_i = softmax over real j, c_i = Σ_j α_ij h_j."""
    scores = additive_score(s_prev[:, None], keys, W_q, W_k, v_a)[:, 0]  # (B, S): e_i
    weights = masked_softmax(scores, mask)  # (B, S): α_i, eq. 6
    return torch.bmm(weights[:, None], keys)[:, 0], weights  # (B, Hk): c_i, eq. 5


def bahdanau_step(y_emb, s_prev, keys, mask, W_q, W_k, v_a, W_in, W_rec, b):
    """Reference: attend with s_{i-1} first, then s_i = tanh(W_in [y_{i-1}; c_i] + W_rec s_{i-1} + b)."""
    context, weights = bahdanau_attention(s_prev, keys, mask, W_q, W_k, v_a)  # (B, Hk), (B, S)
    s = torch.tanh(torch.cat([y_emb, context], dim=-1) @ W_in.T + s_prev @ W_rec.T + b)  # (B, H): eq. 4's f
    return s, context, weights


# ---------------------------------------------------------------- bahdanau_attention

def _attn_inputs(g, B=3, S=6, Hq=5, Hk=5, A=4):
    return {"s_prev": torch.randn(B, Hq, generator=g), "keys": torch.randn(B, S, Hk, generator=g),
            "mask": random_mask(g, B, S), "W_q": torch.randn(A, Hq, generator=g),
            "W_k": torch.randn(A, Hk, generator=g), "v_a": torch.randn(A, generator=g)}


def _attn_edges(g):
    all_masked = _attn_inputs(g)
    all_masked["mask"][1] = False
    return [
        ("Hq, Hk and A all different", _attn_inputs(g, Hq=3, Hk=6, A=7)),
        ("a row with no real source token: weights and context 0, not NaN", all_masked),
        ("one source position (S = 1)", _attn_inputs(g, S=1)),
        ("batch of one", _attn_inputs(g, B=1, S=8)),
        ("B == S (a softmax over the batch is shape-compatible)", _attn_inputs(g, B=4, S=4)),
        ("A == Hk (a context of projected keys W_k h_j is shape-compatible)", _attn_inputs(g, Hk=4, A=4)),
    ]


def _context_of_projected(s_prev, keys, mask, W_q, W_k, v_a):
    weights = bahdanau_attention(s_prev, keys, mask, W_q, W_k, v_a)[1]  # (B, S)
    return torch.bmm(weights[:, None], keys @ W_k.T)[:, 0], weights  # (B, A): the projected keys


def _attn_wrong(swap=False, tanh=True, use_mask=True, dim=-1):
    def wrong(s_prev, keys, mask, W_q, W_k, v_a):
        Wq, Wk = (W_k, W_q) if swap else (W_q, W_k)
        pre = (s_prev @ Wq.T)[:, None, :] + keys @ Wk.T  # (B, S, A)
        scores = (torch.tanh(pre) if tanh else pre) @ v_a  # (B, S)
        if dim == -1:
            weights = masked_softmax(scores, mask if use_mask else None)
        else:
            weights = torch.softmax(scores, dim=0).masked_fill(~mask, 0.0)
        return torch.bmm(weights[:, None], keys)[:, 0], weights
    return wrong


register(Exercise(
    "bahdanau_attention", 7, bahdanau_attention, _attn_inputs, _attn_edges,
    mistakes=(
        Mistake("W_q and W_k are swapped: W_q projects the decoder state s_{i-1}, W_k the encoder states h_j.",
                _attn_wrong(swap=True)),
        Mistake("tanh is missing: e_ij = v_aᵀ tanh(W_q s_{i-1} + W_k h_j); without it the s_{i-1} term "
                "is the same for every j and cancels in the softmax.", _attn_wrong(tanh=False)),
        Mistake("the mask is ignored: padded source positions get weight. Use masked_softmax(scores, mask).",
                _attn_wrong(use_mask=False)),
        Mistake("the softmax runs over the batch (dim 0). The weights of one sentence are a distribution "
                "over its source positions: normalise over the last axis.", _attn_wrong(dim=0)),
        Mistake("the outputs are swapped: return (context, weights), context first.",
                lambda s_prev, keys, mask, W_q, W_k, v_a: bahdanau_attention(s_prev, keys, mask, W_q, W_k, v_a)[::-1]),
        Mistake("the context averages the projected keys W_k h_j: W_k only shapes the scores. "
                "c_i = Σ_j α_ij h_j averages the encoder states themselves (as in notebook 6 with its W_a).",
                _context_of_projected, kind="context-of-projected"),
    ),
    describe="s_prev (B, Hq), keys (B, S, Hk), mask (B, S), W_q (A, Hq), W_k (A, Hk), v_a (A,) -> context (B, Hk), weights (B, S)",
))


# ---------------------------------------------------------------- bahdanau_step

def _step_inputs(g, B=3, S=6, E=3, H=5, Hk=4, A=4):
    out = {"y_emb": torch.randn(B, E, generator=g), "s_prev": torch.randn(B, H, generator=g)}
    attn = _attn_inputs(g, B=B, S=S, Hq=H, Hk=Hk, A=A)
    del attn["s_prev"]
    out.update(attn)
    out.update({"W_in": torch.randn(H, E + Hk, generator=g) * 0.5, "W_rec": torch.randn(H, H, generator=g) * 0.5,
                "b": torch.randn(H, generator=g)})
    return out


def _step_edges(g):
    all_masked = _step_inputs(g)
    all_masked["mask"][0] = False
    return [
        ("E == Hk (the swapped-inputs mistake is shape-compatible)", _step_inputs(g, E=4, Hk=4)),
        ("a row with no real source token: context 0, the state still updates", all_masked),
        ("batch of one, one source position", _step_inputs(g, B=1, S=1)),
    ]


def _rnn(y_emb, context, s_prev, W_in, W_rec, b, swap=False, tanh=True, transpose=False):
    x = torch.cat([context, y_emb] if swap else [y_emb, context], dim=-1)  # (B, E + Hk)
    pre = x @ W_in.T + s_prev @ (W_rec if transpose else W_rec.T) + b
    return torch.tanh(pre) if tanh else pre


def _step_wrong(swap=False, tanh=True, transpose=False, use_mask=True):
    def wrong(y_emb, s_prev, keys, mask, W_q, W_k, v_a, W_in, W_rec, b):
        context, weights = bahdanau_attention(s_prev, keys, mask if use_mask else torch.ones_like(mask), W_q, W_k, v_a)
        return _rnn(y_emb, context, s_prev, W_in, W_rec, b, swap, tanh, transpose), context, weights
    return wrong


def _context_not_fed(y_emb, s_prev, keys, mask, W_q, W_k, v_a, W_in, W_rec, b):
    context, weights = bahdanau_attention(s_prev, keys, mask, W_q, W_k, v_a)
    E = y_emb.shape[1]
    s = torch.tanh(y_emb @ W_in[:, :E].T + s_prev @ W_rec.T + b)  # the context never enters the state
    return s, context, weights


def _query_is_new_state(y_emb, s_prev, keys, mask, W_q, W_k, v_a, W_in, W_rec, b):
    E = y_emb.shape[1]
    s = torch.tanh(y_emb @ W_in[:, :E].T + s_prev @ W_rec.T + b)  # RNN step first (Luong's order) ...
    context, weights = bahdanau_attention(s, keys, mask, W_q, W_k, v_a)  # ... then attend with s_i
    return s, context, weights


def _attended_with_new_state(kwargs, got, expected):
    """Context and weights that are bahdanau_attention queried with the returned s_i, not with s_{i-1}."""
    from .diagnose import Diagnosis
    s, context, weights = got
    attn = {k: kwargs[k] for k in ("keys", "mask", "W_q", "W_k", "v_a")}
    c2, w2 = bahdanau_attention(s, **attn)
    if torch.allclose(context, c2, atol=1e-5) and torch.allclose(weights, w2, atol=1e-5) \
            and not torch.allclose(weights, expected[2], atol=1e-5):
        return Diagnosis("query-is-new-state",
                         "you attended with the new state s_i: that is Luong's order (step, then attend). Bahdanau's "
                         "query is the PREVIOUS state s_{i-1} (eq. 6: e_ij = a(s_{i-1}, h_j)); attend with s_prev first, "
                         "then feed c_i into the step.")
    return None


register(Exercise(
    "bahdanau_step", 7, bahdanau_step, _step_inputs, _step_edges,
    properties=(_attended_with_new_state,),
    mistakes=(
        Mistake("the query is the new state s_i, with the RNN step taken first: that is Luong's order. "
                "Bahdanau attends with the previous state s_{i-1}, then feeds c_i into the step.",
                _query_is_new_state),
        Mistake("the context does not enter the recurrence: s_i = f(s_{i-1}, y_{i-1}, c_i), "
                "so the RNN input is [y_emb; c] (W_in has E + Hk columns).", _context_not_fed),
        Mistake("the RNN input is in the wrong order: you concatenated [c; y_emb], but W_in's first E columns read "
                "the embedding, so it must be [y_emb; c].", _step_wrong(swap=True)),
        Mistake("tanh is missing: s = tanh(W_in [y_emb; c] + W_rec s_prev + b).", _step_wrong(tanh=False)),
        Mistake("W_rec is used transposed: the recurrent term is W_rec s_prev, i.e. s_prev @ W_rec.T.",
                _step_wrong(transpose=True)),
        Mistake("the mask is ignored: padded source positions leak into the context.", _step_wrong(use_mask=False)),
    ),
    describe="y_emb (B, E), s_prev (B, H), keys (B, S, Hk), mask, W_q, W_k, v_a, W_in (H, E + Hk), W_rec (H, H), b (H,)"
             " -> s (B, H), context (B, Hk), weights (B, S)",
))
