"""Stage 5 exercises: a Luong decoder step with the dot score (Luong et al. 2015, eqs. 5, 7, 8).

    luong_dot_attention(query (B, T, H), keys (B, S, H), mask (B, S)) -> context (B, T, H), weights (B, T, S)
    attentional_hidden(context (B, T, Hk), h (B, T, H), W_c (H, Hk + H)) -> h̃ = tanh(W_c [c; h]) (B, T, H)

The references are attnlib's own pieces: masked_softmax(dot_score) then context_vector.
"""
from __future__ import annotations

import torch

from ..attention import context_vector, masked_softmax
from ..scores import dot_score
from .core import Exercise, Mistake, register


def random_mask(g: torch.Generator, B: int, S: int, full_first: bool = True) -> torch.Tensor:
    """(B, S) bool, a random length in 1..S per row (row 0 full): True on real tokens."""
    lengths = torch.randint(1, S + 1, (B,), generator=g)
    if full_first:
        lengths[0] = S
    return torch.arange(S)[None, :] < lengths[:, None]  # (B, S)


def luong_dot_attention(query, keys, mask):
    """Reference: a_t = softmax over real s of h_tᵀ h̄_s (eqs. 7, 8); c_t = Σ_s a_t(s) h̄_s."""
    weights = masked_softmax(dot_score(query, keys), mask)  # (B, T, S)
    return context_vector(weights, keys), weights  # (B, T, H), (B, T, S)


def attentional_hidden(context, h, W_c):
    """Reference: h̃_t = tanh(W_c [c_t; h_t]) (Luong eq. 5); context first, then h."""
    return torch.tanh(torch.cat([context, h], dim=-1) @ W_c.T)  # (B, T, H)


# ---------------------------------------------------------------- luong_dot_attention

def _dot_inputs(g, B=3, T=4, S=6, H=5):
    return {"query": torch.randn(B, T, H, generator=g), "keys": torch.randn(B, S, H, generator=g),
            "mask": random_mask(g, B, S)}


def _dot_edges(g):
    all_masked = _dot_inputs(g)
    all_masked["mask"][1] = False
    return [
        ("a row with no real source token (all masked): weights and context must be 0, not NaN", all_masked),
        ("one source position (S = 1)", _dot_inputs(g, B=2, T=3, S=1, H=4)),
        ("batch of one", _dot_inputs(g, B=1, T=2, S=7, H=3)),
        ("as many steps as source positions (T = S)", _dot_inputs(g, B=2, T=5, S=5, H=4)),
        ("one decoder step (T = 1), as when decoding step by step", _dot_inputs(g, T=1)),
    ]


def _softmax_over_steps(query, keys, mask):
    w = torch.softmax(dot_score(query, keys), dim=1).masked_fill(~mask[:, None], 0.0)
    return context_vector(w, keys), w


def _nan_on_empty(query, keys, mask):
    w = torch.softmax(dot_score(query, keys).masked_fill(~mask[:, None], float("-inf")), dim=-1)
    return torch.bmm(w, keys), w


register(Exercise(
    "luong_dot_attention", 5, luong_dot_attention, _dot_inputs, _dot_edges,
    mistakes=(
        Mistake("the mask is ignored: padded source positions get weight. Use masked_softmax(scores, mask) "
                "so that the weights are exactly 0 where mask is False.",
                lambda query, keys, mask: luong_dot_attention(query, keys, None)),
        Mistake("the softmax runs over the decoder steps (dim 1). Each step's weights are a distribution "
                "over the source positions: normalise over the last axis, S.", _softmax_over_steps),
        Mistake("you divided the scores by sqrt(H): that is the Transformer's scaled dot product. "
                "Luong's dot score is the plain h_tᵀ h̄_s.",
                lambda query, keys, mask: luong_dot_attention(query / query.shape[-1] ** 0.5, keys, mask)),
        Mistake("a row with no real token gives NaN: softmax over all -inf is 0/0. "
                "Use attnlib's masked_softmax (or give such rows zeros yourself).", _nan_on_empty),
        Mistake("the outputs are swapped: return (context, weights), context first.",
                lambda query, keys, mask: luong_dot_attention(query, keys, mask)[::-1]),
        Mistake("padded scores were set to 0, but exp(0) = 1 still gives padding weight: fill them with -inf "
                "(masked_softmax does it, notebook 3).",
                lambda query, keys, mask: (lambda w: (torch.bmm(w, keys), w))(
                    torch.softmax(dot_score(query, keys).masked_fill(~mask[:, None], 0.0), dim=-1)), kind="zero-fill"),
        Mistake("the weights multiply the decoder states (query), not the encoder states: "
                "c_t = Σ_s a_t(s) h̄_s averages the keys, which are also the values.",
                lambda query, keys, mask: (torch.bmm(luong_dot_attention(query, keys, mask)[1], query),
                                           luong_dot_attention(query, keys, mask)[1])),
    ),
    describe="query (B, T, H), keys (B, S, H), mask (B, S) -> context (B, T, H), weights (B, T, S)",
))


# ---------------------------------------------------------------- attentional_hidden

def _hidden_inputs(g, B=2, T=3, H=4, Hk=6):
    return {"context": torch.randn(B, T, Hk, generator=g), "h": torch.randn(B, T, H, generator=g),
            "W_c": torch.randn(H, Hk + H, generator=g)}


register(Exercise(
    "attentional_hidden", 5, attentional_hidden, _hidden_inputs,
    edge_cases=lambda g: [("Hk == H (the swapped-halves mistake is shape-compatible)", _hidden_inputs(g, H=5, Hk=5)),
                          ("batch of one, one step", _hidden_inputs(g, B=1, T=1)),
                          ("large inputs (tanh saturates at ±1)", {k: v * 10 for k, v in _hidden_inputs(g).items()})],
    mistakes=(
        Mistake("the halves are swapped: Luong's eq. 5 concatenates [c_t; h_t], context first, "
                "so W_c's first Hk columns read the context.",
                lambda context, h, W_c: torch.tanh(torch.cat([h, context], dim=-1) @ W_c.T)),
        Mistake("tanh is missing: h̃_t = tanh(W_c [c_t; h_t]); the order [c_t; h_t] is right.",
                lambda context, h, W_c: torch.cat([context, h], dim=-1) @ W_c.T),
        Mistake("tanh is applied before W_c: it wraps the product, h̃_t = tanh(W_c [c_t; h_t]).",
                lambda context, h, W_c: torch.tanh(torch.cat([context, h], dim=-1)) @ W_c.T),
        Mistake("h̃_t is not h_t plus something: it is tanh of W_c applied to the concatenation [c_t; h_t].",
                lambda context, h, W_c: h + torch.tanh(torch.cat([context, h], dim=-1) @ W_c.T)),
    ),
    describe="context (B, T, Hk), h (B, T, H), W_c (H, Hk + H) -> h_tilde (B, T, H)",
))
