"""From scores to weights to a context vector, and the two attention modules.

Paper symbols, mapped once (the same names are used in the notebooks and tests; docs/glossary.md
shows this table, and tests/test_docs.py keeps the two identical). Where a paper symbol means two things
(Luong's W_a is the general matrix and the concat matrix; Bahdanau's W_a is a third matrix), the course
writes one symbol per object (column "course"):

| paper                         | symbol    | course        | here                          | shape      |
|-------------------------------|-----------|---------------|-------------------------------|------------|
| Luong: target hidden state    | h_t       | h_t           | ``query``                     | (B, T, H)  |
| Luong: source hidden states   | h̄_s       | h̄_s           | ``keys`` (also the values)    | (B, S, Hk) |
| Luong: general score matrix   | W_a       | W_a           | ``LuongAttention.W_a``        | (H, Hk)    |
| Luong: concat score           | W_a, v_a  | [W_q W_k], v_a | ``LuongAttention.W_a, v_a``  | (A, H+Hk), (A,) |
| Luong: alignment vector       | a_t       | a_t           | ``weights``                   | (B, T, S)  |
| Luong: context vector         | c_t       | c_t           | ``context``                   | (B, T, Hk) |
| Bahdanau: previous dec. state | s_{i-1}   | s_{i-1}       | ``query``                     | (B, T, Hq) |
| Bahdanau: annotations         | h_j       | h̄_s           | ``keys``                      | (B, S, Hk) |
| Bahdanau: W_a, U_a, v_a       |           | W_q, W_k, v_a | ``BahdanauAttention.W_a, U_a, v_a`` | (A, Hq), (A, Hk), (A,) |
| Bahdanau: weights, context    | α_ij, c_i | a_t(s), c_t   | ``weights``, ``context``      | (B, T, S), (B, T, Hk) |

The weights multiply the encoder states (the values), never the decoder state:
c_t = Σ_s a_t(s) h̄_s (Luong eq. 5's input; Bahdanau eq. 5).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import scores as S_
from ._validate import check_float, check_mask, check_size, check_tensor


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
    """Softmax over source positions that ignores padding.

    scores (B, T, S) or (B, S); mask (B, S) bool, True on real tokens, or None.
    Returns weights of the shape of ``scores``: each row sums to 1 over its real
    positions and is exactly 0 on padding. A row with no real position gives
    zeros, never NaN. Stable: torch.softmax subtracts the row maximum.
    ``temperature`` > 0 divides the scores first (lower is sharper).
    """
    check_tensor("scores", scores, (2, 3), "(B, T, S) or (B, S)")
    check_float("scores", scores)
    if not (isinstance(temperature, (int, float)) and temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    if temperature != 1.0:
        scores = scores / temperature
    if mask is None:
        return torch.softmax(scores, dim=-1)
    check_mask(mask, scores.shape[0], scores.shape[-1])
    valid = mask if scores.dim() == 2 else mask.unsqueeze(1)  # (B, 1, S)
    empty = ~valid.any(dim=-1, keepdim=True)  # (B, 1) or (B, 1, 1)
    if not bool(empty.any()):  # the usual case: exp(-inf) is exactly 0 on padding, one masked_fill suffices
        return torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=-1)
    # An all-padding row would be softmax(-inf, ..., -inf) = NaN: give it 0s, then zero it out.
    filled = scores.masked_fill(~valid & ~empty, float("-inf")).masked_fill(empty, 0.0)
    return torch.softmax(filled, dim=-1).masked_fill(~valid, 0.0)


def context_vector(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Weighted sum of the encoder states: c_t = Σ_s a_t(s) h̄_s.

    weights (B, T, S), values (B, S, H) -> context (B, T, H).
    """
    check_tensor("weights", weights, 3, "(B, T, S)")
    check_tensor("values", values, 3, "(B, S, H)")
    check_size("weights and values batch size B", values.shape[0], weights.shape[0])
    check_size("weights source length S vs values", values.shape[1], weights.shape[2])
    return torch.bmm(weights, values)  # (B, T, H)


class LuongAttention(nn.Module):
    """Global attention of Luong et al. 2015 (section 3.1), with the dot, general or concat score.

    forward(query (B, T, H), keys (B, S, Hk), mask (B, S) or None)
        -> context (B, T, Hk), weights (B, T, S)
    All T steps are scored in one batched call. ``key_size`` defaults to
    ``hidden_size``; the dot score needs them equal.
    """

    def __init__(self, hidden_size: int, score: str = "dot", key_size: int | None = None, attn_size: int | None = None):
        super().__init__()
        if score not in ("dot", "general", "concat"):
            raise ValueError(f"unknown Luong score {score!r}: expected 'dot', 'general' or 'concat'")
        key_size = hidden_size if key_size is None else key_size
        if score == "dot" and key_size != hidden_size:
            raise ValueError(f"the dot score needs key_size == hidden_size, got {key_size} and {hidden_size}")
        self.score, self.hidden_size, self.key_size = score, hidden_size, key_size
        if score == "general":
            # W_a starts as the identity, so the general score begins as the dot score, whose alignments form in the
            # first steps, and it learns at a tenth of the model's rate (train() reads lr_scale). Adam moves each
            # of W_a's H x Hk entries by about the learning rate per step whatever its gradient, and at the full rate
            # that noise swamps the identity: the date task then stalls below 99% for over 1000 steps (benchmark 10).
            self.W_a = nn.Parameter(torch.empty(hidden_size, key_size))
            nn.init.eye_(self.W_a)
            self.W_a.lr_scale = 0.1
        elif score == "concat":
            attn_size = attn_size or hidden_size
            self.W_a = nn.Parameter(torch.empty(attn_size, hidden_size + key_size))
            self.v_a = nn.Parameter(torch.empty(attn_size))
            nn.init.xavier_uniform_(self.W_a)
            nn.init.uniform_(self.v_a, -1 / math.sqrt(attn_size), 1 / math.sqrt(attn_size))

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Raw scores (B, T, S) for query (B, T, H) and keys (B, S, Hk)."""
        if self.score == "dot":
            return S_.dot_score(query, keys)
        if self.score == "general":
            return S_.general_score(query, keys, self.W_a)
        return S_.concat_score(query, keys, self.W_a, self.v_a)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None):
        weights = masked_softmax(self.scores(query, keys), mask)  # (B, T, S): a_t, Luong eq. 7
        return context_vector(weights, keys), weights  # (B, T, Hk): c_t


class BahdanauAttention(nn.Module):
    """Additive attention of Bahdanau et al. 2014 (section 3.1 and appendix A.1.2).

    e_ij = v_aᵀ tanh(W_a s_{i-1} + U_a h_j), α_ij = softmax_j(e_ij), c_i = Σ_j α_ij h_j.

    forward(query (B, T, Hq), keys (B, S, Hk), mask (B, S) or None, key_proj=None)
        -> context (B, T, Hk), weights (B, T, S)
    U_a h_j does not depend on the decoder step: compute it once per source
    sentence with ``project_keys(keys)`` -> (B, S, A) and pass it as ``key_proj``.
    """

    def __init__(self, query_size: int, key_size: int, attn_size: int):
        super().__init__()
        self.query_size, self.key_size, self.attn_size = query_size, key_size, attn_size
        self.W_a = nn.Parameter(torch.empty(attn_size, query_size))
        self.U_a = nn.Parameter(torch.empty(attn_size, key_size))
        self.v_a = nn.Parameter(torch.empty(attn_size))
        nn.init.xavier_uniform_(self.W_a)
        nn.init.xavier_uniform_(self.U_a)
        nn.init.uniform_(self.v_a, -1 / math.sqrt(attn_size), 1 / math.sqrt(attn_size))

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """U_a h_j for every source position: keys (B, S, Hk) -> (B, S, A)."""
        check_tensor("keys", keys, 3, "(B, S, Hk)")
        check_size("keys size Hk", keys.shape[2], self.key_size)
        return keys @ self.U_a.transpose(0, 1)  # (B, S, A)

    def forward(self, query, keys, mask=None, key_proj=None):
        check_tensor("query", query, 3, "(B, T, Hq)")
        check_size("query size Hq", query.shape[2], self.query_size)
        if key_proj is None:
            key_proj = self.project_keys(keys)
        query_proj = query @ self.W_a.transpose(0, 1)  # (B, T, A): W_a s_{i-1}
        scores = S_.additive_score_projected(query_proj, key_proj, self.v_a)  # (B, T, S): e_ij
        weights = masked_softmax(scores, mask)  # (B, T, S): α_ij, Bahdanau eq. 6
        return context_vector(weights, keys), weights  # (B, T, Hk): c_i, eq. 5
