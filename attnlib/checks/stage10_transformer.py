"""Stage 10 exercises: from Luong's dot score to the Transformer's attention (Vaswani et al. 2017, 3.2).

    scaled_dot_product_attention(query (B, T, d), keys (B, S, d), values (B, S, Hv), mask (B, S))
        -> output (B, T, Hv), weights (B, T, S)                          softmax(Q Kᵀ / √d) V, eq. 1
    multi_head_attention(query (B, T, H), keys (B, S, Hk), values (B, S, Hv), W_q (H, H), W_k (H, Hk),
                         W_v (H, Hv), W_o (H, H), b_q, b_k, b_v, b_o (H,), num_heads, mask (B, S))
        -> output (B, T, H), weights (B, T, S) averaged over the heads   section 3.2.2

The mask is attnlib's: True on real tokens. The references are attnlib.transformer's, which equal
F.scaled_dot_product_attention(attn_mask=mask[:, None, :]) and nn.MultiheadAttention(key_padding_mask=~mask)
(tests/test_transformer.py). The mistakes are the classic ones: no 1/√d, 1/d for 1/√d, the model size H for
the head size H/N, heads split along the wrong axis or merged in the wrong order, the mask after the softmax,
the mask read with nn.MultiheadAttention's convention (True = ignore).
"""
from __future__ import annotations

import math

import torch

from .. import transformer
from ..attention import masked_softmax
from .core import Exercise, Mistake, register
from .stage5_luong_dot import random_mask


def scaled_dot_product_attention(query, keys, values, mask):
    """Reference: softmax(Q Kᵀ / √d) V over the real positions (mask True); rows with none give zeros."""
    return transformer.scaled_dot_product_attention(query, keys, values, mask)  # (B, T, Hv), (B, T, S)


def multi_head_attention(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
    """Reference: Concat(head_1, ..., head_N) W^O + b_o, head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)."""
    return transformer.multi_head_attention(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o,
                                            num_heads=num_heads, mask=mask)  # (B, T, H), (B, T, S)


# ---------------------------------------------------------------- wrong variants, one switch each

def _attend(query, keys, values, mask, scale="sqrt", mask_mode="before"):
    """softmax(Q Kᵀ · scale) V with one mistake switched on: query (B, T, d) ... -> (B, T, Hv), (B, T, S)."""
    d = query.shape[-1]
    factor = {"sqrt": 1 / math.sqrt(d), "none": 1.0, "d": 1 / d}[scale] if isinstance(scale, str) else scale
    scores = torch.bmm(query, keys.transpose(1, 2)) * factor  # (B, T, S)
    if mask_mode == "after":  # softmax over everything, then padding zeroed: the real weights sum to < 1
        weights = torch.softmax(scores, dim=-1) * mask[:, None, :]  # (B, T, S)
    else:
        use = ~mask if mask_mode == "inverted" else mask  # (B, S)
        weights = masked_softmax(scores, use)  # (B, T, S): -inf where use is False, before the softmax
    return torch.bmm(weights, values), weights  # (B, T, Hv), (B, T, S)


def _wrong_sdpa(**switch):
    def wrong(query, keys, values, mask):
        return _attend(query, keys, values, mask, **switch)
    return wrong


def _split(x, N, how):
    """(B, L, H) -> (B·N, L, H/N) the right way, or as a mistake: 'reshape' (no transpose), 'strided'."""
    B, L, H = x.shape
    if how == "reshape":  # the flat memory cut into N pieces: a head mixes positions and features
        return x.reshape(B * N, L, H // N)
    if how == "strided":  # head i takes features i, i + N, i + 2N, ...: (B, L, H/N, N), the wrong axis split
        return x.view(B, L, H // N, N).permute(0, 3, 1, 2).reshape(B * N, L, H // N)
    return transformer.split_heads(x, N)  # (B·N, L, H/N)


def _merge(x, N, how):
    """(B·N, L, H/N) -> (B, L, H) the right way, or as a mistake: 'reshape' (no transpose back), 'strided'."""
    BN, L, Dh = x.shape
    if how == "reshape":  # (B, N, L, H/N) read as (B, L, H): rows of different positions glued together
        return x.reshape(BN // N, L, N * Dh)
    if how == "strided":  # head-minor: feature j·N + i of the result is feature j of head i
        return x.view(BN // N, N, L, Dh).permute(0, 2, 3, 1).reshape(BN // N, L, N * Dh)
    return transformer.merge_heads(x, N)  # (B, L, H)


def _wrong_mha(split="right", merge="right", scale="sqrt", mask_mode="before", out_proj=True, average=True):
    def wrong(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
        N = num_heads
        B, T, H = query.shape
        S = keys.shape[1]
        q = query @ W_q.T + b_q  # (B, T, H)
        k = keys @ W_k.T + b_k  # (B, S, H)
        v = values @ W_v.T + b_v  # (B, S, H)
        factor = {"sqrt": 1 / math.sqrt(H // N), "none": 1.0, "d": N / H, "model": 1 / math.sqrt(H)}[scale]
        out, w = _attend(_split(q, N, split), _split(k, N, split), _split(v, N, split),
                         mask.repeat_interleave(N, dim=0), scale=factor, mask_mode=mask_mode)  # (B·N, T, H/N), (B·N, T, S)
        merged = _merge(out, N, merge)  # (B, T, H)
        output = merged @ W_o.T + b_o if out_proj else merged  # (B, T, H)
        w = w.view(B, N, T, S)  # (B, N, T, S)
        return output, (w.mean(dim=1) if average else w)
    return wrong


# ---------------------------------------------------------------- scaled_dot_product_attention

def _sdpa_inputs(g, B=3, T=4, S=6, d=8, Hv=5):
    return {"query": torch.randn(B, T, d, generator=g), "keys": torch.randn(B, S, d, generator=g),
            "values": torch.randn(B, S, Hv, generator=g), "mask": random_mask(g, B, S)}


def _sdpa_edges(g):
    all_masked = _sdpa_inputs(g)
    all_masked["mask"][1] = False
    return [
        ("a row with no real source token (all masked): weights and output 0, not NaN", all_masked),
        ("large keys d = 64: without 1/√d the softmax is nearly one-hot", _sdpa_inputs(g, d=64)),
        ("self-attention shapes: T = S, values as wide as the keys", _sdpa_inputs(g, B=2, T=5, S=5, d=4, Hv=4)),
        ("one source position (S = 1), batch of one", _sdpa_inputs(g, B=1, T=3, S=1)),
        ("one query (T = 1)", _sdpa_inputs(g, T=1)),
    ]


_NO_SCALE = ("the scores are not divided by √d: these are Luong's dot weights. The Transformer computes "
             "softmax(Q Kᵀ / √d) V with d = query.shape[-1] (Vaswani et al. 2017, eq. 1).")
_BY_D = ("you divided the scores by d, not by √d. Var(q·k) = d for unit-variance q and k, so the standard deviation "
         "is √d; dividing by d shrinks the scores toward 0 and the weights toward uniform.")
_AFTER = ("the mask is applied after the softmax: padding took its share of the probability before it was zeroed, "
          "so the real weights sum to less than 1. Set padded scores to -inf BEFORE the softmax (masked_softmax).")
_INVERTED = ("the mask is read inverted: attention goes to the padding only. attnlib's mask (and "
             "F.scaled_dot_product_attention's boolean attn_mask) are True where a position takes part; only "
             "nn.MultiheadAttention's key_padding_mask is True on padding. Use mask, not ~mask.")

register(Exercise(
    "scaled_dot_product_attention", 10, scaled_dot_product_attention, _sdpa_inputs, _sdpa_edges,
    mistakes=(
        Mistake(_NO_SCALE, _wrong_sdpa(scale="none"), kind="no-scaling"),
        Mistake(_BY_D, _wrong_sdpa(scale="d"), kind="scaled-by-d"),
        Mistake(_AFTER, _wrong_sdpa(mask_mode="after"), kind="mask-after-softmax"),
        Mistake(_INVERTED, _wrong_sdpa(mask_mode="inverted"), kind="mask-inverted"),
        Mistake("the weights multiply the keys: the output is Σ_s a(s) v_s, the weighted sum of the VALUES "
                "(in Luong's attention keys and values were the same tensor, here they are not).",
                lambda query, keys, values, mask: (lambda w: (torch.bmm(w, keys), w))(
                    scaled_dot_product_attention(query, keys, values, mask)[1]), kind="keys-as-values"),
    ),
    describe="query (B, T, d), keys (B, S, d), values (B, S, Hv), mask (B, S) -> output (B, T, Hv), weights (B, T, S)",
    forbidden=("scaled_dot_product_attention",),
))


# ---------------------------------------------------------------- multi_head_attention

def _mha_inputs(g, B=3, T=4, S=5, H=12, N=3, Hk=None, Hv=None):
    Hk, Hv = Hk or H, Hv or H

    def w(rows, cols):  # nn.Linear-like scale: unit-variance projections
        return torch.randn(rows, cols, generator=g) / math.sqrt(cols)
    return {"query": torch.randn(B, T, H, generator=g), "keys": torch.randn(B, S, Hk, generator=g),
            "values": torch.randn(B, S, Hv, generator=g), "W_q": w(H, H), "W_k": w(H, Hk), "W_v": w(H, Hv),
            "W_o": w(H, H), "b_q": 0.5 * torch.randn(H, generator=g), "b_k": 0.5 * torch.randn(H, generator=g),
            "b_v": 0.5 * torch.randn(H, generator=g), "b_o": 0.5 * torch.randn(H, generator=g), "num_heads": N,
            "mask": random_mask(g, B, S)}


def _mha_edges(g):
    all_masked = _mha_inputs(g)
    all_masked["mask"][2] = False
    self_attention = _mha_inputs(g, T=5, S=5)
    self_attention["keys"] = self_attention["values"] = self_attention["query"]
    return [
        ("self-attention: query = keys = values (B, S, H)", self_attention),
        ("keys and values with their own sizes (Hk = 7, Hv = 10)", _mha_inputs(g, Hk=7, Hv=10)),
        ("one head (N = 1): single-head attention with projections", _mha_inputs(g, N=1)),
        ("H = 16, N = 4 heads of size 4", _mha_inputs(g, H=16, N=4)),
        ("a sentence with no real token: its weights 0, its output b_o (not NaN)", all_masked),
        ("batch of one, one query", _mha_inputs(g, B=1, T=1)),
    ]


_SPLIT = ("the heads are split along the wrong axis. Head i is features i·H/N ... (i+1)·H/N - 1 of EVERY position: "
          "x.view(B, L, N, H/N).transpose(1, 2) gives (B, N, L, H/N); a plain reshape to (B·N, L, H/N) cuts the "
          "sequence instead, and (B, L, H/N, N) takes every N-th feature.")
_MERGE = ("the heads are merged in the wrong order. Concat(head_1, ..., head_N) puts head i at features "
          "i·H/N ... (i+1)·H/N - 1 of each position: transpose (B, N, T, H/N) back to (B, T, N, H/N) before the "
          "reshape to (B, T, H); a plain reshape glues rows of different positions, (B, T, H/N, N) interleaves heads.")

register(Exercise(
    "multi_head_attention", 10, multi_head_attention, _mha_inputs, _mha_edges,
    mistakes=(
        Mistake("the head scores are not divided by √(H/N): each head is softmax(q_i k_iᵀ / √d_k) with d_k = H/N, "
                "the size of one head (Vaswani et al. 2017, eq. 1).", _wrong_mha(scale="none"), kind="no-scaling"),
        Mistake("you divided each head's scores by d_k = H/N, not by √d_k: the standard deviation of q·k is √d_k.",
                _wrong_mha(scale="d"), kind="scaled-by-d"),
        Mistake("you divided by √H, the model size: each head is an attention of size d_k = H/N, so divide by "
                "√(H/N) (nn.MultiheadAttention does, and so does the paper, section 3.2.2).",
                _wrong_mha(scale="model"), kind="scaled-by-sqrt-H"),
        Mistake(_SPLIT + " (Yours: a plain reshape, and the merge undoes it.)",
                _wrong_mha(split="reshape", merge="reshape"), kind="heads-split-wrong-axis"),
        Mistake(_SPLIT + " (Yours: a plain reshape; your merge is right.)", _wrong_mha(split="reshape"),
                kind="heads-split-wrong-axis"),
        Mistake(_SPLIT + " (Yours: every N-th feature, and the merge undoes it.)",
                _wrong_mha(split="strided", merge="strided"), kind="heads-split-wrong-axis"),
        Mistake(_SPLIT + " (Yours: every N-th feature; your merge is right.)", _wrong_mha(split="strided"),
                kind="heads-split-wrong-axis"),
        Mistake(_MERGE + " (Yours: a plain reshape without the transpose.)", _wrong_mha(merge="reshape"),
                kind="heads-merged-wrong-order"),
        Mistake(_MERGE + " (Yours: heads interleaved feature by feature.)", _wrong_mha(merge="strided"),
                kind="heads-merged-wrong-order"),
        Mistake(_AFTER, _wrong_mha(mask_mode="after"), kind="mask-after-softmax"),
        Mistake(_INVERTED.replace("Use mask, not ~mask.", "Copied into nn.MultiheadAttention it is key_padding_mask=~mask; "
                                  "in your function use mask as given."), _wrong_mha(mask_mode="inverted"),
                kind="mask-inverted"),
        Mistake("the output projection is missing: MultiHead(Q, K, V) = Concat(head_1, ..., head_N) W^O + b_o.",
                _wrong_mha(out_proj=False), kind="no-output-projection"),
        Mistake("return the weights averaged over the heads, (B, T, S), as nn.MultiheadAttention does by default "
                "(average_attn_weights=True): weights.mean over the head axis.", _wrong_mha(average=False),
                kind="weights-per-head"),
    ),
    describe="query (B, T, H), keys (B, S, Hk), values (B, S, Hv), W_q (H, H), W_k (H, Hk), W_v (H, Hv), W_o (H, H), "
             "b_q (H), b_k (H), b_v (H), b_o (H), num_heads, mask (B, S) -> output (B, T, H), weights (B, T, S)",
    forbidden=("multi_head_attention_forward", "MultiheadAttention"),
))
