"""From Luong dot to the Transformer's attention (Vaswani et al. 2017, section 3.2).

Luong's dot attention is the Transformer's scaled dot-product attention
without the projections and without the 1/√d:

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V                  (Vaswani et al. 2017, eq. 1)
    MultiHead(Q, K, V) = Concat(head_1, ..., head_N) W^O,
        head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)            (section 3.2.2)

| paper                    | symbol          | here                                  | shape              |
|--------------------------|-----------------|---------------------------------------|--------------------|
| queries, keys, values    | Q, K, V         | ``query``, ``keys``, ``values``       | (B, T, d), (B, S, d), (B, S, Hv) |
| key size                 | d_k             | ``query.shape[-1]`` (per head: H / N) | int                |
| projections, all heads   | W^Q, W^K, W^V   | ``W_q``, ``W_k``, ``W_v`` (rows: heads side by side) | (H, H), (H, Hk), (H, Hv) |
| output projection        | W^O             | ``W_o``                               | (H, H)             |
| number of heads          | h               | ``num_heads`` (N in shapes)           | int                |

Weights are stored as nn.Linear stores them, (out, in): ``x @ W.T``, so that
``nn.MultiheadAttention``'s in_proj_weight is cat([W_q, W_k, W_v]) and its
out_proj.weight is W_o. Head i uses rows i·H/N ... (i+1)·H/N - 1 of W_q, W_k, W_v.

Masks follow the package: ``mask`` (B, S) bool, True on real tokens (the
opposite of nn.MultiheadAttention's key_padding_mask, True on padding).
``causal=True`` also hides the future: step t reads s ≤ t (top-left aligned,
as ``F.scaled_dot_product_attention(is_causal=True)``). A row with no allowed
position gives zero weights and a zero output, never NaN.

Extra shape letter: N, the number of heads.
"""
from __future__ import annotations

import math

import torch

from ._validate import check_float, check_mask, check_size, check_tensor
from .attention import masked_softmax


def allowed_positions(mask: torch.Tensor | None, B: int, T: int, S: int, causal: bool = False,
                      device=None) -> torch.Tensor | None:
    """The positions each query may read: mask (B, S) or None, causal -> (B, T, S) bool, or None for all."""
    check_mask(mask, B, S)
    if mask is None and not causal:
        return None
    allowed = torch.ones(B, T, S, dtype=torch.bool, device=device if mask is None else mask.device)  # (B, T, S)
    if mask is not None:
        allowed = allowed & mask.unsqueeze(1)  # (B, T, S): padding hidden from every step
    if causal:
        allowed = allowed & torch.ones(T, S, dtype=torch.bool, device=allowed.device).tril()  # s ≤ t
    return allowed


def scaled_dot_product_attention(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                                 mask: torch.Tensor | None = None, causal: bool = False, scale: float | None = None):
    """softmax(Q Kᵀ / √d) V (Vaswani et al. 2017, eq. 1), with a padding mask and an optional causal mask.

    query (B, T, d), keys (B, S, d), values (B, S, Hv), mask (B, S) bool or None
    -> output (B, T, Hv), weights (B, T, S). ``scale`` defaults to 1/√d;
    ``scale=1`` is Luong's dot attention. Equal to
    ``F.scaled_dot_product_attention(query, keys, values, attn_mask=mask[:, None, :])`` (or
    ``is_causal=True`` without a mask; with both, attn_mask=mask[:, None, :] & ones(T, S).tril()).
    """
    check_tensor("query", query, 3, "(B, T, d)")
    check_tensor("keys", keys, 3, "(B, S, d)")
    check_tensor("values", values, 3, "(B, S, Hv)")
    for name, x in (("query", query), ("keys", keys), ("values", values)):
        check_float(name, x)
    (B, T, d), S = query.shape, keys.shape[1]
    check_size("query and keys batch size B", keys.shape[0], B)
    check_size("values batch size B", values.shape[0], B)
    check_size("query size d vs keys", keys.shape[2], d)
    check_size("values source length S vs keys", values.shape[1], S)
    scale = 1 / math.sqrt(d) if scale is None else scale
    scores = torch.bmm(query, keys.transpose(1, 2)) * scale  # (B, T, S): Q Kᵀ / √d, eq. 1
    allowed = allowed_positions(mask, B, T, S, causal, query.device)  # (B, T, S) or None
    if allowed is None:
        weights = torch.softmax(scores, dim=-1)  # (B, T, S)
    else:  # one row per step, masked_softmax's empty-row rule
        weights = masked_softmax(scores.reshape(B * T, S), allowed.reshape(B * T, S)).view(B, T, S)  # (B, T, S)
    return torch.bmm(weights, values), weights  # (B, T, Hv), (B, T, S)


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, L, H) -> (B·N, L, H/N): head i of sentence b is row b·N + i (features i·H/N ... (i+1)·H/N - 1)."""
    B, L, H = x.shape
    return x.view(B, L, num_heads, H // num_heads).transpose(1, 2).reshape(B * num_heads, L, H // num_heads)  # (B·N, L, H/N)


def merge_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B·N, L, H/N) -> (B, L, H), the inverse of split_heads: Concat(head_1, ..., head_N)."""
    BN, L, Dh = x.shape
    return x.view(BN // num_heads, num_heads, L, Dh).transpose(1, 2).reshape(BN // num_heads, L, num_heads * Dh)  # (B, L, H)


def _linear(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None, name: str, legend: str) -> torch.Tensor:
    check_tensor(name, W, 2, legend)
    check_size(f"{name} {legend} second dimension vs its input", W.shape[1], x.shape[-1])
    if b is not None:
        check_tensor(f"bias of {name}", b, 1, f"({W.shape[0]},)")
        check_size(f"bias of {name} size", b.shape[0], W.shape[0])
    return torch.nn.functional.linear(x, W, b)  # x Wᵀ + b


def multi_head_attention(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                         W_q: torch.Tensor, W_k: torch.Tensor, W_v: torch.Tensor, W_o: torch.Tensor,
                         b_q: torch.Tensor | None = None, b_k: torch.Tensor | None = None,
                         b_v: torch.Tensor | None = None, b_o: torch.Tensor | None = None,
                         num_heads: int = 1, mask: torch.Tensor | None = None, causal: bool = False,
                         average_weights: bool = True):
    """Multi-head attention (Vaswani et al. 2017, section 3.2.2), equal to ``nn.MultiheadAttention``.

    query (B, T, H), keys (B, S, Hk), values (B, S, Hv); W_q (H, H), W_k (H, Hk),
    W_v (H, Hv), W_o (H, H) and biases (H,) or None; mask (B, S) bool, True on
    real tokens, or None -> output (B, T, H), weights (B, T, S) averaged over the
    heads (``average_weights=True``, nn.MultiheadAttention's default) or
    (B, N, T, S), one map per head. H must be divisible by N = ``num_heads``.

    Copied into ``nn.MultiheadAttention(H, N, batch_first=True)``:
    in_proj_weight = cat([W_q, W_k, W_v]), in_proj_bias = cat([b_q, b_k, b_v]),
    out_proj = (W_o, b_o), key_padding_mask = ~mask (with kdim/vdim:
    q_proj_weight, k_proj_weight, v_proj_weight).
    """
    check_tensor("query", query, 3, "(B, T, H)")
    check_tensor("keys", keys, 3, "(B, S, Hk)")
    check_tensor("values", values, 3, "(B, S, Hv)")
    H = query.shape[2]
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1 or H % num_heads:
        raise ValueError(f"num_heads must be a positive int dividing the model size H={H}, got {num_heads!r}")
    check_size("keys and values source length S", values.shape[1], keys.shape[1])
    check_size("keys batch size B vs query", keys.shape[0], query.shape[0])
    check_size("values batch size B vs query", values.shape[0], query.shape[0])
    B, T, S, N = query.shape[0], query.shape[1], keys.shape[1], num_heads
    q = _linear(query, W_q, b_q, "W_q", "(H, H)")  # (B, T, H): Q W^Q, all heads side by side
    k = _linear(keys, W_k, b_k, "W_k", "(H, Hk)")  # (B, S, H): K W^K
    v = _linear(values, W_v, b_v, "W_v", "(H, Hv)")  # (B, S, H): V W^V
    check_size("W_q (H, H) first dimension", q.shape[2], H)
    check_size("W_k (H, Hk) first dimension", k.shape[2], H)
    check_size("W_v (H, Hv) first dimension", v.shape[2], H)
    check_mask(mask, B, S)
    heads_mask = None if mask is None else mask.repeat_interleave(N, dim=0)  # (B·N, S): row b·N + i
    out, weights = scaled_dot_product_attention(split_heads(q, N), split_heads(k, N), split_heads(v, N),
                                                heads_mask, causal)  # (B·N, T, H/N), (B·N, T, S): eq. 1 per head
    output = _linear(merge_heads(out, N), W_o, b_o, "W_o", "(H, H)")  # (B, T, H): Concat(heads) W^O
    check_size("W_o (H, H) first dimension", output.shape[2], H)
    weights = weights.view(B, N, T, S)  # (B, N, T, S)
    return output, (weights.mean(dim=1) if average_weights else weights)  # (B, T, S) or (B, N, T, S)


def dot_product_variance(d: int, samples: int = 20000, scaled: bool = False,
                         generator: torch.Generator | None = None) -> float:
    """Sample variance of q·k (or q·k/√d) for q, k with independent N(0, 1) entries: the √d argument.

    q·k = Σ_i q_i k_i is a sum of d independent terms of mean 0 and variance 1,
    so Var(q·k) = d (Vaswani et al. 2017, footnote 4): the scores spread with d,
    the softmax saturates and its gradient vanishes. Var(q·k / √d) = 1.
    d, samples ints; ``generator`` for reproducible draws -> the variance, a float.
    """
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be a positive int (the key size), got {d!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ValueError(f"samples must be an int >= 2, got {samples!r}")
    q = torch.randn(samples, d, generator=generator, dtype=torch.float64)  # (n, d)
    k = torch.randn(samples, d, generator=generator, dtype=torch.float64)  # (n, d)
    dots = (q * k).sum(dim=-1)  # (n,): q·k
    if scaled:
        dots = dots / math.sqrt(d)
    return float(dots.var())
