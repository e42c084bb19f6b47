"""Three decoders: the fixed-context bottleneck, Luong, and Bahdanau.

They share one interface, so that training, greedy decoding and beam search
treat them alike:

    memory = decoder.prepare(keys (B, S, Hk), mask (B, S))
    state  = decoder.init_state(encoder_state)          # dict of batch-first tensors
    logits (B, T, V), weights (B, T, S) or None = decoder(tgt_in (B, T), state, memory)
    logits (B, V), state, weights (B, S) or None = decoder.step(y_prev (B,), state, memory)

Every decoder starts from the encoder's last state. Where attention sits:
- Luong: the RNN steps first, then h_t attends, h̃_t = tanh(W_c [c_t; h_t])
  (Luong et al. 2015, eq. 5) and p(y_t) = softmax(W_s h̃_t) (eq. 6). Without
  input feeding h_t does not depend on attention, so teacher-forced training
  runs the RNN over all steps in one call and attends for all steps at once.
  With ``window=D`` it attends locally (section 3.2, attnlib.local): local-m's
  p_t = t and local-p's p_t from h_t are known for every step at once too;
  step-by-step decoding counts t in the state (``"t"``, (B,) long).
- Bahdanau: s_{i-1} attends first, and the context enters the recurrence,
  s_i = f(s_{i-1}, y_{i-1}, c_i) (Bahdanau et al. 2014, the line under eq. 4;
  f is the gated unit of appendix A.1.1, with c_i fed in as in A.2.2), so it
  runs step by step; p(y_i) = g(y_{i-1}, s_i, c_i) (eq. 4) with a linear g
  (the paper's g has one maxout layer).

Where attnlib departs from the letter of the papers (the notebooks say so too):
- Bahdanau's readout uses s_i, as eq. 4 writes g(y_{i-1}, s_i, c_i); appendix
  A.2.2 computes the same readout t̃_i from s_{i-1} instead.
- Bahdanau's s_0: the paper uses s_0 = tanh(W_s h⃖_1) (A.2.2), from the
  backward state at the first word; attnlib starts from the encoder's final
  state [h⃗_last; h⃖_1] as it is, without W_s and tanh (the decoder has H units,
  the two directions H/2 each).
- With an LSTM the state is (h, c): the query s_{i-1} is h, never the cell c.
- With a GRU, PyTorch's cell applies its reset gate after the recurrent matrix,
  r ∘ (U s_{i-1} + b), where A.1.1 and A.2.2 write U (r ∘ s_{i-1}).
- The decoder without attention sees only the encoder's final state, as in
  Sutskever et al. 2014 (Cho et al. 2014 also feed that vector to every step
  and to the output layer).
- Luong's eq. 6 is p = softmax(W_s h̃_t) without a bias; W_s here has one, b_s.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .attention import BahdanauAttention, LuongAttention
from .local import LocalAttention
from .encoder import make_rnn, state_from_rnn, state_to_rnn
from .vocab import PAD


@dataclass
class Memory:
    """What the decoder reads from the encoder, fixed for a whole sentence.

    keys (B, S, Hk) encoder outputs; mask (B, S) bool; key_proj (B, S, A) or None
    (Bahdanau's U_a h_j, computed once per sentence).
    """

    keys: torch.Tensor
    mask: torch.Tensor
    key_proj: torch.Tensor | None = None

    def repeat_interleave(self, k: int) -> "Memory":
        """Each sentence repeated k times in a row: (B, ...) -> (B * k, ...), for beam search."""
        rep = lambda x: None if x is None else x.repeat_interleave(k, dim=0)  # noqa: E731
        return Memory(rep(self.keys), rep(self.mask), rep(self.key_proj))


def reorder_state(state: dict, index: torch.Tensor) -> dict:
    """Select batch rows of every tensor in a decoder state: index (B',) -> state of batch B'."""
    return {name: t.index_select(0, index) for name, t in state.items()}


class Decoder(nn.Module):
    """Base: an embedding, an output layer, and step-by-step teacher forcing."""

    has_attention = True

    def prepare(self, keys: torch.Tensor, mask: torch.Tensor) -> Memory:
        return Memory(keys, mask)

    def init_state(self, encoder_state: dict) -> dict:
        return dict(encoder_state)

    def step(self, y_prev, state, memory):
        raise NotImplementedError

    def forward(self, tgt_in: torch.Tensor, state: dict, memory: Memory):
        """Teacher forcing one step at a time: tgt_in (B, T) -> logits (B, T, V), weights (B, T, S) or None."""
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            step_logits, state, w = self.step(tgt_in[:, t], state, memory)
            logits.append(step_logits)
            weights.append(w)
        stacked = torch.stack(weights, dim=1) if self.has_attention else None  # (B, T, S)
        return torch.stack(logits, dim=1), stacked  # (B, T, V)


class NoAttentionDecoder(Decoder):
    """The fixed-context bottleneck (Sutskever et al. 2014): the encoder's last state is all it sees.

    It starts from that state and never reads it again (Cho et al. 2014 would also feed it to every step and to
    the output layer).
    """

    has_attention = False

    def __init__(self, vocab_size: int, emb_size: int, hidden_size: int, rnn: str = "lstm", num_layers: int = 1):
        super().__init__()
        self.kind = rnn
        self.embedding = nn.Embedding(vocab_size, emb_size, padding_idx=PAD)
        self.rnn = make_rnn(rnn, emb_size, hidden_size, num_layers)
        self.out = nn.Linear(hidden_size, vocab_size)

    def forward(self, tgt_in, state, memory):
        outputs, _ = self.rnn(self.embedding(tgt_in), state_to_rnn(state, self.kind))  # (B, T, H)
        return self.out(outputs), None  # (B, T, V)

    def step(self, y_prev, state, memory):
        output, hidden = self.rnn(self.embedding(y_prev[:, None]), state_to_rnn(state, self.kind))  # (B, 1, H)
        return self.out(output[:, 0]), state_from_rnn(hidden, self.kind), None


class LuongDecoder(Decoder):
    """Luong et al. 2015 decoder, optionally with input feeding (section 3.3).

    Global attention (section 3.1) by default; ``window=D`` makes it local
    (section 3.2): local-m, or local-p with ``predictive=True``.
    """

    def __init__(self, vocab_size: int, emb_size: int, hidden_size: int, key_size: int, score: str = "dot",
                 rnn: str = "lstm", num_layers: int = 1, input_feeding: bool = False, attn_size: int | None = None,
                 window: int | None = None, predictive: bool = False):
        super().__init__()
        self.kind, self.input_feeding, self.hidden_size = rnn, input_feeding, hidden_size
        self.local = window is not None
        if predictive and not self.local:
            raise ValueError("predictive=True (local-p) needs a window D: pass window=D")
        self.embedding = nn.Embedding(vocab_size, emb_size, padding_idx=PAD)
        self.rnn = make_rnn(rnn, emb_size + (hidden_size if input_feeding else 0), hidden_size, num_layers)
        if self.local:
            self.attention = LocalAttention(hidden_size, score, key_size, window, predictive, attn_size)
        else:
            self.attention = LuongAttention(hidden_size, score, key_size, attn_size)
        self.W_c = nn.Linear(key_size + hidden_size, hidden_size, bias=False)
        self.W_s = nn.Linear(hidden_size, vocab_size)

    def init_state(self, encoder_state):
        state = dict(encoder_state)
        if self.input_feeding:  # h̃_0 = 0
            state["feed"] = encoder_state["h"].new_zeros(encoder_state["h"].shape[0], self.hidden_size)
        if self.local:  # the target step t, local-m's p_t
            state["t"] = torch.zeros(encoder_state["h"].shape[0], dtype=torch.long, device=encoder_state["h"].device)
        return state

    def _attend(self, h, memory, steps=None):
        """h (B, T, H), steps (B, T) or None (local only) -> logits (B, T, V), weights (B, T, S), h̃ (B, T, H)."""
        if self.local:
            context, weights = self.attention(h, memory.keys, memory.mask, steps)  # (B, T, Hk), (B, T, S)
        else:
            context, weights = self.attention(h, memory.keys, memory.mask)  # (B, T, Hk), (B, T, S)
        h_tilde = torch.tanh(self.W_c(torch.cat([context, h], dim=-1)))  # (B, T, H): eq. 5
        return self.W_s(h_tilde), weights, h_tilde  # eq. 6 plus a bias b_s (the paper has none); softmax in the loss

    def forward(self, tgt_in, state, memory):
        if self.input_feeding:
            return super().forward(tgt_in, state, memory)
        h, _ = self.rnn(self.embedding(tgt_in), state_to_rnn(state, self.kind))  # (B, T, H): all steps at once
        steps = None
        if self.local:  # p_t = t for local-m, from the state's counter on
            steps = state["t"][:, None] + torch.arange(tgt_in.shape[1], device=tgt_in.device)  # (B, T)
        logits, weights, _ = self._attend(h, memory, steps)
        return logits, weights

    def step(self, y_prev, state, memory):
        x = self.embedding(y_prev[:, None])  # (B, 1, E)
        if self.input_feeding:
            x = torch.cat([x, state["feed"][:, None]], dim=-1)  # (B, 1, E + H)
        h, hidden = self.rnn(x, state_to_rnn(state, self.kind))  # (B, 1, H)
        logits, weights, h_tilde = self._attend(h, memory, state["t"][:, None] if self.local else None)
        new_state = state_from_rnn(hidden, self.kind)
        if self.input_feeding:
            new_state["feed"] = h_tilde[:, 0]
        if self.local:
            new_state["t"] = state["t"] + 1
        return logits[:, 0], new_state, weights[:, 0]


class BahdanauDecoder(Decoder):
    """Bahdanau et al. 2014 decoder: attend with s_{i-1}, feed [E y_{i-1}; c_i] to the RNN cell.

    s_i = f(s_{i-1}, y_{i-1}, c_i) (the line under eq. 4; f from A.1.1, c_i's input from A.2.2). The readout
    g(y_{i-1}, s_i, c_i) uses s_i as in eq. 4 (A.2.2 uses s_{i-1}); s_0 is the encoder's [h⃗_last; h⃖_1] as is
    (A.2.2: tanh(W_s h⃖_1)); with an LSTM the query is h, not c; PyTorch's GRU cell puts the reset gate after U.
    """

    def __init__(self, vocab_size: int, emb_size: int, hidden_size: int, key_size: int,
                 attn_size: int | None = None, rnn: str = "lstm"):
        super().__init__()
        if rnn not in ("lstm", "gru"):
            raise ValueError(f"unknown rnn {rnn!r}: expected 'gru' or 'lstm'")
        self.kind = rnn
        self.embedding = nn.Embedding(vocab_size, emb_size, padding_idx=PAD)
        cell = nn.LSTMCell if rnn == "lstm" else nn.GRUCell
        self.cell = cell(emb_size + key_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size, key_size, attn_size or hidden_size)
        self.out = nn.Linear(hidden_size + key_size + emb_size, vocab_size)

    def prepare(self, keys, mask):
        return Memory(keys, mask, self.attention.project_keys(keys))  # U_a h_j, once per sentence

    def init_state(self, encoder_state):
        """s_0 = [h⃗_last; h⃖_1], the encoder's final state as it is (the paper: s_0 = tanh(W_s h⃖_1), A.2.2)."""
        if encoder_state["h"].shape[1] != 1:
            raise ValueError("the Bahdanau decoder has one layer: use an encoder with num_layers=1")
        return {name: t[:, 0] for name, t in encoder_state.items()}  # (B, H)

    def step(self, y_prev, state, memory):
        s_prev = state["h"]  # (B, H): s_{i-1}; with an LSTM the hidden h, never the cell c
        context, weights = self.attention(s_prev[:, None], memory.keys, memory.mask, memory.key_proj)
        context, weights = context[:, 0], weights[:, 0]  # (B, Hk): c_i, (B, S): α_i
        y = self.embedding(y_prev)  # (B, E): E y_{i-1}
        x = torch.cat([y, context], dim=-1)  # (B, E + Hk)
        if self.kind == "lstm":
            h, c = self.cell(x, (s_prev, state["c"]))
            new_state = {"h": h, "c": c}
        else:
            h = self.cell(x, s_prev)
            new_state = {"h": h}
        logits = self.out(torch.cat([h, context, y], dim=-1))  # (B, V): g(y_{i-1}, s_i, c_i), eq. 4 (A.2.2: s_{i-1})
        return logits, new_state, weights
