"""Stage 3 exercises: a numerically stable softmax, and the masked softmax over source positions."""
from __future__ import annotations

import torch

from .. import attention
from .core import Exercise, Mistake, register


def stable_softmax_reference(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis, shifted by each row's maximum: scores (..., S) -> weights (..., S)."""
    shifted = scores - scores.max(dim=-1, keepdim=True).values  # (..., S): largest entry is 0, exp <= 1
    e = shifted.exp()
    return e / e.sum(dim=-1, keepdim=True)


def _scores(g, B=2, T=3, S=5, scale=3.0):
    return scale * torch.randn(B, T, S, generator=g)  # (B, T, S)


def _naive_softmax(scores):
    e = scores.exp()
    return e / e.sum(dim=-1, keepdim=True)


def _global_max_softmax(scores):
    e = (scores - scores.max()).exp()
    return e / e.sum(dim=-1, keepdim=True)


register(Exercise(
    "stable_softmax", 3, stable_softmax_reference, lambda g: {"scores": _scores(g)},
    edge_cases=lambda g: [("large scores (around +1000)", {"scores": 1000.0 + _scores(g)}),
                          ("very negative scores (around -1000)", {"scores": -1000.0 + _scores(g)}),
                          ("rows at very different offsets", {"scores": _scores(g) + torch.tensor([[0.0], [200.0], [-200.0]])}),
                          ("2-D input (B, S)", {"scores": 3.0 * torch.randn(4, 6, generator=g)}),
                          ("one position", {"scores": torch.randn(2, 3, 1, generator=g)})],
    mistakes=(
        Mistake("softmax over the wrong axis: normalise over the last axis (source positions, dim=-1), so each row sums to 1.",
                lambda scores: stable_softmax_reference(scores.transpose(-1, -2)).transpose(-1, -2) if scores.dim() >= 2 else scores),
        Mistake("no max-subtraction: exp(1000) overflows to inf and inf / inf is NaN (and exp(-1000) underflows to 0 / 0). "
                "Subtract each row's maximum first: scores - scores.max(dim=-1, keepdim=True).values.",
                _naive_softmax),
        Mistake("you subtracted the maximum of the whole tensor: a row far below it underflows to 0 / 0. "
                "Subtract each row's own maximum (max over dim=-1 with keepdim=True).",
                _global_max_softmax),
        Mistake("this is exp(scores) without normalising: divide by the sum over the last axis.",
                lambda scores: (scores - scores.max(dim=-1, keepdim=True).values).exp()),
    ),
    describe="scores (..., S) -> weights (..., S), softmax over the last axis with max-subtraction",
    forbidden=("softmax", "log_softmax"),   # notebook 3: "Do not call torch.softmax (... here you build it)"
))


def _mask(g, B, S, lengths=None):
    if lengths is None:  # one full row, the others padded
        lengths = [S] + torch.randint(1, S, (B - 1,), generator=g).tolist()
    return torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]  # (B, S) bool


def _masked_inputs(g, B=3, T=2, S=5, lengths=None, offset=0.0):
    return {"scores": offset + _scores(g, B, T, S), "mask": _mask(g, B, S, lengths)}


def _neg_inf_fill(scores, mask):
    return torch.softmax(scores.masked_fill(~mask[:, None, :], float("-inf")), dim=-1)


def _softmax_over_t(scores, mask):
    filled = scores.masked_fill(~mask[:, None, :], float("-inf"))
    return torch.softmax(filled, dim=1).nan_to_num(0.0)


def _mask_over_t(scores, mask):
    # (B, T, S) against (B, S): raises unless B == T, and then pairs mask row t with step t
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1).nan_to_num(0.0)


register(Exercise(
    "masked_softmax", 3, lambda scores, mask: attention.masked_softmax(scores, mask), _masked_inputs,
    edge_cases=lambda g: [("a row that is all padding", _masked_inputs(g, lengths=[5, 0, 2])),
                          ("no padding", _masked_inputs(g, lengths=[5, 5, 5])),
                          ("large scores (around +1000)", _masked_inputs(g, offset=1000.0)),
                          ("one real position per row", _masked_inputs(g, B=2, T=3, S=4, lengths=[1, 1])),
                          ("B == T (a mask broadcast against T fits the shape)", _masked_inputs(g, B=3, T=3, S=5))],
    mistakes=(
        Mistake("the mask is ignored: padded positions get weight. Set their scores to -inf before the softmax "
                "(scores.masked_fill(~mask[:, None, :], float('-inf'))).",
                lambda scores, mask: torch.softmax(scores, dim=-1)),
        Mistake("you zeroed the padded weights after the softmax without renormalising, so rows no longer sum to 1. "
                "Mask the scores (-inf) before the softmax instead.",
                lambda scores, mask: torch.softmax(scores, dim=-1) * mask[:, None, :]),
        Mistake("padded scores were set to 0, but exp(0) = 1 still gives padding weight: set them to -inf.",
                lambda scores, mask: torch.softmax(scores.masked_fill(~mask[:, None, :], 0.0), dim=-1)),
        Mistake("the mask is inverted: it is True on REAL tokens, so mask out ~mask.",
                lambda scores, mask: attention.masked_softmax(scores, ~mask)),
        Mistake("a row whose positions are all padding gives NaN (softmax of all -inf is 0/0). "
                "Such a row has nothing to attend to: return zeros there (e.g. torch.nan_to_num, or fill those rows first).",
                _neg_inf_fill),
        Mistake("a row that is all padding must give all zeros: filling with a large negative number makes it uniform over the padding.",
                lambda scores, mask: torch.softmax(scores.masked_fill(~mask[:, None, :], -1e9), dim=-1)),
        Mistake("softmax over the wrong axis: normalise over source positions S (dim=-1), not over decoder steps.",
                _softmax_over_t),
        Mistake("the (B, S) mask was broadcast against (B, T, S) without a T axis: broadcasting lines up the LAST axes, "
                "so mask row b was applied to decoder step b (it only fits when B == T). Use mask[:, None, :], (B, 1, S).",
                _mask_over_t, kind="mask-broadcast"),
    ),
    describe="scores (B, T, S), mask (B, S) bool -> weights (B, T, S), 0 on padding, all-padding row -> zeros",
))
