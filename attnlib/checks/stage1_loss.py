"""Stage 1 exercise: the masked sequence loss (padding must not count)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import seq2seq
from .core import Exercise, Mistake, register


def masked_sequence_loss_reference(logits: torch.Tensor, targets: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Mean cross-entropy over the real (non-pad) target tokens: logits (B, T, V), targets (B, T) -> scalar."""
    return seq2seq.sequence_loss(logits, targets, pad_id=pad_id)


def _targets(g, lengths, T, V, pad_id):
    """(B, T) long targets: random real tokens (never pad_id) up to each length, then pad_id."""
    B = len(lengths)
    real = torch.randint(V - 1, (B, T), generator=g)
    real = real + (real >= pad_id).long()  # skip pad_id: draw from the other V - 1 ids
    positions = torch.arange(T)[None, :]  # (1, T)
    return torch.where(positions < torch.tensor(lengths)[:, None], real, torch.full_like(real, pad_id))


def _inputs(g, lengths=None, T=6, V=7, pad_id=0):
    if lengths is None:  # one full row, the others padded: padding always present
        lengths = [T] + torch.randint(1, T, (2,), generator=g).tolist()
    logits = 2.0 * torch.randn(len(lengths), T, V, generator=g)  # (B, T, V)
    return {"logits": logits, "targets": _targets(g, lengths, T, V, pad_id), "pad_id": pad_id}


def _nonzero_pad(g):
    kw = _inputs(g, lengths=[6, 3, 4], pad_id=4)
    kw["targets"][0, 0] = 0  # a real token with id 0: hard-coding pad_id = 0 would drop it
    return kw


def _per_sequence_mean(logits, targets, pad_id):
    real = (targets != pad_id).float()  # (B, T)
    ce = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T)
    return ((ce * real).sum(1) / real.sum(1)).mean()


register(Exercise(
    "masked_sequence_loss", 1, masked_sequence_loss_reference, _inputs,
    edge_cases=lambda g: [("no padding at all", _inputs(g, lengths=[6, 6])),
                          ("pad_id is not 0 (and 0 is a real token)", _nonzero_pad(g)),
                          ("one real token per row", _inputs(g, lengths=[1, 1, 1])),
                          ("batch of one, long sequence", _inputs(g, lengths=[5], T=9))],
    mistakes=(
        Mistake("padding is counted: cross_entropy over every position also scores the PAD targets. "
                "Use ignore_index=pad_id (or multiply by the mask targets != pad_id) and average over real tokens only.",
                lambda logits, targets, pad_id: F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))),
        Mistake("you divided by B * T, every position including padding: divide the summed loss by the number of real tokens, (targets != pad_id).sum().",
                lambda logits, targets, pad_id: F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                                                ignore_index=pad_id, reduction="sum") / targets.numel()),
        Mistake("this is the sum, not the mean: divide by the number of real tokens, (targets != pad_id).sum().",
                lambda logits, targets, pad_id: F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                                                ignore_index=pad_id, reduction="sum")),
        Mistake("you averaged each sequence first, then the sequences: a 1-token sequence then weighs as much as a 6-token one. "
                "Average over all real tokens of the batch at once.",
                _per_sequence_mean),
        Mistake("pad_id is hard-coded as 0: use the pad_id argument (here it is not 0, and 0 is a real token).",
                lambda logits, targets, pad_id: seq2seq.sequence_loss(logits, targets, pad_id=0) if bool((targets != 0).any()) else torch.tensor(float("nan"))),
        Mistake("softmax was applied before cross_entropy: F.cross_entropy takes raw logits (it applies log_softmax itself).",
                lambda logits, targets, pad_id: seq2seq.sequence_loss(torch.softmax(logits, -1), targets, pad_id=pad_id)),
    ),
    describe="logits (B, T, V), targets (B, T) long, pad_id int -> scalar mean cross-entropy over non-pad targets",
))
