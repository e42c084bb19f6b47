"""Stage 2 exercises: the alignment scores (Luong eq. 8, Bahdanau A.1.2)."""
from __future__ import annotations

import torch

from .. import scores
from .core import Exercise, Mistake, register


def _qk(g, B=2, T=3, S=5, Hq=4, Hk=4):
    return torch.randn(B, T, Hq, generator=g), torch.randn(B, S, Hk, generator=g)


def _dot_inputs(g):
    q, k = _qk(g)
    return {"query": q, "keys": k}


register(Exercise(
    "dot_score", 2, scores.dot_score, _dot_inputs,
    edge_cases=lambda g: [("one source position, one step", {"query": torch.randn(3, 1, 4, generator=g), "keys": torch.randn(3, 1, 4, generator=g)}),
                          ("batch of one, long source", {"query": torch.randn(1, 2, 6, generator=g), "keys": torch.randn(1, 9, 6, generator=g)})],
    mistakes=(
        Mistake("scores must be (B, T, S): one row per decoder step. Multiply query (B, T, H) by keys transposed to (B, H, S), not the other way round.",
                lambda query, keys: torch.bmm(keys, query.transpose(1, 2))),
        Mistake("you divided by sqrt(H): that is the Transformer's scaled dot product; Luong's dot score is the plain h_tᵀ h̄_s.",
                lambda query, keys: scores.dot_score(query, keys) / query.shape[-1] ** 0.5),
    ),
    describe="query (B, T, H), keys (B, S, H) -> scores (B, T, S)",
))


def _general_inputs(g):
    q, k = _qk(g)
    return {"query": q, "keys": k, "W": torch.randn(4, 4, generator=g)}


register(Exercise(
    "general_score", 2, scores.general_score, _general_inputs,
    edge_cases=lambda g: [("Hq != Hk", {"query": torch.randn(2, 3, 4, generator=g), "keys": torch.randn(2, 5, 6, generator=g), "W": torch.randn(4, 6, generator=g)}),
                          ("W = I equals the dot score", {"query": torch.randn(2, 3, 4, generator=g), "keys": torch.randn(2, 5, 4, generator=g), "W": torch.eye(4)})],
    mistakes=(
        Mistake("W is used transposed: the score is h_tᵀ (W_a h̄_s), so apply W (Hq, Hk) to the keys as keys @ W.T.",
                lambda query, keys, W: scores.general_score(query, keys, W.T)),
        Mistake("W is missing: this is the dot score. The general score is h_tᵀ W_a h̄_s.",
                lambda query, keys, W: scores.dot_score(query, keys)),
        Mistake("scores must be (B, T, S), not (B, S, T): transpose the keys, not the queries.",
                lambda query, keys, W: scores.general_score(query, keys, W).transpose(1, 2)),
    ),
    describe="query (B, T, Hq), keys (B, S, Hk), W (Hq, Hk) -> scores (B, T, S)",
))


def _additive_inputs(g, Hq=4, Hk=4, A=3):
    q, k = _qk(g, Hq=Hq, Hk=Hk)
    return {"query": q, "keys": k, "W_q": torch.randn(A, Hq, generator=g), "W_k": torch.randn(A, Hk, generator=g),
            "v": torch.randn(A, generator=g)}


register(Exercise(
    "additive_score", 2, scores.additive_score, _additive_inputs,
    edge_cases=lambda g: [("Hq != Hk != A", _additive_inputs(g, Hq=5, Hk=6, A=7)),
                          ("one step", {**_additive_inputs(g), "query": torch.randn(2, 1, 4, generator=g)})],
    mistakes=(
        Mistake("tanh is missing: the additive score is v_aᵀ tanh(W_q s + W_k h), and without the nonlinearity it collapses to a sum of two separate terms.",
                lambda query, keys, W_q, W_k, v: ((query @ W_q.T)[:, :, None] + (keys @ W_k.T)[:, None]) @ v),
        Mistake("W_q and W_k are swapped: W_q (Bahdanau's W_a) projects the decoder query, W_k (his U_a) projects the encoder keys.",
                lambda query, keys, W_q, W_k, v: scores.additive_score(query, keys, W_k, W_q, v)),
        Mistake("scores must be (B, T, S): broadcast the projected query as (B, T, 1, A) and the keys as (B, 1, S, A).",
                lambda query, keys, W_q, W_k, v: scores.additive_score(query, keys, W_q, W_k, v).transpose(1, 2)),
        Mistake("v_a is missing: sum over A with the vector v (… @ v), not a plain sum.",
                lambda query, keys, W_q, W_k, v: torch.tanh((query @ W_q.T)[:, :, None] + (keys @ W_k.T)[:, None]).sum(-1)),
    ),
    describe="query (B, T, Hq), keys (B, S, Hk), W_q (A, Hq), W_k (A, Hk), v (A,) -> scores (B, T, S)",
))
