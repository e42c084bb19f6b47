"""The implementations a learner would otherwise copy, written here from their public designs.

Nothing in attnlib imports this module. Shape letters as in attnlib: B batch,
S source length, T target steps, H hidden, A additive size, V vocabulary.

(a) ``broadcast_additive_score``: d2l's ``AdditiveAttention`` (d2l.ai, section
    "Attention Scoring Functions"): project queries and keys, broadcast their sum
    to a (B, T, S, A) tensor, tanh, then the linear map v. Autograd keeps the
    (B, T, S, A) activations alive for the backward pass.
(b) ``TutorialSeq2Seq`` + ``tutorial_train``: the PyTorch "NLP From Scratch:
    Translation with a Sequence to Sequence Network and Attention" tutorial's
    design (EncoderRNN / AttnDecoderRNN): an RNN encoder over the padded batch
    (no packing), a decoder that loops over the target one step at a time with
    an RNN cell and attention inside the loop (teacher forcing), log-softmax
    outputs and NLLLoss over every position, padding included (no mask), Adam
    lr 1e-3, batch 32, no clipping. The tutorial uses a GRU; we use an LSTM cell
    like attnlib so the comparison is about the design, not the cell (an LSTM is
    the faster cell on CPU here, which favours the baseline). The attention in
    the loop is the tutorial's BahdanauAttention (``Va(tanh(Wa(q) + Ua(keys)))``
    with ``Ua(keys)`` recomputed every step, as there) or Luong's dot / general
    score (as in the PyTorch chatbot tutorial's ``Attn``), without a mask.
(c) ``sdpa_luong``: ``torch.nn.functional.scaled_dot_product_attention`` with
    ``scale=1`` and a boolean mask, i.e. Luong's dot score (general: keys
    projected by W_a first).
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from attnlib.metrics import exact_match
from attnlib.vocab import BOS, EOS, PAD


# ---------------------------------------------------------------- (a) d2l additive


def broadcast_additive_score(query, keys, W_q, W_k, v):
    """d2l-style additive score: query (B, T, Hq), keys (B, S, Hk), W_q (A, Hq), W_k (A, Hk), v (A,) -> (B, T, S)."""
    q = query @ W_q.transpose(0, 1)  # (B, T, A)
    k = keys @ W_k.transpose(0, 1)  # (B, S, A)
    features = torch.tanh(q.unsqueeze(2) + k.unsqueeze(1))  # (B, T, S, A): the broadcast
    return features @ v  # (B, T, S)


def broadcast_concat_score(query, keys, W, v):
    """Luong concat by the same broadcast: W (A, Hq + Hk) split by columns -> (B, T, S)."""
    hq = query.shape[2]
    return broadcast_additive_score(query, keys, W[:, :hq], W[:, hq:], v)


# ---------------------------------------------------------------- (c) SDPA


def sdpa_luong(query, keys, mask, W=None):
    """Luong dot (W None) or general attention through SDPA: -> context (B, T, Hk).

    query (B, T, H), keys (B, S, Hk), mask (B, S) bool True on real tokens,
    W (H, Hk) for the general score (keys projected to W_a h̄_s first).
    SDPA returns only the context, not the weights.
    """
    projected = keys if W is None else keys @ W.transpose(0, 1)  # (B, S, H)
    # softmax(q kᵀ) with kᵀ the projected keys, values the raw keys; scale=1 is Luong's unscaled score.
    return F.scaled_dot_product_attention(query, projected, keys, attn_mask=mask[:, None, :], scale=1.0)  # (B, T, Hk)


# ---------------------------------------------------------------- (b) tutorial seq2seq


class TutorialEncoder(nn.Module):
    """Embedding + RNN over the whole padded batch (no packing), as the tutorial's EncoderRNN."""

    def __init__(self, vocab_size, emb_size, hidden_size, bidirectional=True):
        super().__init__()
        self.bidirectional = bidirectional
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.rnn = nn.LSTM(emb_size, hidden_size // (2 if bidirectional else 1), batch_first=True,
                           bidirectional=bidirectional)

    def forward(self, src):
        """src (B, S) -> outputs (B, S, H), (h (B, H), c (B, H)) the last states (of the padded row)."""
        outputs, (h, c) = self.rnn(self.embedding(src))  # (B, S, H)
        if self.bidirectional:
            h, c = torch.cat([h[0], h[1]], dim=-1), torch.cat([c[0], c[1]], dim=-1)  # (B, H)
        else:
            h, c = h[0], c[0]
        return outputs, (h, c)


class TutorialDecoder(nn.Module):
    """A decoder that loops over time with an LSTMCell; attention inside the loop, no mask."""

    def __init__(self, vocab_size, emb_size, hidden_size, variant="dot"):
        super().__init__()
        if variant not in ("none", "dot", "general", "bahdanau"):
            raise ValueError(f"unknown variant {variant!r}: expected 'none', 'dot', 'general' or 'bahdanau'")
        H = hidden_size
        self.variant = variant
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.cell = nn.LSTMCell(emb_size + (H if variant == "bahdanau" else 0), H)
        if variant == "general":
            self.W_a = nn.Linear(H, H, bias=False)
        if variant == "bahdanau":  # the tutorial's BahdanauAttention
            self.Wa, self.Ua, self.Va = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, 1)
        if variant in ("dot", "general"):
            self.concat = nn.Linear(2 * H, H)
        self.out = nn.Linear(H, vocab_size)

    def step(self, y_prev, state, keys):
        """y_prev (B,), state (h, c) each (B, H), keys (B, S, H) -> log-probs (B, V), state, weights (B, S) or None."""
        emb = self.embedding(y_prev)  # (B, E)
        h, c = state
        weights = None
        if self.variant == "bahdanau":
            scores = self.Va(torch.tanh(self.Wa(h)[:, None] + self.Ua(keys))).squeeze(-1)  # (B, S)
            weights = torch.softmax(scores, dim=-1)  # (B, S), padding included
            context = torch.bmm(weights[:, None], keys)[:, 0]  # (B, H)
            h, c = self.cell(torch.cat([emb, context], dim=-1), (h, c))
            out = h
        else:
            h, c = self.cell(emb, (h, c))
            out = h
            if self.variant != "none":
                k = keys if self.variant == "dot" else self.W_a(keys)  # (B, S, H)
                scores = torch.bmm(k, h[:, :, None])[:, :, 0]  # (B, S)
                weights = torch.softmax(scores, dim=-1)  # (B, S), padding included
                context = torch.bmm(weights[:, None], keys)[:, 0]  # (B, H)
                out = torch.tanh(self.concat(torch.cat([context, h], dim=-1)))  # (B, H)
        return F.log_softmax(self.out(out), dim=-1), (h, c), weights


class TutorialSeq2Seq(nn.Module):
    def __init__(self, src_vocab_size, tgt_vocab_size, variant="dot", emb_size=32, hidden_size=128):
        super().__init__()
        self.encoder = TutorialEncoder(src_vocab_size, emb_size, hidden_size)
        self.decoder = TutorialDecoder(tgt_vocab_size, emb_size, hidden_size, variant)

    def forward(self, src, tgt_in):
        """Teacher forcing: src (B, S), tgt_in (B, T) -> log-probs (B, T, V)."""
        keys, state = self.encoder(src)
        return self.decode(tgt_in, state, keys)

    def decode(self, tgt_in, state, keys):
        """The decoder loop, one step at a time: tgt_in (B, T), state (h, c) each (B, H), keys (B, S, H) -> (B, T, V)."""
        outputs = []
        for t in range(tgt_in.shape[1]):
            logp, state, _ = self.decoder.step(tgt_in[:, t], state, keys)
            outputs.append(logp)
        return torch.stack(outputs, dim=1)  # (B, T, V)

    def loss(self, src, tgt_in, tgt_out):
        return nll_over_every_position(self(src, tgt_in), tgt_out)

    @torch.no_grad()
    def greedy(self, src, max_len):
        """src (B, S) -> token ids (B, max_len), argmax at each step."""
        keys, state = self.encoder(src)
        y = torch.full((src.shape[0],), BOS, dtype=torch.long, device=src.device)
        out = []
        for _ in range(max_len):
            logp, state, _ = self.decoder.step(y, state, keys)
            y = logp.argmax(dim=-1)
            out.append(y)
        return torch.stack(out, dim=1)  # (B, max_len)


def nll_over_every_position(logp, tgt_out):
    """NLLLoss over every position, padding included, as the tutorial: logp (B, T, V), tgt_out (B, T)."""
    return F.nll_loss(logp.reshape(-1, logp.shape[-1]), tgt_out.reshape(-1))


def trim(batch, index):
    """Rows ``index`` of a padded attnlib Batch, cut to their longest source/target: (src, tgt_in, tgt_out)."""
    S = int(batch.src_len[index].max())
    T = int(batch.tgt_mask[index].sum(1).max())
    return batch.src[index, :S], batch.tgt_in[index, :T], batch.tgt_out[index, :T]


def strip(row):
    """Token ids up to (not including) the first EOS, without PAD."""
    row = row[: row.index(EOS)] if EOS in row else row
    return [t for t in row if t != PAD]


def tutorial_exact(model, eval_batch, max_len):
    """Greedy exact match of the tutorial model on a padded attnlib Batch."""
    model.eval()
    preds = [strip(r) for r in model.greedy(eval_batch.src, max_len).tolist()]
    refs = [strip(r) for r in eval_batch.tgt_out.tolist()]
    model.train()
    return exact_match(preds, refs)


def tutorial_train(model, train_batch, eval_batch, *, max_seconds, target=0.99, batch_size=32, lr=1e-3,
                   eval_every=100, seed=0, clock=time.perf_counter):
    """The tutorial's loop: Adam, random batches of 32, loss over padding, no clipping.

    Evaluation time is not counted (the clock stops while evaluating), as
    for attnlib (History.train_seconds). ``clock`` is wall time (perf_counter) or CPU time
    (process_time). -> dict(seconds, reached, exact, steps, records).
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    max_len = eval_batch.tgt_out.shape[1] + 2
    n = train_batch.src.shape[0]
    device = train_batch.src.device
    records = []
    model.train()
    try:
        return _loop(model, optimizer, train_batch, eval_batch, generator, max_seconds, target, batch_size,
                     eval_every, clock, max_len, n, device, records)
    except KeyboardInterrupt:  # stopped from outside: report how far it got
        last = records[-1] if records else {"seconds": 0.0, "exact": 0.0, "step": 0}
        return {"seconds": last["seconds"], "reached": False, "exact": last["exact"], "steps": last["step"],
                "records": records, "interrupted": True}


def _loop(model, optimizer, train_batch, eval_batch, generator, max_seconds, target, batch_size, eval_every,
          clock, max_len, n, device, records):
    trained, step, exact = 0.0, 0, 0.0
    while trained < max_seconds:
        start = clock()
        for _ in range(eval_every):
            index = torch.randint(n, (batch_size,), generator=generator).to(device)
            loss = model.loss(*trim(train_batch, index))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
        loss.item()  # synchronises a GPU before the clock stops
        trained += clock() - start
        exact = tutorial_exact(model, eval_batch, max_len)
        records.append({"step": step, "seconds": trained, "exact": exact})
        if exact >= target:
            return {"seconds": trained, "reached": True, "exact": exact, "steps": step, "records": records}
    return {"seconds": trained, "reached": False, "exact": exact, "steps": step, "records": records}
