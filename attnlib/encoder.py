"""The encoder: embedding + (bidirectional) RNN that never lets padding in.

A padded sentence gets exactly the states it would get alone, and the final
state is the state after its last real token. Two ways to get there:

- Packing (``pack_padded_sequence``): used where the RNN kernel supports it
  natively (cuDNN on a GPU).
- On CPU packing falls back to a slow step-by-step loop (about 3x slower than
  the fused kernel here), so instead the fused kernel runs over the padded
  batch with one extra input feature, 1 at padding and 0 at real tokens
  (``_run_fused``). Its weights saturate the gates at padding: an LSTM's
  forget gate becomes exactly 1 and its input gate exactly 0, so the cell
  state c passes through padding unchanged; a GRU's update gate becomes
  exactly 1, so h does. The backward direction, which reads the padding
  first, therefore starts each sentence from the zero state, and the forward
  direction carries its last real cell state to the end; its last real h is
  read from the outputs. At real tokens the feature is 0 and changes nothing;
  at padding the saturated gates have zero derivative, so gradients are
  those of the packed run too.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ._validate import check_nonempty, check_size, check_tensor
from .vocab import PAD

RNNS = {"lstm": nn.LSTM, "gru": nn.GRU}

# Gate pre-activation added at padding: sigmoid(±1e4) is exactly 1 / 0 in float32, bfloat16 and float16.
_SATURATE = 1e4
# Rows of weight_ih per gate, in PyTorch's order: LSTM (i, f, g, o), GRU (r, z, n).
_PAD_GATES = {"lstm": {0: -_SATURATE, 1: _SATURATE}, "gru": {1: _SATURATE}}


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

    Hk = hidden_size * (2 if bidirectional else 1): build_model gives each direction H/2 units, so that keys
    and decoder have the same size H (Bahdanau et al. give each direction n units, the annotations 2n, and
    the decoder n). ``state`` is the decoder's
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
        self.use_packing = None  # None: pack on a GPU, fused on CPU; True / False force one (tests compare them)

    def forward(self, src: torch.Tensor, src_len: torch.Tensor):
        check_tensor("src", src, 2, "(B, S)")
        check_nonempty("src", src)
        check_tensor("src_len", src_len, 1, "(B,)")
        check_size("src_len batch size B", src_len.shape[0], src.shape[0])
        lengths = src_len.detach().to("cpu", torch.long)
        if int(lengths.min()) < 1 or int(lengths.max()) > src.shape[1]:
            raise ValueError(f"src_len must lie in [1, S={src.shape[1]}], got min {int(lengths.min())}, max {int(lengths.max())}")
        x = self.embedding(src)  # (B, S, E)
        packing = self.use_packing if self.use_packing is not None else src.device.type != "cpu"
        return self._run_packed(x, lengths) if packing else self._run_fused(x, lengths)

    def _run_packed(self, x, lengths):
        out, hidden = self.rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        outputs, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # (B, S, Hk)
        return outputs, self._merge_directions(hidden)

    def _run_fused(self, x, lengths):
        B, S, _ = x.shape
        H, dirs = self.rnn.hidden_size, 2 if self.bidirectional else 1
        lengths = lengths.to(x.device)
        padding = torch.arange(S, device=x.device)[None, :, None] >= lengths[:, None, None]  # (B, S, 1) bool
        pad_feature = padding.to(x.dtype)  # the extra input feature: 1 at padding, 0 at real tokens
        zeros = x.new_zeros(dirs, B, H)
        run, hx = (torch.lstm, (zeros, zeros)) if self.kind == "lstm" else (torch.gru, zeros)  # what nn.LSTM/GRU call
        hs, cs = [], []
        for layer in range(self.num_layers):
            weights = [w for d in range(dirs) for w in self._layer_weights(layer, d)]
            x, *hidden = run(torch.cat([x, pad_feature], dim=-1), hx, weights, True, 1, 0.0, self.training,
                             self.bidirectional, True)  # x (B, S, dirs * H), hidden (dirs, B, H) each
            last = x[torch.arange(B, device=x.device), lengths - 1, :H]  # (B, H) forward: last real output
            hs.append(torch.cat([last[None], hidden[0][1:]]))  # (dirs, B, H): backward ended at token 0
            if self.kind == "lstm":
                cs.append(hidden[1])  # c passed through padding unchanged
        outputs = x.masked_fill(padding, 0.0)  # (B, S, Hk), zero at padding
        hidden = (torch.cat(hs), torch.cat(cs)) if self.kind == "lstm" else torch.cat(hs)  # (L * dirs, B, H)
        return outputs, self._merge_directions(hidden)

    def _layer_weights(self, layer: int, direction: int):
        """[W_ih | padding column], W_hh, b_ih, b_hh of one layer and direction, for torch.lstm / torch.gru."""
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        w_ih = getattr(self.rnn, "weight_ih" + suffix)  # (G * H, D)
        column = w_ih.new_zeros(w_ih.shape[0], 1)
        H = self.rnn.hidden_size
        for gate, value in _PAD_GATES[self.kind].items():
            column[gate * H:(gate + 1) * H] = value
        return [torch.cat([w_ih, column], dim=1)] + [getattr(self.rnn, n + suffix) for n in ("weight_hh", "bias_ih", "bias_hh")]

    def _merge_directions(self, hidden) -> dict:
        def merge(h):  # (L * dirs, B, H) -> (L, B, dirs * H)
            if not self.bidirectional:
                return h
            L, B, H = self.num_layers, h.shape[1], h.shape[2]
            h = h.view(L, 2, B, H)
            return torch.cat([h[:, 0], h[:, 1]], dim=-1)  # (L, B, 2H)

        hidden = tuple(merge(h) for h in hidden) if self.kind == "lstm" else merge(hidden)
        return state_from_rnn(hidden, self.kind)
