"""Stage 4 exercises: the context vector, and the decoder's first state (the last REAL encoder output)."""
from __future__ import annotations

import torch

from .. import attention
from .core import Exercise, Mistake, register


def last_encoder_state_reference(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """outputs (B, S, H), lengths (B,) long -> (B, H): outputs[b, lengths[b] - 1]."""
    return outputs[torch.arange(outputs.shape[0]), lengths - 1]  # (B, H)


def _ctx_inputs(g, B=2, T=3, S=5, H=4):
    weights = torch.softmax(2.0 * torch.randn(B, T, S, generator=g), dim=-1)  # (B, T, S), rows sum to 1
    return {"weights": weights, "values": torch.randn(B, S, H, generator=g)}


register(Exercise(
    "context_vector", 4, attention.context_vector, _ctx_inputs,
    edge_cases=lambda g: [("T == S (a transposed weight matrix would fit)", _ctx_inputs(g, T=4, S=4)),
                          ("one source position", _ctx_inputs(g, S=1)),
                          ("one decoder step, batch of one", _ctx_inputs(g, B=1, T=1, S=6, H=3))],
    mistakes=(
        Mistake("the weights are not used: this is the plain average of the encoder states. "
                "Each step t needs its own weighted sum Σ_s weights[b, t, s] · values[b, s].",
                lambda weights, values: values.mean(1, keepdim=True).expand(-1, weights.shape[1], -1)),
        Mistake("the weights are transposed: weights (B, T, S) @ values (B, S, H) gives (B, T, H); "
                "weights.transpose(1, 2) only fits when T == S, and then mixes up steps and positions.",
                lambda weights, values: torch.bmm(weights.transpose(1, 2), values)),
        Mistake("the weighted encoder states are not summed: sum over the source axis S to get one vector per step, (B, T, H).",
                lambda weights, values: weights[..., None] * values[:, None]),
        Mistake("you summed over the decoder steps T: the weighted sum runs over source positions S (weights[b, t, :] for each t).",
                lambda weights, values: (weights[..., None] * values[:, None]).sum(1)),
    ),
    describe="weights (B, T, S), values (B, S, H) -> context (B, T, H)",
))


def _last_inputs(g, B=3, S=6, H=4, lengths=None):
    if lengths is None:  # one full row, the others padded
        lengths = [S] + torch.randint(1, S, (B - 1,), generator=g).tolist()
    return {"outputs": torch.randn(B, S, H, generator=g), "lengths": torch.tensor(lengths, dtype=torch.long)}


register(Exercise(
    "last_encoder_state", 4, last_encoder_state_reference, _last_inputs,
    edge_cases=lambda g: [("every row padded", _last_inputs(g, lengths=[2, 5, 1])),
                          ("no padding", _last_inputs(g, lengths=[6, 6, 6])),
                          ("length 1", _last_inputs(g, B=2, S=3, lengths=[1, 1]))],
    mistakes=(
        Mistake("outputs[:, -1] is the last COLUMN: for a shorter sentence it is the output at a padding position. "
                "Take outputs[b, lengths[b] - 1] (e.g. outputs[torch.arange(B), lengths - 1]).",
                lambda outputs, lengths: outputs[:, -1]),
        Mistake("off by one: the last real position is lengths - 1 (positions count from 0); outputs[b, lengths[b]] "
                "is one past it, and out of range for a sentence that fills all S positions.",
                lambda outputs, lengths: outputs[torch.arange(outputs.shape[0]), lengths]),
        Mistake("outputs[:, 0] is the state after the FIRST token only: the decoder starts from the last real one.",
                lambda outputs, lengths: outputs[:, 0]),
        Mistake("this is the mean over the real positions, not the last real state.",
                lambda outputs, lengths: (outputs * (torch.arange(outputs.shape[1])[None, :, None] < lengths[:, None, None])).sum(1)
                / lengths[:, None].to(outputs.dtype)),
    ),
    describe="outputs (B, S, H), lengths (B,) long -> state (B, H), the output at position lengths[b] - 1",
))
