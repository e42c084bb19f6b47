"""The encoder: embedding + (bidirectional) RNN over packed sequences.

Padding never reaches the RNN: sequences are packed by length, so a padded
sentence gets exactly the states it would get alone, and the final state is
the state after its last real token.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ._validate import check_nonempty, check_size, check_tensor
from .vocab import PAD

RNNS = {"lstm": nn.LSTM, "gru": nn.GRU}


def make_rnn(kind: str, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False):
    if kind not in RNNS:
        raise ValueError(f"unknown rnn {kind!r}: expected one of {sorted(RNNS)}")
    return RNNS[kind](input_size, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional)


def state_to_rnn(state: dict, kind: str):
    """Batch-first decoder state {'h': (B, L, H)[, 'c']} -> what nn.LSTM / nn.GRU take, (L, B, H)."""
    h = state["h"].transpose(0, 1).contiguous()  # (L, B, H)
    return (h, state["c"].transpose(0, 1).contiguous()) if kind == "lstm" else h


def state_from_rnn(hidden, kind: str) -> dict:
    """nn.LSTM / nn.GRU final state, (L, B, H) -> batch-first {'h': (B, L, H)[, 'c']}."""
    if kind == "lstm":
        return {"h": hidden[0].transpose(0, 1), "c": hidden[1].transpose(0, 1)}
    return {"h": hidden.transpose(0, 1)}


class Encoder(nn.Module):
    """forward(src (B, S) long, src_len (B,) long) -> outputs (B, S, Hk), state.

    Hk = hidden_size * (2 if bidirectional else 1). ``state`` is the decoder's
    starting point, {'h': (B, L, Hk)} (and 'c' for an LSTM): for a
    bidirectional encoder, the last forward state and the last backward state
    (the one at the first token) are concatenated. Outputs at padded
    positions are zero.
    """

    def __init__(self, vocab_size: int, emb_size: int, hidden_size: int, rnn: str = "lstm",
                 bidirectional: bool = True, num_layers: int = 1):
        super().__init__()
        self.kind, self.num_layers, self.bidirectional = rnn, num_layers, bidirectional
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.embedding = nn.Embedding(vocab_size, emb_size, padding_idx=PAD)
        self.rnn = make_rnn(rnn, emb_size, hidden_size, num_layers, bidirectional)

    def forward(self, src: torch.Tensor, src_len: torch.Tensor):
        check_tensor("src", src, 2, "(B, S)")
        check_nonempty("src", src)
        check_tensor("src_len", src_len, 1, "(B,)")
        check_size("src_len batch size B", src_len.shape[0], src.shape[0])
        lengths = src_len.detach().to("cpu", torch.long)
        if int(lengths.min()) < 1 or int(lengths.max()) > src.shape[1]:
            raise ValueError(f"src_len must lie in [1, S={src.shape[1]}], got min {int(lengths.min())}, max {int(lengths.max())}")
        packed = pack_padded_sequence(self.embedding(src), lengths, batch_first=True, enforce_sorted=False)
        out, hidden = self.rnn(packed)
        outputs, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # (B, S, Hk)
        return outputs, self._merge_directions(hidden)

    def _merge_directions(self, hidden) -> dict:
        def merge(h):  # (L * dirs, B, H) -> (L, B, dirs * H)
            if not self.bidirectional:
                return h
            L, B, H = self.num_layers, h.shape[1], h.shape[2]
            h = h.view(L, 2, B, H)
            return torch.cat([h[:, 0], h[:, 1]], dim=-1)  # (L, B, 2H)

        hidden = tuple(merge(h) for h in hidden) if self.kind == "lstm" else merge(hidden)
        return state_from_rnn(hidden, self.kind)
