"""Local attention of Luong et al. 2015 (section 3.2): attend to a window [p_t - D, p_t + D].

Global attention (attention.py) reads every source position at every step.
Local attention first picks an aligned source position p_t for each target
step t, then reads only the window of positions around it:

| paper                          | symbol    | here                               | shape        |
|--------------------------------|-----------|------------------------------------|--------------|
| aligned source position        | p_t       | ``positions``                      | (B, T) float |
| half width of the window       | D         | ``window``                         | int          |
| position predictor (local-p)   | W_p, v_p  | ``W_p``, ``v_p``                   | (A, H), (A,) |
| source sentence length         | S         | ``lengths`` (real, never padded)   | (B,)         |
| Gaussian width                 | σ = D/2   | ``sigma``                          | float        |
| alignment vector               | a_t       | ``weights``                        | (B, T, S)    |

- local-m (monotonic): p_t = t.
- local-p (predictive): p_t = S · sigmoid(v_pᵀ tanh(W_p h_t)) (eq. 9), with S
  each sentence's real length, so p_t ∈ (0, S); then
  a_t(s) = align(h_t, h̄_s) · exp(-(s - p_t)² / (2σ²)), σ = D/2 (eq. 10).

``align`` is the softmax of the scores (eq. 7) over the window only. Source
positions s and target steps t count from 0. The window holds the positions s
with |s - p_t| ≤ D (2D + 1 of them when p_t is an integer, as in local-m; 2D
when it is not), clipped at the sentence ends: s < 0, s ≥ S and padding are
never in it. A window without a real position (local-m once t ≥ S + D) gives
zero weights and a zero context, never NaN. local-p's weights sum to less than
1: the paper multiplies by the Gaussian after the softmax and does not
renormalise; the gradient reaches W_p and v_p through the Gaussian only (the
window itself is a step function of p_t).

Two ways to compute the same weights:
- ``window_mask``, ``gaussian_weights``, ``local_weights``: pure functions over
  the full (B, T, S) scores, easy to read and to check by hand;
- ``LocalAttention``: gathers the K = 2D + 1 window positions of every step
  (``window_index``), so one decoder step reads O(D) positions instead of O(S); it
  returns the weights scattered back to (B, T, S), the contract of
  ``LuongAttention``. tests/test_local.py checks that both agree.

Extra shape letter: K = 2D + 1, the window slots of one step.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ._validate import check_float, check_mask, check_size, check_tensor
from .attention import masked_softmax


def _check_window(window) -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ValueError(f"window D must be an int >= 0 (the window is [p_t - D, p_t + D]), got {window!r}")


def _check_sigma(sigma) -> None:
    if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or not sigma > 0:
        raise ValueError(f"sigma must be a positive number (Luong uses σ = D/2, so D >= 1), got {sigma!r}")


def _check_positions(positions: torch.Tensor) -> None:
    check_tensor("positions", positions, 2, "(B, T)")
    check_float("positions", positions)


def lengths_of(mask: torch.Tensor) -> torch.Tensor:
    """Real source lengths: mask (B, S) bool, True on real tokens -> (B,) long."""
    check_tensor("mask", mask, 2, "(B, S)")
    check_mask(mask, mask.shape[0], mask.shape[1])
    return mask.sum(dim=-1)


def monotonic_positions(batch: int, steps: int, device=None, dtype=torch.float32, start: int = 0) -> torch.Tensor:
    """local-m's aligned positions p_t = t: -> (B, T) float, row b = [start, ..., start + T - 1]."""
    t = torch.arange(start, start + steps, device=device, dtype=dtype)  # (T,)
    return t.expand(batch, steps)  # (B, T)


def predicted_positions(query: torch.Tensor, W_p: torch.Tensor, v_p: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """local-p's aligned positions p_t = S · sigmoid(v_pᵀ tanh(W_p h_t)) (Luong et al. 2015, eq. 9).

    query (B, T, H) is h_t, W_p (A, H), v_p (A,), lengths (B,) the real source
    lengths S (not the padded width) -> positions (B, T) float in (0, S).
    """
    check_tensor("query", query, 3, "(B, T, H)")
    check_float("query", query)
    check_tensor("W_p", W_p, 2, "(A, H)")
    check_size("W_p (A, H) second dimension", W_p.shape[1], query.shape[2])
    check_tensor("v_p", v_p, 1, "(A,)")
    check_size("v_p additive size A", v_p.shape[0], W_p.shape[0])
    check_tensor("lengths", lengths, 1, "(B,)")
    check_size("lengths batch size B", lengths.shape[0], query.shape[0])
    hidden = torch.tanh(query @ W_p.transpose(0, 1))  # (B, T, A): tanh(W_p h_t)
    return lengths.to(query.dtype)[:, None] * torch.sigmoid(hidden @ v_p)  # (B, T): eq. 9


def window_mask(positions: torch.Tensor, window: int, lengths: torch.Tensor, S: int) -> torch.Tensor:
    """Which source positions each step may read: |s - p_t| ≤ D and 0 ≤ s < length.

    positions (B, T) float, window D, lengths (B,) real source lengths, S the
    padded width -> allowed (B, T, S) bool. The window is clipped at both
    sentence ends; padding (s ≥ length) is never allowed.
    """
    _check_positions(positions)
    _check_window(window)
    check_tensor("lengths", lengths, 1, "(B,)")
    check_size("lengths batch size B", lengths.shape[0], positions.shape[0])
    s = torch.arange(S, device=positions.device)  # (S,)
    in_window = (s.to(positions.dtype) - positions.unsqueeze(-1)).abs() <= window  # (B, T, S)
    real = s < lengths.to(positions.device)[:, None]  # (B, S)
    return in_window & real.unsqueeze(1)  # (B, T, S)


def gaussian_weights(positions: torch.Tensor, source_positions, sigma: float) -> torch.Tensor:
    """exp(-(s - p_t)² / (2σ²)), the Gaussian of Luong et al. 2015, eq. 10.

    positions (B, T) float; source_positions an int S (meaning s = 0..S-1) or a
    tensor of positions broadcastable to (B, T, K) (e.g. a window's indices)
    -> (B, T, S) or (B, T, K). sigma = float('inf') gives all ones.
    """
    _check_positions(positions)
    _check_sigma(sigma)
    if isinstance(source_positions, int):
        source_positions = torch.arange(source_positions, device=positions.device)  # (S,)
    distance = source_positions.to(positions.dtype) - positions.unsqueeze(-1)  # (B, T, S) or (B, T, K)
    return torch.exp(-distance.square() / (2 * sigma ** 2))  # eq. 10


def _window_softmax(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """masked_softmax with a per-step mask: scores, allowed (B, T, N) -> weights (B, T, N); empty rows give 0."""
    B, T, N = scores.shape
    flat = masked_softmax(scores.reshape(B * T, N), allowed.reshape(B * T, N))  # (B·T, N): one row per step
    return flat.view(B, T, N)  # (B, T, N)


def local_weights(scores: torch.Tensor, positions: torch.Tensor, window: int, mask: torch.Tensor | None = None,
                  sigma: float | None = None) -> torch.Tensor:
    """Local alignment weights from full scores (the reference; LocalAttention gathers instead).

    scores (B, T, S), positions (B, T) float, window D, mask (B, S) or None ->
    weights (B, T, S). align = softmax over the window (eq. 7 restricted to
    [p_t - D, p_t + D], padding and sentence ends excluded); with ``sigma``
    (local-p: D / 2) the result is align · exp(-(s - p_t)² / (2σ²)) (eq. 10);
    without it (local-m) it is align.
    """
    check_tensor("scores", scores, 3, "(B, T, S)")
    check_float("scores", scores)
    _check_positions(positions)
    B, T, S = scores.shape
    check_size("positions shape (B, T) vs scores", tuple(positions.shape), (B, T))
    if mask is None:
        mask = torch.ones(B, S, dtype=torch.bool, device=scores.device)
    check_mask(mask, B, S)
    allowed = window_mask(positions, window, lengths_of(mask), S)  # (B, T, S)
    align = _window_softmax(scores, allowed)  # (B, T, S): eq. 7 over the window
    if sigma is None:
        return align  # local-m
    return align * gaussian_weights(positions, S, sigma)  # (B, T, S): eq. 10


def window_index(positions: torch.Tensor, window: int) -> torch.Tensor:
    """The K = 2D + 1 source positions a window can hold: positions (B, T) -> index (B, T, K) long.

    index[b, t, j] = ceil(p_t - D) + j, not clipped: it may be < 0 or ≥ S, and
    when p_t is not an integer its last slot lies past p_t + D. ``window_slots``
    says which slots are real window positions.
    """
    _check_positions(positions)
    _check_window(window)
    start = torch.ceil(positions.detach() - window).long()  # (B, T): first integer ≥ p_t - D
    return start.unsqueeze(-1) + torch.arange(2 * window + 1, device=positions.device)  # (B, T, K)


def window_slots(index: torch.Tensor, positions: torch.Tensor, window: int, mask: torch.Tensor) -> torch.Tensor:
    """Which window slots are allowed: index (B, T, K), positions (B, T), mask (B, S) -> (B, T, K) bool.

    A slot is allowed when |s - p_t| ≤ D, 0 ≤ s < S and mask[b, s] (not padding).
    """
    B, T, K = index.shape
    S = mask.shape[1]
    inside = (index >= 0) & (index < S) & ((index.to(positions.dtype) - positions.unsqueeze(-1)).abs() <= window)
    real = mask.gather(1, index.clamp(0, S - 1).view(B, T * K)).view(B, T, K)  # (B, T, K): not padding
    return inside & real  # (B, T, K)


def gather_window(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values (B, S, H), index (B, T, K) -> the window's values (B, T, K, H), index clipped to [0, S)."""
    B, T, K = index.shape
    S, H = values.shape[1], values.shape[2]
    rows = index.clamp(0, S - 1) + (torch.arange(B, device=index.device) * S)[:, None, None]  # (B, T, K): row of (B·S, H)
    # index_select copies whole rows: on CPU ~10x faster than gather with an expanded (B, T·K, H) index
    return values.reshape(B * S, H).index_select(0, rows.view(-1)).view(B, T, K, H)  # (B, T, K, H)


class LocalAttention(nn.Module):
    """Local attention of Luong et al. 2015 (section 3.2): local-m or local-p, dot or general score.

    forward(query (B, T, H), keys (B, S, Hk), mask (B, S) or None, steps (B, T) or None)
        -> context (B, T, Hk), weights (B, T, S)
    the contract of ``LuongAttention``. ``steps`` are the target steps t of the
    query rows, for local-m's p_t = t (default 0..T-1, teacher forcing from
    the first step; a decoder stepping one token at a time passes its counter);
    local-p ignores them. Only the K = 2D + 1 window positions of each step are
    gathered and scored, so a decoder step costs O(D·H) (plus local-p's O(A·H)
    position predictor) whatever S, apart from O(S) bookkeeping: local-p's
    lengths from the mask and the zero-filled (B, T, S) weights, into which
    the window's weights are scattered (zero outside the window).

    ``predictive=False`` is local-m, ``True`` local-p with W_p (A, H) and v_p (A,)
    (A = ``attn_size``, default ``hidden_size``) and σ = ``sigma`` (default D/2).
    """

    def __init__(self, hidden_size: int, score: str = "general", key_size: int | None = None, window: int = 10,
                 predictive: bool = False, attn_size: int | None = None, sigma: float | None = None):
        super().__init__()
        if score not in ("dot", "general"):
            raise ValueError(f"unknown local attention score {score!r}: expected 'dot' or 'general' (Luong et al. 2015, Table 4)")
        _check_window(window)
        key_size = hidden_size if key_size is None else key_size
        if score == "dot" and key_size != hidden_size:
            raise ValueError(f"the dot score needs key_size == hidden_size, got {key_size} and {hidden_size}")
        self.score, self.hidden_size, self.key_size = score, hidden_size, key_size
        self.window, self.predictive = window, predictive
        if sigma is not None and not predictive:
            raise ValueError("sigma is local-p's Gaussian width: pass predictive=True, or leave sigma out for local-m")
        self.sigma = (window / 2 if sigma is None else sigma) if predictive else None  # σ = D/2, section 3.2
        if predictive:
            _check_sigma(self.sigma)
        if score == "general":  # initialised and learning like LuongAttention's (identity, a tenth of the rate)
            self.W_a = nn.Parameter(torch.empty(hidden_size, key_size))
            nn.init.eye_(self.W_a)
            self.W_a.lr_scale = 0.1
        if predictive:
            attn_size = attn_size or hidden_size
            self.W_p = nn.Parameter(torch.empty(attn_size, hidden_size))
            self.v_p = nn.Parameter(torch.empty(attn_size))
            nn.init.xavier_uniform_(self.W_p)
            nn.init.uniform_(self.v_p, -1 / math.sqrt(attn_size), 1 / math.sqrt(attn_size))

    def extra_repr(self) -> str:
        kind = f"local-p, sigma={self.sigma:g}" if self.predictive else "local-m"
        return f"{kind}, score={self.score!r}, window={self.window}, hidden_size={self.hidden_size}, key_size={self.key_size}"

    def positions(self, query: torch.Tensor, mask: torch.Tensor, steps: torch.Tensor | None = None) -> torch.Tensor:
        """Aligned positions p_t: query (B, T, H), mask (B, S), steps (B, T) or None -> (B, T) float."""
        B, T = query.shape[0], query.shape[1]
        if self.predictive:
            return predicted_positions(query, self.W_p, self.v_p, lengths_of(mask))  # (B, T): eq. 9
        if steps is None:
            return monotonic_positions(B, T, query.device, query.dtype)  # (B, T): p_t = t
        check_tensor("steps", steps, 2, "(B, T)")
        check_size("steps shape (B, T) vs query", tuple(steps.shape), (B, T))
        return steps.to(query.dtype)  # (B, T): p_t = t

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None,
                steps: torch.Tensor | None = None):
        check_tensor("query", query, 3, "(B, T, H)")
        check_tensor("keys", keys, 3, "(B, S, Hk)")
        check_float("query", query)
        check_float("keys", keys)
        check_size("query and keys batch size B", keys.shape[0], query.shape[0])
        check_size("query size H", query.shape[2], self.hidden_size)
        check_size("keys size Hk", keys.shape[2], self.key_size)
        B, T, S = query.shape[0], query.shape[1], keys.shape[1]
        if mask is None:
            mask = torch.ones(B, S, dtype=torch.bool, device=keys.device)
        check_mask(mask, B, S)
        positions = self.positions(query, mask, steps)  # (B, T): p_t
        index = window_index(positions, self.window)  # (B, T, K)
        allowed = window_slots(index, positions, self.window, mask)  # (B, T, K)
        window_keys = gather_window(keys, index)  # (B, T, K, Hk): h̄_s in the window
        q = query if self.score == "dot" else query @ self.W_a  # (B, T, Hk): W_aᵀ h_t, so h_tᵀ W_a h̄_s = qᵀ h̄_s
        # multiply-and-sum: on CPU faster than bmm/einsum over B·T tiny (K, Hk) matrices
        scores = (window_keys * q.unsqueeze(2)).sum(-1)  # (B, T, K, Hk) -> (B, T, K): h_tᵀ h̄_s or h_tᵀ W_a h̄_s, eq. 8
        weights = _window_softmax(scores, allowed)  # (B, T, K): align, eq. 7 over the window
        if self.predictive:
            weights = weights * gaussian_weights(positions, index, self.sigma)  # (B, T, K): eq. 10
        context = (weights.unsqueeze(-1) * window_keys).sum(2)  # (B, T, K, Hk) -> (B, T, Hk): c_t = Σ_s a_t(s) h̄_s
        # Slots outside [0, S) were clipped onto 0 or S - 1; their weight is exactly 0, so adding changes nothing.
        dense = weights.new_zeros(B, T, S).scatter_add(2, index.clamp(0, S - 1), weights)  # (B, T, S)
        return context, dense
