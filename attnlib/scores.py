"""Alignment scores: how well each encoder state answers each decoder query.

Every function here is pure and returns raw scores of shape (B, T, S), one row
per decoder step and one column per source position.

    query   (B, T, Hq)   decoder states: Luong's h_t, Bahdanau's s_{i-1}
    keys    (B, S, Hk)   encoder states: Luong's h̄_s, Bahdanau's h_j

| function          | equation                               | source                       |
|-------------------|----------------------------------------|------------------------------|
| dot_score         | h_tᵀ h̄_s                               | Luong et al. 2015, eq. 8     |
| general_score     | h_tᵀ W_a h̄_s                           | Luong et al. 2015, eq. 8     |
| concat_score      | v_aᵀ tanh(W_a [h_t; h̄_s])              | Luong et al. 2015, eq. 8     |
| location_score    | W_a h_t (no keys: where, not what)     | Luong et al. 2015, eq. 8     |
| additive_score    | v_aᵀ tanh(W_a s_{i-1} + U_a h_j)       | Bahdanau et al. 2014, A.1.2  |

The two tanh scores would naively build a (B, T, S, A) tensor and keep it,
and its gradient, alive for the backward pass. Here the tanh part runs through
`additive_score_projected`: beyond one cache-sized chunk it is a custom
autograd function that walks over chunks and recomputes tanh in backward
instead of storing it, so memory stays bounded by the chunk size; up to one
chunk (a Bahdanau decoder step on a small batch) the plain formula is faster
and keeps no more. Both equal the broadcast version (tests/test_scores.py).
"""
from __future__ import annotations

import torch

from ._validate import check_float, check_size, check_tensor

# Elements of one (b, t, S, A) work chunk: 2^20 floats = 4 MiB, cache sized.
CHUNK_ELEMENTS = 1 << 20


def _check_qk(query: torch.Tensor, keys: torch.Tensor) -> None:
    check_tensor("query", query, 3, "(B, T, Hq)")
    check_tensor("keys", keys, 3, "(B, S, Hk)")
    check_float("query", query)
    check_float("keys", keys)
    check_size("query and keys batch size B", keys.shape[0], query.shape[0])


def _check_matrix(name: str, w: torch.Tensor, legend: str, rows: int | None, cols: int | None) -> None:
    check_tensor(name, w, 2, legend)
    if rows is not None:
        check_size(f"{name} {legend} first dimension", w.shape[0], rows)
    if cols is not None:
        check_size(f"{name} {legend} second dimension", w.shape[1], cols)


def dot_score(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Luong dot score h_tᵀ h̄_s (Luong et al. 2015, eq. 8).

    query (B, T, H), keys (B, S, H) -> scores (B, T, S). No scaling by
    sqrt(H): that is the Transformer's variant (Vaswani et al. 2017).
    """
    _check_qk(query, keys)
    check_size("dot score needs query size Hq == key size Hk", keys.shape[2], query.shape[2])
    return torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)


def general_score(query: torch.Tensor, keys: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Luong general (multiplicative) score h_tᵀ W_a h̄_s (Luong et al. 2015, eq. 8).

    query (B, T, Hq), keys (B, S, Hk), W (Hq, Hk) -> scores (B, T, S).
    W_a h̄_s is computed once per source position, not once per step.
    """
    _check_qk(query, keys)
    _check_matrix("W", W, "(Hq, Hk)", query.shape[2], keys.shape[2])
    projected = keys @ W.transpose(0, 1)  # (B, S, Hq): W_a h̄_s
    return torch.bmm(query, projected.transpose(1, 2))  # (B, T, S)


def additive_score(
    query: torch.Tensor, keys: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor, v: torch.Tensor
) -> torch.Tensor:
    """Bahdanau additive score v_aᵀ tanh(W_a s_{i-1} + U_a h_j) (Bahdanau et al. 2014, A.1.2).

    query (B, T, Hq), keys (B, S, Hk), W_q (A, Hq) is W_a, W_k (A, Hk) is U_a,
    v (A,) is v_a -> scores (B, T, S).
    """
    _check_qk(query, keys)
    _check_matrix("W_q", W_q, "(A, Hq)", None, query.shape[2])
    _check_matrix("W_k", W_k, "(A, Hk)", W_q.shape[0], keys.shape[2])
    query_proj = query @ W_q.transpose(0, 1)  # (B, T, A): W_a s_{i-1}
    key_proj = keys @ W_k.transpose(0, 1)  # (B, S, A): U_a h_j
    return additive_score_projected(query_proj, key_proj, v)


def concat_score(query: torch.Tensor, keys: torch.Tensor, W: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Luong concat score v_aᵀ tanh(W_a [h_t; h̄_s]) (Luong et al. 2015, eq. 8).

    query (B, T, Hq), keys (B, S, Hk), W (A, Hq + Hk), v (A,) -> scores (B, T, S).
    Splitting W_a = [W_q | W_k] by columns gives W_a [h_t; h̄_s] = W_q h_t + W_k h̄_s:
    the same computation as the additive score, without concatenating T × S pairs.
    """
    _check_qk(query, keys)
    hq = query.shape[2]
    _check_matrix("W", W, "(A, Hq + Hk)", None, hq + keys.shape[2])
    return additive_score(query, keys, W[:, :hq], W[:, hq:], v)


def location_score(query: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Luong location-based score W_a h_t (Luong et al. 2015, eq. 8, location): a_t = softmax(W_a h_t).

    query (B, T, H), W (S, H) -> scores (B, T, S). The scores come from the
    decoder state alone, one learned row per source position, so W fixes the
    source width S. Not in ``SCORES``: it takes no keys.
    """
    check_tensor("query", query, 3, "(B, T, H)")
    check_float("query", query)
    _check_matrix("W", W, "(S, H)", None, query.shape[2])
    return query @ W.transpose(0, 1)  # (B, T, S): eq. 8, location


def additive_score_projected(query_proj: torch.Tensor, key_proj: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """v_aᵀ tanh(q_t + k_s) for already projected queries and keys.

    query_proj (B, T, A), key_proj (B, S, A), v (A,) -> scores (B, T, S).
    Use this when the keys were projected once per sentence (Bahdanau's U_a h_j).
    """
    check_tensor("query_proj", query_proj, 3, "(B, T, A)")
    check_tensor("key_proj", key_proj, 3, "(B, S, A)")
    check_tensor("v", v, 1, "(A,)")
    check_size("query_proj and key_proj batch size B", key_proj.shape[0], query_proj.shape[0])
    check_size("key_proj additive size A", key_proj.shape[2], query_proj.shape[2])
    check_size("v additive size A", v.shape[0], query_proj.shape[2])
    (B, T, A), S = query_proj.shape, key_proj.shape[1]
    if B * T * S * A <= CHUNK_ELEMENTS:  # one chunk: the plain formula keeps no more and is faster
        return torch.tanh(query_proj.unsqueeze(2) + key_proj.unsqueeze(1)) @ v  # (B, T, S, A) @ (A,) -> (B, T, S)
    return _TanhScore.apply(query_proj, key_proj, v)


def _chunks(B: int, T: int, S: int, A: int):
    """Yield (batch slice, step slice) pairs whose (b, t, S, A) block fits CHUNK_ELEMENTS."""
    per_step = max(1, S * A)
    t_size = max(1, min(T, CHUNK_ELEMENTS // per_step))
    b_size = max(1, CHUNK_ELEMENTS // (per_step * T)) if t_size == T else 1
    for b0 in range(0, B, b_size):
        for t0 in range(0, T, t_size):
            yield slice(b0, b0 + b_size), slice(t0, t0 + t_size)


class _TanhScore(torch.autograd.Function):
    """scores[b,t,s] = Σ_a v[a] tanh(q[b,t,a] + k[b,s,a]), chunked, tanh recomputed in backward.

    Saves only q (B, T, A), k (B, S, A) and v (A,): the (B, T, S, A) activations
    exist one chunk at a time in the forward and again in the backward pass.
    """

    @staticmethod
    def forward(ctx, q, k, v):
        ctx.save_for_backward(q, k, v)
        B, T, A = q.shape
        S = k.shape[1]
        out = q.new_empty(B, T, S)
        for bs, ts in _chunks(B, T, S, A):
            h = torch.tanh(q[bs, ts, None, :] + k[bs, None, :, :])  # (b, t, S, A)
            out[bs, ts] = h @ v  # (b, t, S)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        q, k, v = ctx.saved_tensors
        B, T, A = q.shape
        S = k.shape[1]
        grad = grad.contiguous()
        gq = torch.zeros_like(q) if ctx.needs_input_grad[0] else None
        gk = torch.zeros_like(k) if ctx.needs_input_grad[1] else None
        gv = torch.zeros_like(v)
        for bs, ts in _chunks(B, T, S, A):
            h = torch.tanh(q[bs, ts, None, :] + k[bs, None, :, :])  # (b, t, S, A)
            g = grad[bs, ts]  # (b, t, S)
            gv += h.reshape(-1, A).transpose(0, 1) @ g.reshape(-1)  # (A,)
            # d score / d pre-activation = v (1 - tanh²); the sign is folded into g.
            h.square_().sub_(1.0).mul_(g.neg().unsqueeze(-1))  # (b, t, S, A): g (1 - h²)
            if gq is not None:
                gq[bs, ts] += h.sum(2)  # (b, t, A)
            if gk is not None:
                gk[bs] += h.sum(1)  # (b, S, A)
        if gq is not None:
            gq.mul_(v)
        if gk is not None:
            gk.mul_(v)
        return gq, gk, gv if ctx.needs_input_grad[2] else None


SCORES = {"dot": dot_score, "general": general_score, "concat": concat_score, "additive": additive_score}
