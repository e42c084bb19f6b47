"""Mistakes nobody registered are still named: the check's diagnosis by properties (attnlib/checks/diagnose.py).

Each entry of CATALOG is a wrong answer written as a learner would write it (the
cases the issue lists first), the kind of mistake the check must name, and words
its hint must contain. None of them is a registered Mistake's exact output, so
each one is named by a property (a dropped axis, a transpose, weights summing
over the wrong axis, padding that leaks, an exception at a given line...). A
hint that names another mistake fails its test.
"""
from __future__ import annotations

import contextlib
import functools
import io
import math

import pytest
import torch
import torch.nn.functional as F

from attnlib.attention import masked_softmax
from attnlib.checks import REGISTRY, check, graded, results
from attnlib.checks.stage5_luong_dot import luong_dot_attention as _ref_dot
from attnlib.checks.stage7_bahdanau import bahdanau_attention as _ref_bahdanau
from attnlib.checks.stage10_transformer import scaled_dot_product_attention as _ref_sdpa


# ---------------------------------------------------------------- stage 1

def loss_classes_last(logits, targets, pad_id):
    return F.cross_entropy(logits, targets, ignore_index=pad_id)        # classes must be on axis 1


def loss_targets_ignored(logits, targets, pad_id):
    return -torch.log_softmax(logits, -1)[..., 0].mean()


# ---------------------------------------------------------------- stage 2

def dot_squeezed(query, keys):
    return torch.bmm(query, keys.transpose(1, 2)).squeeze()          # (B, T, S) -> (B,) when T == S == 1


def dot_squeeze_t(query, keys):
    return torch.bmm(query, keys.transpose(1, 2)).squeeze(1)         # drops T when T == 1


def dot_keys_first(query, keys):
    return torch.einsum("bsh,bth->bst", keys, query)                 # (B, S, T)


def dot_negated(query, keys):
    return -(query @ keys.transpose(1, 2))


def dot_mean(query, keys):
    return (query[:, :, None, :] * keys[:, None, :, :]).mean(-1)     # a mean over H, not a sum


def dot_matmul_no_transpose(query, keys):
    return query @ keys                                              # (B, T, H) @ (B, S, H): inner sizes differ


def dot_t_first(query, keys):
    return torch.einsum("bth,bsh->tbs", query, keys)                # (T, B, S)


def general_w_ignored(query, keys, W):
    return query @ keys.transpose(1, 2) * 1.0 + 0 * W.sum()


def general_w_on_query(query, keys, W):
    return (query @ W.T) @ keys.transpose(1, 2)                      # W (Hq, Hk) used as if (Hk, Hq)


def additive_no_broadcast(query, keys, W_q, W_k, v):
    return torch.tanh(query @ W_q.T + keys @ W_k.T) @ v               # (B, T, A) + (B, S, A)


def additive_extra_tanh(query, keys, W_q, W_k, v):
    return torch.tanh(torch.tanh((query @ W_q.T)[:, :, None] + (keys @ W_k.T)[:, None]) @ v)


def additive_no_tanh_sum(query, keys, W_q, W_k, v):
    return ((query @ W_q.T)[:, :, None, :] + (keys @ W_k.T)[:, None, :, :]) @ v * 1.0


def additive_tanh_outside(query, keys, W_q, W_k, v):
    return torch.tanh(((query @ W_q.T)[:, :, None, :] + (keys @ W_k.T)[:, None, :, :]) @ v)


def additive_keys_first(query, keys, W_q, W_k, v):
    return torch.tanh((keys @ W_k.T)[:, :, None, :] + (query @ W_q.T)[:, None, :, :]) @ v   # (B, S, T)


# ---------------------------------------------------------------- stage 3

def stable_softmax_wrong_axis(scores):
    shifted = scores - scores.max(dim=0, keepdim=True).values
    e = shifted.exp()
    return e / e.sum(dim=0, keepdim=True)


def stable_softmax_torch(scores):
    return torch.softmax(scores, dim=-1)


def stable_softmax_method(scores):
    return scores.softmax(-1)


def stable_softmax_unnormalised_half(scores):
    e = (scores - scores.max(dim=-1, keepdim=True).values).exp()
    return e / (2 * e.sum(dim=-1, keepdim=True))


def masked_softmax_no_t_axis(scores, mask):
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1).nan_to_num(0.0)


def masked_softmax_big_negative_then_zero(scores, mask):
    w = torch.softmax(scores.masked_fill(~mask[:, None, :], -1e4), dim=-1)
    return w * 1.0


def masked_softmax_fill_minus_one(scores, mask):
    return torch.softmax(scores.masked_fill(~mask[:, None, :], -1.0), dim=-1)


def masked_softmax_uses_attnlib(scores, mask):
    from attnlib.attention import masked_softmax
    return masked_softmax(scores, mask)


def masked_softmax_over_b(scores, mask):
    w = torch.softmax(scores.masked_fill(~mask[:, None, :], float("-inf")), dim=0)
    return w.nan_to_num(0.0)


def stable_softmax_global_sum(scores):
    e = (scores - scores.max(dim=-1, keepdim=True).values).exp()
    return e / e.sum()                                                # the sum of the whole tensor


def stable_softmax_dim2(scores):
    e = (scores - scores.max(dim=2, keepdim=True).values).exp()     # assumes (B, T, S)
    return e / e.sum(dim=2, keepdim=True)


def masked_softmax_one_minus_mask(scores, mask):
    return torch.softmax(scores.masked_fill(1 - mask[:, None, :], float("-inf")), -1).nan_to_num(0.0)


def masked_softmax_no_max(scores, mask):
    e = scores.exp() * mask[:, None, :]
    return e / e.sum(-1, keepdim=True)


# ---------------------------------------------------------------- stage 4

def context_b_h_t(weights, values):
    return torch.bmm(values.transpose(1, 2), weights.transpose(1, 2))     # (B, H, T)


def context_sum_over_h(weights, values):
    return torch.bmm(weights, values).sum(-1, keepdim=True).expand(-1, -1, values.shape[-1]) * 1.0


def context_values_ignored(weights, values):
    return weights.sum(-1, keepdim=True).expand(-1, -1, values.shape[-1]) * 0 + weights[..., :1]


def context_t_squeezed(weights, values):
    return torch.bmm(weights, values).squeeze(1)


def context_weights_as_values(weights, values):
    return torch.einsum("bts,bsh->bth", weights, values) * 3.0


def last_state_lengths(outputs, lengths):
    B = outputs.shape[0]
    return outputs[torch.arange(B), lengths]                               # one past the last real position


def last_state_loop(outputs, lengths):
    return torch.stack([outputs[b, lengths[b]] for b in range(outputs.shape[0])])


def last_state_keepdim(outputs, lengths):
    return outputs[torch.arange(outputs.shape[0]), lengths - 1][:, None]   # (B, 1, H)


def last_state_transposed(outputs, lengths):
    return outputs.transpose(1, 2)[torch.arange(outputs.shape[0]), :, lengths - 1] * -1.0


def last_state_dim_range(outputs, lengths):
    return outputs.gather(3, lengths)


def last_state_float_index(outputs, lengths):
    return outputs[torch.arange(outputs.shape[0]), (lengths - 1).float()]


# ---------------------------------------------------------------- stage 5

def luong_dot_decoder_states(query, keys, mask):
    scores = query @ keys.transpose(1, 2)
    weights = torch.softmax(scores.masked_fill(~mask[:, None, :], float("-inf")), -1).nan_to_num(0.0)
    return weights @ query, weights                                       # weights the decoder states


def luong_dot_zero_fill(query, keys, mask):
    scores = (query @ keys.transpose(1, 2)).masked_fill(~mask[:, None, :], 0.0) + 0.0
    weights = scores.softmax(-1)
    return torch.einsum("bts,bsh->bth", weights, keys), weights


def luong_dot_mask_broadcast(query, keys, mask):
    scores = torch.bmm(query, keys.transpose(1, 2))
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return torch.bmm(weights, keys), weights


def luong_dot_wrong_axis(query, keys, mask):
    scores = torch.bmm(query, keys.transpose(1, 2)).masked_fill(~mask[:, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=0).nan_to_num(0.0)
    return torch.bmm(weights, keys), weights


def luong_dot_context_transposed(query, keys, mask):
    w = torch.softmax((query @ keys.transpose(1, 2)).masked_fill(~mask[:, None, :], float("-inf")), -1).nan_to_num(0.0)
    return keys.transpose(1, 2) @ w.transpose(1, 2), w                    # (B, H, T)


def luong_dot_weights_ignore_keys(query, keys, mask):
    w = torch.softmax((query @ query.transpose(1, 2)).masked_fill(~mask[:, None, :], float("-inf"))[..., :keys.shape[1]]
                      if query.shape[1] >= keys.shape[1] else torch.zeros(keys.shape[0], query.shape[1], keys.shape[1]), -1)
    return torch.bmm(w.nan_to_num(0.0), keys), w.nan_to_num(0.0)


def hidden_no_tanh(context, h, W_c):
    return torch.einsum("bti,hi->bth", torch.cat([context, h], -1), W_c)


def hidden_sigmoid(context, h, W_c):
    return torch.sigmoid(torch.cat([context, h], -1) @ W_c.T)


def hidden_transposed(context, h, W_c):
    return torch.tanh(torch.cat([context, h], -1) @ W_c.T).transpose(0, 1) * 1.0


def hidden_wrong_cat(context, h, W_c):
    return torch.tanh(torch.cat([context, h], dim=1) @ W_c.T)


def hidden_no_context(context, h, W_c):
    return torch.tanh(torch.cat([torch.zeros_like(context), h], -1) @ W_c.T)


def hidden_negated(context, h, W_c):
    return -torch.tanh(torch.cat([context, h], -1) @ W_c.T)


# ---------------------------------------------------------------- stage 6

def general_attention_no_t(query, keys, mask, W_a):
    scores = query @ (keys @ W_a.T).transpose(1, 2)
    weights = torch.softmax(scores.masked_fill(~mask[:, None, :], float("-inf")), -1).nan_to_num(0.0)
    return (weights @ keys).squeeze(1), weights


def general_attention_mask_broadcast(query, keys, mask, W_a):
    scores = query @ (keys @ W_a.T).transpose(1, 2)
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)
    return weights @ keys, weights


def general_attention_wrong_axis(query, keys, mask, W_a):
    scores = (query @ (keys @ W_a.T).transpose(1, 2)).masked_fill(~mask[:, None, :], float("-inf"))
    weights = torch.softmax(scores.transpose(1, 2), -1).transpose(1, 2).nan_to_num(0.0) * mask[:, None, :]
    return weights @ keys, weights


def general_attention_w_on_query(query, keys, mask, W_a):
    scores = (query @ W_a) @ keys.transpose(1, 2) * 0.5
    weights = torch.softmax(scores.masked_fill(~mask[:, None, :], float("-inf")), -1).nan_to_num(0.0)
    return weights @ keys, weights


def general_attention_zero_fill(query, keys, mask, W_a):
    scores = (query @ (keys @ W_a.T).transpose(1, 2)) * mask[:, None, :]
    weights = torch.softmax(scores, -1)
    return weights @ keys, weights


def output_softmax_no_log(h, keys, mask, W_a, W_c, W_s, b_s):
    c = torch.softmax((h @ (keys @ W_a.T).transpose(1, 2)).masked_fill(~mask[:, None, :], float("-inf")), -1).nan_to_num(0) @ keys
    return torch.softmax(torch.tanh(torch.cat([c, h], -1) @ W_c.T) @ W_s.T + b_s, -1) * 1.0 + 0.0


def output_transposed(h, keys, mask, W_a, W_c, W_s, b_s):
    c = torch.softmax((h @ (keys @ W_a.T).transpose(1, 2)).masked_fill(~mask[:, None, :], float("-inf")), -1).nan_to_num(0) @ keys
    return torch.log_softmax(torch.tanh(torch.cat([c, h], -1) @ W_c.T) @ W_s.T + b_s, -1).transpose(1, 2)


def output_ws_not_transposed(h, keys, mask, W_a, W_c, W_s, b_s):
    c = torch.softmax((h @ (keys @ W_a.T).transpose(1, 2)).masked_fill(~mask[:, None, :], float("-inf")), -1).nan_to_num(0) @ keys
    return torch.log_softmax(torch.tanh(torch.cat([c, h], -1) @ W_c.T) @ W_s + b_s, -1)


def output_mask_leaks(h, keys, mask, W_a, W_c, W_s, b_s):
    c = torch.softmax(h @ (keys @ W_a.T).transpose(1, 2) - 0.0, -1) @ keys
    return torch.log_softmax(torch.tanh(torch.cat([c, h], -1) @ W_c.T) @ W_s.T + b_s, -1) + 0.0


def output_calls_broken_first(h, keys, mask, W_a, W_c, W_s, b_s):
    context, _ = luong_general_attention(h, keys, mask, W_a)   # the learner's (broken) first exercise  # noqa: F821
    h_tilde = torch.tanh(torch.cat([context, h], dim=-1) @ W_c.T)
    return torch.log_softmax(h_tilde @ W_s.T + b_s, dim=-1)


def output_keepdim(h, keys, mask, W_a, W_c, W_s, b_s):
    c = torch.softmax((h @ (keys @ W_a.T).transpose(1, 2)).masked_fill(~mask[:, None, :], float("-inf")), -1).nan_to_num(0) @ keys
    return torch.log_softmax(torch.tanh(torch.cat([c, h], -1) @ W_c.T) @ W_s.T + b_s, -1)[:, :, None]


# ---------------------------------------------------------------- stage 7

def bahdanau_u_h(s_prev, keys, mask, W_q, W_k, v_a):
    projected = keys @ W_k.T                                                 # (B, S, A)
    scores = torch.tanh((s_prev @ W_q.T)[:, None] + projected) @ v_a
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1).nan_to_num(0.0)
    return torch.einsum("bs,bsa->ba", weights, projected), weights           # weights W_k h_j


def bahdanau_no_mask_dim(s_prev, keys, mask, W_q, W_k, v_a):
    scores = (torch.tanh((s_prev @ W_q.T)[:, None] + keys @ W_k.T) @ v_a)[:, None]     # (B, 1, S)
    weights = torch.softmax(scores.masked_fill(~mask[:, None], float("-inf")), -1).nan_to_num(0.0)
    return (weights @ keys), weights                                         # (B, 1, Hk), (B, 1, S)


def bahdanau_scores_as_weights(s_prev, keys, mask, W_q, W_k, v_a):
    scores = torch.tanh((s_prev @ W_q.T)[:, None] + keys @ W_k.T) @ v_a
    weights = torch.sigmoid(scores) * mask
    return torch.einsum("bs,bsh->bh", weights, keys), weights


def bahdanau_zero_fill(s_prev, keys, mask, W_q, W_k, v_a):
    scores = (torch.tanh((s_prev @ W_q.T)[:, None] + keys @ W_k.T) @ v_a) * mask
    weights = scores.softmax(-1)
    return torch.einsum("bs,bsh->bh", weights, keys), weights


def bahdanau_ignores_s(s_prev, keys, mask, W_q, W_k, v_a):
    scores = torch.tanh(keys @ W_k.T) @ v_a
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1).nan_to_num(0.0)
    return torch.einsum("bs,bsh->bh", weights, keys), weights


def bahdanau_matmul_error(s_prev, keys, mask, W_q, W_k, v_a):
    scores = torch.tanh((s_prev @ W_q)[:, None] + keys @ W_k.T) @ v_a        # W_q (A, Hq) without .T
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1).nan_to_num(0.0)
    return torch.einsum("bs,bsh->bh", weights, keys), weights


def step_new_state(y_emb, s_prev, keys, mask, W_q, W_k, v_a, W_in, W_rec, b):
    c_old, _ = _ref_bahdanau(s_prev, keys, mask, W_q, W_k, v_a)
    s = torch.tanh(torch.cat([y_emb, c_old], -1) @ W_in.T + s_prev @ W_rec.T + b)
    context, weights = _ref_bahdanau(s, keys, mask, W_q, W_k, v_a)           # attends with s_i
    return s, context, weights


def step_context_first(y_emb, s_prev, keys, mask, W_q, W_k, v_a, W_in, W_rec, b):
    context, weights = _ref_bahdanau(s_prev, keys, mask, W_q, W_k, v_a)
    s = torch.tanh(torch.cat([context, y_emb], -1) @ W_in.T + s_prev @ W_rec.T + b)
    return s, context, weights


def step_outputs_swapped(y_emb, s_prev, keys, mask, W_q, W_k, v_a, W_in, W_rec, b):
    context, weights = _ref_bahdanau(s_prev, keys, mask, W_q, W_k, v_a)
    s = torch.tanh(torch.cat([y_emb, context], -1) @ W_in.T + s_prev @ W_rec.T + b)
    return context, s, weights


def step_no_recurrence(y_emb, s_prev, keys, mask, W_q, W_k, v_a, W_in, W_rec, b):
    context, weights = _ref_bahdanau(s_prev, keys, mask, W_q, W_k, v_a)
    s = torch.tanh(torch.cat([y_emb, context], -1) @ W_in.T + b)
    return s, context, weights


def step_no_bias_tanh(y_emb, s_prev, keys, mask, W_q, W_k, v_a, W_in, W_rec, b):
    context, weights = _ref_bahdanau(s_prev, keys, mask, W_q, W_k, v_a)
    s = torch.cat([y_emb, context], -1) @ W_in.T + s_prev @ W_rec.T + b
    return s * 1.0, context, weights


def step_cat_wrong_dim(y_emb, s_prev, keys, mask, W_q, W_k, v_a, W_in, W_rec, b):
    context, weights = _ref_bahdanau(s_prev, keys, mask, W_q, W_k, v_a)
    s = torch.tanh(torch.cat([y_emb, context], 0) @ W_in.T + s_prev @ W_rec.T + b)
    return s, context, weights


# ---------------------------------------------------------------- stage 8

def accuracy_shifted(correct, lengths, edges):
    out = torch.full((edges.numel() - 1,), math.nan)
    for k in range(edges.numel() - 1):
        inside = (lengths >= edges[k - 1]) & (lengths < edges[k]) if k > 0 else torch.zeros_like(correct)
        if bool(inside.any()):
            out[k] = correct[inside].float().mean()
    return out


def accuracy_shifted_up(correct, lengths, edges):
    K = edges.numel() - 1
    out = torch.full((K,), math.nan)
    for k in range(K - 1):
        inside = (lengths >= edges[k + 1]) & (lengths < edges[k + 2])
        if bool(inside.any()):
            out[k] = correct[inside].float().mean()
    return out


def accuracy_percent(correct, lengths, edges):
    out = torch.full((edges.numel() - 1,), math.nan)
    for k in range(edges.numel() - 1):
        inside = (lengths >= edges[k]) & (lengths < edges[k + 1])
        if bool(inside.any()):
            out[k] = 100 * correct[inside].float().mean()
    return out


def accuracy_keepdim(correct, lengths, edges):
    inside = (lengths[None] >= edges[:-1, None]) & (lengths[None] < edges[1:, None])   # (K, N)
    return ((inside & correct[None]).sum(1, keepdim=True) / inside.sum(1, keepdim=True)).float()


def accuracy_float_correct(correct, lengths, edges):
    out = torch.full((edges.numel() - 1,), math.nan)
    for k in range(edges.numel() - 1):
        inside = (lengths >= edges[k]) & (lengths < edges[k + 1])
        if bool(inside.any()):
            out[k] = correct[inside].mean()                                 # mean of a bool tensor raises
    return out


def entropy_plain(weights, mask):
    return -(weights * weights.log() * mask[:, None, :]).sum(-1)            # 0 · log 0 = NaN


def entropy_plain_no_mask(weights, mask):
    return -(weights * torch.log(weights)).sum(dim=-1) + 0.0


def entropy_log10(weights, mask):
    w = weights * mask[:, None, :]
    return -torch.special.xlogy(w, w).sum(-1) / math.log(10)


def entropy_mask_no_t(weights, mask):
    w = weights * mask
    return -torch.special.xlogy(w, w).sum(-1)


def entropy_keepdim(weights, mask):
    w = weights * mask[:, None, :]
    return -torch.special.xlogy(w, w).sum(-1, keepdim=True)


def entropy_transposed(weights, mask):
    w = weights * mask[:, None, :]
    return -torch.special.xlogy(w, w).sum(-1).T


def entropy_mean(weights, mask):
    w = weights * mask[:, None, :]
    return -torch.special.xlogy(w, w).mean(-1)


# ---------------------------------------------------------------- stage 10

def _sdpa_scores(query, keys):
    return torch.bmm(query, keys.transpose(1, 2)) / math.sqrt(query.shape[-1])  # (B, T, S)


def sdpa_softmax_over_t(query, keys, values, mask):
    s = _sdpa_scores(query, keys).masked_fill(~mask[:, None, :], float("-inf"))
    w = torch.softmax(s, dim=1).nan_to_num(0.0)                             # over the queries
    return torch.bmm(w, values), w


def sdpa_mask_no_t_axis(query, keys, values, mask):
    w = torch.softmax(_sdpa_scores(query, keys).masked_fill(~mask, float("-inf")), dim=-1)  # (B, S) vs (B, T, S)
    return torch.bmm(w, values), w


def sdpa_swapped(query, keys, values, mask):
    w = masked_softmax(_sdpa_scores(query, keys), mask)
    return w, torch.bmm(w, values)


def sdpa_nan_on_empty_row(query, keys, values, mask):
    w = torch.softmax(_sdpa_scores(query, keys).masked_fill(~mask[:, None, :], float("-inf")), dim=-1)
    return torch.bmm(w, values), w


def sdpa_minus_1e9(query, keys, values, mask):
    w = torch.softmax(_sdpa_scores(query, keys).masked_fill(~mask[:, None, :], -1e9), dim=-1)
    return torch.bmm(w, values), w


def sdpa_keys_not_transposed(query, keys, values, mask):
    w = torch.softmax(torch.bmm(query, keys) / math.sqrt(query.shape[-1]), dim=-1)  # (B, T, d) @ (B, S, d)
    return torch.bmm(w, values), w


def sdpa_calls_torch(query, keys, values, mask):
    out = F.scaled_dot_product_attention(query, keys, values, attn_mask=mask[:, None, :])
    return out, None


def sdpa_unscaled(query, keys, values, mask):
    w = masked_softmax(torch.bmm(query, keys.transpose(1, 2)), mask)
    return torch.bmm(w, values), w


def sdpa_scaled_by_d(query, keys, values, mask):
    s = torch.bmm(query, keys.transpose(1, 2)) / query.shape[-1]
    w = masked_softmax(s, mask)
    return torch.bmm(w, values), w


def sdpa_mask_after_softmax(query, keys, values, mask):
    w = torch.softmax(_sdpa_scores(query, keys), dim=-1).masked_fill(~mask[:, None, :], 0.0)
    return torch.bmm(w, values), w


def sdpa_inverted_mask(query, keys, values, mask):
    key_padding_mask = mask                                                 # as if it were nn's True = padding
    w = masked_softmax(_sdpa_scores(query, keys), ~key_padding_mask)
    return torch.bmm(w, values), w


def _mha(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask,
         split=None, merge=None, attend=None, repeat=None, v_from=None, bias_v=True, average=True):
    """A learner-style multi-head attention; each keyword swaps in one piece written wrong."""
    B, T, H = query.shape
    S, N = keys.shape[1], num_heads
    Dh = H // N
    split = split or (lambda x: x.view(x.shape[0], x.shape[1], N, Dh).transpose(1, 2).reshape(-1, x.shape[1], Dh))
    merge = merge or (lambda o: o.view(B, N, T, Dh).transpose(1, 2).reshape(B, T, H))
    attend = attend or _ref_sdpa
    q = split(query @ W_q.T + b_q)
    k = split(keys @ W_k.T + b_k)
    v = split((v_from if v_from is not None else values) @ W_v.T + (b_v if bias_v else 0.0))
    out, w = attend(q, k, v, repeat(mask) if repeat else mask.repeat_interleave(N, dim=0))
    w = w.view(B, N, T, S)
    return merge(out) @ W_o.T + b_o, (w.mean(1) if average else w.sum(1))


def mha_split_by_reshape(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
    Dh = query.shape[-1] // num_heads
    return _mha(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask,
                split=lambda x: x.reshape(-1, x.shape[1], Dh))             # cuts the sequence, not the features


def mha_merge_without_transpose(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
    B, T, H = query.shape
    return _mha(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask,
                merge=lambda o: o.reshape(B, T, H))                         # (B, N, T, Dh) read as (B, T, H)


def mha_unscaled_heads(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
    return _mha(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask, attend=sdpa_unscaled)


def mha_heads_scaled_by_d(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
    return _mha(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask, attend=sdpa_scaled_by_d)


def mha_mask_after_softmax(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
    return _mha(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask,
                attend=sdpa_mask_after_softmax)


def mha_mask_repeated_wrong(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
    return _mha(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask,
                repeat=lambda m: m.repeat(num_heads, 1))                    # row b·N + i gets sentence (b·N + i) mod B


def mha_values_from_keys(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
    return _mha(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask, v_from=keys)


def mha_no_value_bias(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
    return _mha(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask, bias_v=False)


def mha_weights_summed(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
    return _mha(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask, average=False)


def mha_uses_torch(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
    out, w = F.multi_head_attention_forward(
        query.transpose(0, 1), keys.transpose(0, 1), values.transpose(0, 1), query.shape[-1], num_heads, None,
        torch.cat([b_q, b_k, b_v]), None, None, False, 0.0, W_o, b_o, key_padding_mask=~mask,
        use_separate_proj_weight=True, q_proj_weight=W_q, k_proj_weight=W_k, v_proj_weight=W_v)
    return out.transpose(0, 1), w
# ---------------------------------------------------------------- stage 9

def window_squeezed(positions, window, lengths, S):
    s = torch.arange(S, dtype=positions.dtype)
    return (((s - positions[..., None]).abs() <= window) & (s < lengths[:, None, None])).squeeze()  # drops T = 1


def window_float(positions, window, lengths, S):
    s = torch.arange(S, dtype=positions.dtype)
    return (((s - positions[..., None]).abs() <= window) & (s < lengths[:, None, None])).float()


def window_s_first(positions, window, lengths, S):
    s = torch.arange(S, dtype=positions.dtype)
    return (((s[:, None] - positions[:, None, :]).abs() <= window) & (s[None, :, None] < lengths[:, None, None]))  # (B, S, T)


def window_ignores_positions(positions, window, lengths, S):
    B, T = positions.shape
    t = torch.arange(T, dtype=positions.dtype)
    s = torch.arange(S, dtype=positions.dtype)
    return ((s - t[:, None]).abs() <= window)[None] & (s < lengths[:, None, None])  # p_t = t hard-coded


def window_lengths_no_axes(positions, window, lengths, S):
    s = torch.arange(S, dtype=positions.dtype)
    return ((s - positions[..., None]).abs() <= window) & (s < lengths[:, None])  # (B, S) against (B, T, S)


def _p_positions(query, W_p, v_p, mask):
    return mask.sum(-1)[:, None] * torch.sigmoid(torch.tanh(query @ W_p.T) @ v_p)  # (B, T)


def _p_weights(scores, positions, mask, window):
    from attnlib.local import window_mask
    allowed = window_mask(positions, window, mask.sum(-1), scores.shape[-1])  # (B, T, S)
    w = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1).nan_to_num(0.0)
    s = torch.arange(scores.shape[-1], dtype=scores.dtype)
    return w * torch.exp(-(s - positions[..., None]) ** 2 / (2 * (window / 2) ** 2))


def local_p_positions_keepdim(scores, query, W_p, v_p, mask, window):
    p = _p_positions(query, W_p, v_p, mask)
    return p[..., None], _p_weights(scores, p, mask, window)  # positions (B, T, 1)


def local_p_swapped(scores, query, W_p, v_p, mask, window):
    p = _p_positions(query, W_p, v_p, mask)
    return _p_weights(scores, p, mask, window), p


def local_p_mask_no_t(scores, query, W_p, v_p, mask, window):
    p = _p_positions(query, W_p, v_p, mask)
    w = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)  # (B, S) mask against (B, T, S)
    return p, w


def local_p_ignores_query(scores, query, W_p, v_p, mask, window):
    p = mask.sum(-1)[:, None].float().expand(scores.shape[:2]) * torch.sigmoid(torch.tanh(W_p.sum(1)) @ v_p)
    return p, _p_weights(scores, p, mask, window)  # the same p_t for every step


def local_p_renormalised(scores, query, W_p, v_p, mask, window):
    p = _p_positions(query, W_p, v_p, mask)
    w = _p_weights(scores, p, mask, window)
    return p, w / w.sum(-1, keepdim=True)  # normalised again after the Gaussian


# ---------------------------------------------------------------- the catalog

CATALOG = [
    # exercise, wrong answer, kind the check must name, words its hint must contain ("registered": a Mistake's hint)
    ("masked_sequence_loss", loss_classes_last, "cross-entropy-shape", ["axis 1", "transpose(1, 2)"]),
    ("dot_score", dot_squeezed, "dropped-axis", ["T and S axes", "squeeze"]),
    ("dot_score", dot_squeeze_t, "dropped-axis", ["T/S axis", "(B, T, S)"]),
    ("dot_score", dot_keys_first, "registered", ["(B, T, S)", "transposed"]),
    ("dot_score", dot_t_first, "permuted-axes", ["(T, B, S)", "(B, T, S)"]),
    ("dot_score", dot_negated, "sign", ["opposite sign"]),
    ("dot_score", dot_mean, "scaled", ["H = 4", "mean"]),
    ("dot_score", dot_matmul_no_transpose, "bmm-shape", ["`return query @ keys", "transpose(1, 2)"]),
    ("general_score", general_w_ignored, "registered", ["W is missing"]),
    ("general_score", general_w_on_query, "registered", ["W is used transposed"]),
    ("additive_score", additive_no_tanh_sum, "registered", ["tanh is missing"]),
    ("additive_score", additive_no_broadcast, "broadcast", ["steps T and source positions S", "(B, T, 1, A)"]),
    ("additive_score", additive_extra_tanh, "extra-tanh", ["one tanh too many"]),
    ("additive_score", additive_keys_first, "registered", ["(B, T, S)"]),
    ("stable_softmax", stable_softmax_wrong_axis, "wrong-axis", ["dim=-1", "not over the last"]),
    ("stable_softmax", stable_softmax_torch, "uses-reference", ["torch.softmax", "0 points"]),
    ("stable_softmax", stable_softmax_method, "uses-reference", ["torch.softmax"]),
    ("stable_softmax", stable_softmax_unnormalised_half, "scaled", ["0.5"]),
    ("stable_softmax", stable_softmax_global_sum, "not-normalised", ["dim=-1"]),
    ("stable_softmax", stable_softmax_dim2, "dim-range", ["does not exist"]),
    ("masked_softmax", masked_softmax_no_t_axis, "mask-broadcast", ["mask[:, None, :]", "LAST axes"]),
    ("masked_softmax", masked_softmax_big_negative_then_zero, "registered", ["all zeros"]),
    ("masked_softmax", masked_softmax_one_minus_mask, "mask-dtype", ["~mask"]),
    ("masked_softmax", masked_softmax_fill_minus_one, "weight-on-padding", ["-inf", "exp(0) = 1"]),
    ("masked_softmax", masked_softmax_uses_attnlib, "uses-reference", ["attnlib's own masked_softmax"]),
    ("masked_softmax", masked_softmax_over_b, "wrong-axis", ["dim=0", "dim=-1"]),
    ("masked_softmax", masked_softmax_no_max, "registered", ["0/0"]),
    ("context_vector", context_b_h_t, "permuted-axes", ["(B, H, T)", "(B, T, H)"]),
    ("context_vector", context_values_ignored, "ignores-values", ["`values`"]),
    ("context_vector", context_t_squeezed, "dropped-axis", ["B/T axis"]),
    ("context_vector", context_weights_as_values, "scaled", ["3"]),
    ("last_encoder_state", last_state_lengths, "registered", ["off by one", "lengths - 1", "IndexError at line"]),
    ("last_encoder_state", last_state_loop, "registered", ["lengths - 1", "`return torch.stack("]),
    ("last_encoder_state", last_state_keepdim, "extra-axis", ["extra axis"]),
    ("last_encoder_state", last_state_transposed, "sign", None),
    ("last_encoder_state", last_state_dim_range, "dim-range", ["does not exist"]),
    ("last_encoder_state", last_state_float_index, "error", ["IndexError", "must be long"]),
    ("luong_dot_attention", luong_dot_decoder_states, "registered", ["decoder states", "encoder states"]),
    ("luong_dot_attention", luong_dot_zero_fill, "zero-fill", ["-inf", "exp(0) = 1"]),
    ("luong_dot_attention", luong_dot_mask_broadcast, "mask-broadcast", ["mask[:, None, :]"]),
    ("luong_dot_attention", luong_dot_wrong_axis, "wrong-axis", ["B axis"]),
    ("luong_dot_attention", luong_dot_context_transposed, "permuted-axes", ["your context", "(B, H, T)"]),
    ("attentional_hidden", hidden_no_tanh, "registered", ["tanh is missing", "order [c_t; h_t] is right"]),
    ("attentional_hidden", hidden_sigmoid, "wrong-nonlinearity", ["sigmoid", "tanh"]),
    ("attentional_hidden", hidden_transposed, "permuted-axes", ["(T, B, H)"]),
    ("attentional_hidden", hidden_wrong_cat, "cat-shape", ["dim=-1"]),
    ("attentional_hidden", hidden_no_context, "ignores-context", ["`context`"]),
    ("attentional_hidden", hidden_negated, "sign", None),
    ("luong_general_attention", general_attention_no_t, "dropped-axis", ["T axis"]),
    ("luong_general_attention", general_attention_mask_broadcast, "mask-broadcast", ["mask[:, None, :]"]),
    ("luong_general_attention", general_attention_wrong_axis, "wrong-axis", ["T axis"]),
    ("luong_general_attention", general_attention_zero_fill, "weight-on-padding", ["-inf", "exp(0) = 1"]),
    ("luong_output_log_probs", output_softmax_no_log, "registered", ["log_softmax"]),
    ("luong_output_log_probs", output_transposed, "permuted-axes", ["(B, V, T)"]),
    ("luong_output_log_probs", output_ws_not_transposed, "matmul-shape", ["without .T"]),
    ("luong_output_log_probs", output_mask_leaks, "registered", ["mask is ignored"]),
    ("luong_output_log_probs", output_keepdim, "extra-axis", None),
    ("bahdanau_attention", bahdanau_u_h, "context-of-projected", ["W_k h_j", "encoder states"]),
    ("bahdanau_attention", bahdanau_no_mask_dim, "extra-axis", None),
    ("bahdanau_attention", bahdanau_scores_as_weights, "not-normalised", ["sum to 1"]),
    ("bahdanau_attention", bahdanau_zero_fill, "weight-on-padding", ["-inf"]),
    ("bahdanau_attention", bahdanau_ignores_s, "ignores-s_prev", ["`s_prev`"]),
    ("bahdanau_attention", bahdanau_matmul_error, "matmul-shape", ["without .T"]),
    ("bahdanau_step", step_new_state, "query-is-new-state", ["s_{i-1}", "Luong's order"]),
    ("bahdanau_step", step_context_first, "registered", ["wrong order", "[y_emb; c]"]),
    ("bahdanau_step", step_outputs_swapped, "swapped-outputs", ["(s, context, weights)"]),
    ("bahdanau_step", step_no_recurrence, "ignores-W_rec", ["`W_rec`"]),
    ("bahdanau_step", step_no_bias_tanh, "registered", ["tanh is missing"]),
    ("bahdanau_step", step_cat_wrong_dim, "cat-shape", ["dim=-1"]),
    ("accuracy_by_length", accuracy_shifted, "shifted-buckets", ["shifted by one"]),
    ("accuracy_by_length", accuracy_shifted_up, "shifted-buckets", ["shifted by one"]),
    ("accuracy_by_length", accuracy_percent, "scaled", ["100"]),
    ("accuracy_by_length", accuracy_keepdim, "extra-axis", None),
    ("accuracy_by_length", accuracy_float_correct, "dtype", [".float()"]),
    ("attention_entropy", entropy_plain, "nan-zero", ["xlogy", "0 · log 0"]),
    ("attention_entropy", entropy_plain_no_mask, "registered", ["0 log 0"]),
    ("attention_entropy", entropy_log10, "scaled", ["log base 10"]),
    ("attention_entropy", entropy_mask_no_t, "mask-broadcast", ["mask[:, None, :]"]),
    ("attention_entropy", entropy_keepdim, "extra-axis", None),
    ("attention_entropy", entropy_transposed, "permuted-axes", ["(T, B)"]),
    ("attention_entropy", entropy_mean, "scaled", ["S = 7"]),
    ("window_mask", window_squeezed, "dropped-axis", ["T axis", "squeeze"]),
    ("window_mask", window_float, "dtype", ["bool"]),
    ("window_mask", window_s_first, "permuted-axes", ["(B, S, T)", "(B, T, S)"]),
    ("window_mask", window_ignores_positions, "ignores-positions", ["`positions`"]),
    ("window_mask", window_lengths_no_axes, "broadcast", ["[:, None]"]),
    ("local_p_attention", local_p_positions_keepdim, "extra-axis", ["extra axis"]),
    ("local_p_attention", local_p_swapped, "swapped-outputs", ["(positions, weights)"]),
    ("local_p_attention", local_p_mask_no_t, "mask-broadcast", ["mask[:, None, :]"]),
    ("local_p_attention", local_p_ignores_query, "ignores-query", ["`query`"]),
    ("local_p_attention", local_p_renormalised, "registered", ["Gaussian is applied before the softmax"]),
    ("scaled_dot_product_attention", sdpa_softmax_over_t, "wrong-axis", ["T axis", "dim=-1"]),
    ("scaled_dot_product_attention", sdpa_mask_no_t_axis, "mask-broadcast", ["mask[:, None, :]"]),
    ("scaled_dot_product_attention", sdpa_swapped, "swapped-outputs", ["return (output, weights)"]),
    ("scaled_dot_product_attention", sdpa_nan_on_empty_row, "nan-empty-row", ["NaN", "zeros"]),
    ("scaled_dot_product_attention", sdpa_minus_1e9, "empty-row-not-zero", ["all zeros"]),
    ("scaled_dot_product_attention", sdpa_keys_not_transposed, "bmm-shape", ["transpose(1, 2)"]),
    ("scaled_dot_product_attention", sdpa_calls_torch, "uses-reference", ["torch.scaled_dot_product_attention"]),
    ("scaled_dot_product_attention", sdpa_unscaled, "registered", ["not divided by √d"]),
    ("scaled_dot_product_attention", sdpa_mask_after_softmax, "registered", ["after the softmax"]),
    ("multi_head_attention", mha_split_by_reshape, "registered", ["split along the wrong axis"]),
    ("multi_head_attention", mha_merge_without_transpose, "registered", ["merged in the wrong order"]),
    ("multi_head_attention", mha_mask_repeated_wrong, "weight-on-padding", ["-inf"]),
    ("multi_head_attention", mha_values_from_keys, "ignores-values", ["`values`"]),
    ("multi_head_attention", mha_no_value_bias, "ignores-b_v", ["`b_v`"]),
    ("multi_head_attention", mha_weights_summed, "scaled", ["constant, 3"]),
    ("multi_head_attention", mha_uses_torch, "uses-reference", ["multi_head_attention_forward"]),
]

# The classic mistakes in the Transformer's attention, each named by its own diagnosis.
STAGE10_CLASSICS = [
    ("scaled_dot_product_attention", sdpa_unscaled, "no-scaling"),
    ("scaled_dot_product_attention", sdpa_scaled_by_d, "scaled-by-d"),
    ("scaled_dot_product_attention", sdpa_mask_after_softmax, "mask-after-softmax"),
    ("scaled_dot_product_attention", sdpa_inverted_mask, "mask-inverted"),
    ("multi_head_attention", mha_unscaled_heads, "no-scaling"),
    ("multi_head_attention", mha_heads_scaled_by_d, "scaled-by-d"),
    ("multi_head_attention", mha_split_by_reshape, "heads-split-wrong-axis"),
    ("multi_head_attention", mha_merge_without_transpose, "heads-merged-wrong-order"),
    ("multi_head_attention", mha_mask_after_softmax, "mask-after-softmax"),
]
IDS = [f"{name}-{fn.__name__}" for name, fn, _, _ in CATALOG]


@functools.lru_cache(maxsize=None)
def _first_named(name, fn):
    """The first failing case's Result (the check shows that one), with the guard on as in check()."""
    outcome = results(fn, name, watch=True)
    failed = [r for r in outcome if not r.passed]
    return failed[0] if failed else None


@pytest.mark.parametrize("name,fn,kind,words", CATALOG, ids=IDS)
def test_unregistered_mistake_is_named(name, fn, kind, words):
    r = _first_named(name, fn)
    assert r is not None, f"{name}: {fn.__name__} passes every case: the check cannot catch it"
    registered = "mistake" in r.details
    if kind == "registered":
        assert registered, f"{name}: {fn.__name__} should get a registered Mistake's hint:\n{r}"
    else:
        assert not registered or r.details["kind"] == kind, f"{name}: {fn.__name__} got a registered hint:\n{r}"
    assert kind == "registered" or r.details.get("kind") == kind, f"{name}: {fn.__name__} named {r.details.get('kind')!r}, not {kind!r}:\n{r}"
    for word in words or []:
        assert word in str(r), f"{name}: {fn.__name__}: {word!r} missing from\n{r}"
    assert "Traceback" not in str(r) and "File \"" not in str(r)


@pytest.mark.parametrize("name,fn,kind", STAGE10_CLASSICS, ids=[f"{n}-{fn.__name__}" for n, fn, _ in STAGE10_CLASSICS])
def test_stage10_classic_mistake_gets_its_diagnosis(name, fn, kind):
    """Written as a learner would (not the registered function): the check names exactly this mistake."""
    r = _first_named(name, fn)
    assert r is not None and r.details.get("kind") == kind, f"{name}: {fn.__name__} named {r and r.details}:\n{r}"
    assert check(fn, name=name, quiet=True) is False


@pytest.mark.parametrize("name", ["scaled_dot_product_attention", "multi_head_attention"])
def test_stage10_references_and_pytorch_pass(name):
    """attnlib's reference passes, and so does an answer that is PyTorch's own module with the weights copied in."""
    assert all(results(REGISTRY[name].reference, name, seeds=(0, 1, 101)))
    if name == "multi_head_attention":
        assert all(results(mha_via_nn_module, name, seeds=(0, 1), edge=False))


def mha_via_nn_module(query, keys, values, W_q, W_k, W_v, W_o, b_q, b_k, b_v, b_o, num_heads, mask):
    """nn.MultiheadAttention with the weights copied in (key_padding_mask = ~mask): equal to the reference."""
    H = query.shape[-1]
    mha = torch.nn.MultiheadAttention(H, num_heads, batch_first=True, kdim=keys.shape[-1], vdim=values.shape[-1])
    with torch.no_grad():
        if mha._qkv_same_embed_dim:
            mha.in_proj_weight.copy_(torch.cat([W_q, W_k, W_v]))
        else:
            mha.q_proj_weight.copy_(W_q), mha.k_proj_weight.copy_(W_k), mha.v_proj_weight.copy_(W_v)
        mha.in_proj_bias.copy_(torch.cat([b_q, b_k, b_v]))
        mha.out_proj.weight.copy_(W_o), mha.out_proj.bias.copy_(b_o)
        out, w = mha(query, keys, values, key_padding_mask=~mask)
    return out, w


def test_exception_names_the_learners_line():
    r = _first_named("last_encoder_state", last_state_loop)
    assert "IndexError at line" in r.message and "`return torch.stack([outputs[b, lengths[b]]" in r.message, r.message


def test_the_catalog_covers_every_exercise_and_six_kinds_per_stage():
    """Every exercise has named mistakes; from stage 2 on, each stage names at least six kinds by properties."""
    assert {n for n, *_ in CATALOG} == set(REGISTRY), "every exercise has property-diagnosed mistakes in the catalog"
    assert len(REGISTRY) >= 20, sorted(REGISTRY)
    stages = sorted({ex.stage for ex in REGISTRY.values()})
    assert set(range(1, 11)) <= set(stages), stages
    for stage in stages[1:]:
        kinds = set()
        for n, fn, _, _ in CATALOG:
            r = _first_named(n, fn) if REGISTRY[n].stage == stage else None
            if r is not None and "mistake" not in r.details and r.details.get("kind") not in (None, "unnamed"):
                kinds.add(r.details["kind"])   # named by a property, not by a registered Mistake
        assert len(kinds) >= 6, f"stage {stage} names only {sorted(kinds)} by properties"


def test_check_prints_the_diagnosis_and_never_a_traceback():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert check(masked_softmax_no_t_axis, name="masked_softmax") is False
    text = out.getvalue()
    assert text.startswith("[FAIL] masked_softmax") and "mask[:, None, :]" in text and "Traceback" not in text, text


def test_a_later_exercise_runs_on_the_reference_when_an_earlier_one_fails():
    """Notebook 6: a wrong luong_general_attention must not make a correct luong_output_log_probs fail."""
    output_calls_broken_first.__globals__["luong_general_attention"] = general_attention_no_t
    try:
        assert all(results(output_calls_broken_first, "luong_output_log_probs"))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert check(output_calls_broken_first, name="luong_output_log_probs")
        assert "attnlib's luong_general_attention inside" in out.getvalue(), out.getvalue()
        assert globals()["luong_general_attention"] is general_attention_no_t, "the learner's function is put back"
    finally:
        del output_calls_broken_first.__globals__["luong_general_attention"]


def test_example_inside_the_check_reports_instead_of_raising():
    def example(last_encoder_state):
        outputs = torch.arange(12.0).reshape(2, 3, 2)
        print(last_encoder_state(outputs, torch.tensor([3, 1])))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert check(last_state_lengths, example, name="last_encoder_state") is False
    text = out.getvalue()
    assert "The example stopped: raised IndexError" in text and "lengths - 1" in text and "Traceback" not in text, text


def test_graded_reports_in_run_all_and_raises_under_nbgrader(monkeypatch):
    def tests(stable_softmax):
        assert torch.allclose(stable_softmax(torch.tensor([0.0, math.log(3.0)])), torch.tensor([0.25, 0.75])), "by hand"

    def stub(scores):
        raise NotImplementedError()
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert graded(stub, tests, name="stable_softmax") is False
        assert graded(stable_softmax_wrong_axis, tests, name="stable_softmax") is False
        assert graded(REGISTRY["stable_softmax"].reference, tests, name="stable_softmax") is True
    lines = out.getvalue().splitlines()
    assert lines[0] == "[graded: 0 points for now] stable_softmax: not written yet", lines
    assert lines[1].startswith("[graded: 0 points for now] stable_softmax:"), lines
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    for wrong in (stub, stable_softmax_wrong_axis):
        with pytest.raises(AssertionError):
            graded(wrong, tests, name="stable_softmax")
    with contextlib.redirect_stdout(io.StringIO()):
        assert graded(REGISTRY["stable_softmax"].reference, tests, name="stable_softmax") is True
