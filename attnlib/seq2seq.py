"""The encoder-decoder wrapper: masked loss, greedy decoding and beam search.

    logits (B, T, V), weights (B, T, S) or None = model(src (B, S), src_len (B,), tgt_in (B, T))
    loss = sequence_loss(logits, tgt_out (B, T))            # padding ignored
    Decoded(tokens (B, T'), weights (B, T', S) or None, scores (B,), finished (B,)) = model.greedy(...) / model.beam_search(...)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import check_size, check_tensor
from .decoders import BahdanauDecoder, LuongDecoder, NoAttentionDecoder, reorder_state
from .encoder import Encoder
from .vocab import BOS, EOS, PAD

VARIANTS = ("none", "dot", "general", "concat", "bahdanau", "local-m", "local-p")
LOCAL = {"local-m": False, "local-p": True}  # local variant -> predictive (Luong et al. 2015, section 3.2)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model (stored in checkpoints as plain data)."""

    variant: str = "dot"          # "none" (bottleneck), Luong "dot" | "general" | "concat", "bahdanau", Luong local "local-m" | "local-p"
    emb_size: int = 32            # characters need few dimensions
    hidden_size: int = 128        # decoder size H; each encoder direction gets H/2 (Bahdanau: n each, keys 2n), so keys are H too
    rnn: str = "lstm"             # LSTM: ≈1.7x faster than GRU on CPU at these sizes (FIELD-NOTES)
    bidirectional: bool = True    # every key sees its whole sentence (Bahdanau's annotations)
    num_layers: int = 1
    attn_size: int | None = None  # A for concat/additive scores; None means hidden_size
    input_feeding: bool = False   # Luong 3.3; off keeps teacher forcing a single RNN call
    window: int = 10              # local-m/-p: D, the window [p_t - D, p_t + D]; Luong's D = 10 (section 4.1)
    local_score: str = "general"  # local-m/-p score inside the window: Luong's best local model is local-p (general)

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}: expected one of {VARIANTS}")
        if self.variant in LOCAL:
            if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < (1 if LOCAL[self.variant] else 0):
                raise ValueError(f"window D of {self.variant} must be an int >= {1 if LOCAL[self.variant] else 0} "
                                 f"(local-p's σ = D/2 must be > 0), got {self.window!r}")
            if self.local_score not in ("dot", "general"):
                raise ValueError(f"unknown local_score {self.local_score!r}: expected 'dot' or 'general'")
        if self.bidirectional and self.hidden_size % 2:
            raise ValueError(f"a bidirectional encoder needs an even hidden_size, got {self.hidden_size}")


def build_model(config: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> "Seq2Seq":
    """A Seq2Seq of the configured variant; the decoder starts from the encoder's last state."""
    H, E = config.hidden_size, config.emb_size
    enc_hidden = H // 2 if config.bidirectional else H
    encoder = Encoder(src_vocab_size, E, enc_hidden, config.rnn, config.bidirectional, config.num_layers)
    if config.variant == "none":
        decoder = NoAttentionDecoder(tgt_vocab_size, E, H, config.rnn, config.num_layers)
    elif config.variant == "bahdanau":
        if config.num_layers != 1:
            raise ValueError("the Bahdanau model has one layer (num_layers=1)")
        decoder = BahdanauDecoder(tgt_vocab_size, E, H, H, config.attn_size, config.rnn)
    elif config.variant in LOCAL:
        decoder = LuongDecoder(tgt_vocab_size, E, H, H, config.local_score, config.rnn, config.num_layers,
                               config.input_feeding, config.attn_size, config.window, LOCAL[config.variant])
    else:
        decoder = LuongDecoder(tgt_vocab_size, E, H, H, config.variant, config.rnn, config.num_layers,
                               config.input_feeding, config.attn_size)
    return Seq2Seq(encoder, decoder, config)


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor, pad_id: int = PAD) -> torch.Tensor:
    """Mean cross-entropy over real target tokens: padding contributes nothing.

    logits (B, T, V), targets (B, T) long -> scalar.
    """
    check_tensor("logits", logits, 3, "(B, T, V)")
    check_tensor("targets", targets, 2, "(B, T)")
    if tuple(targets.shape) != tuple(logits.shape[:2]):
        raise ValueError(f"targets must have shape (B, T) = {tuple(logits.shape[:2])}, got {tuple(targets.shape)}")
    real = targets != pad_id
    if not bool(real.any()):
        raise ValueError("targets hold no real token: every position is padding")
    total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=pad_id, reduction="sum")
    return total / real.sum()


@dataclass
class Decoded:
    """Decoder output: tokens (B, T') ending in EOS then PAD; weights (B, T', S) per step or None; scores (B,) log-prob;
    finished (B,) bool: False where the returned hypothesis was cut by max_len before it produced EOS."""

    tokens: torch.Tensor
    weights: torch.Tensor | None
    scores: torch.Tensor
    finished: torch.Tensor | None = None

    @property
    def cut(self) -> int:
        """How many returned hypotheses stopped at max_len without EOS."""
        return 0 if self.finished is None else int((~self.finished).sum())


def default_max_len(src_len) -> int:
    """The decoding limit when none is given: 4 S + 16 steps for the longest source S of the batch.

    Derived from the source, never from a reference (there is none at inference). It covers the course's
    tasks with room: dates need at most 11 steps (10 characters + EOS) from S >= 6, SCAN 49 (48 actions +
    EOS, "... around left thrice and ... around right thrice") from S = 9 words (4 * 9 + 16 = 52).
    """
    S = int(src_len.max()) if isinstance(src_len, torch.Tensor) else int(max(src_len))
    return 4 * S + 16


class Seq2Seq(nn.Module):
    def __init__(self, encoder: Encoder, decoder, config: ModelConfig | None = None):
        super().__init__()
        self.encoder, self.decoder, self.config = encoder, decoder, config

    def config_dict(self) -> dict:
        return asdict(self.config) if self.config is not None else {}

    def encode(self, src, src_len):
        """-> memory (keys (B, S, Hk), mask (B, S)), decoder start state."""
        keys, enc_state = self.encoder(src, src_len)
        mask = torch.arange(src.shape[1], device=src.device)[None, :] < src_len.to(src.device)[:, None]  # (B, S)
        return self.decoder.prepare(keys, mask), self.decoder.init_state(enc_state)

    def forward(self, src, src_len, tgt_in):
        """Teacher forcing: -> logits (B, T, V), weights (B, T, S) or None."""
        check_tensor("tgt_in", tgt_in, 2, "(B, T)")
        check_size("tgt_in batch size B vs src", tgt_in.shape[0], src.shape[0])
        memory, state = self.encode(src, src_len)
        return self.decoder(tgt_in, state, memory)

    def loss(self, batch) -> torch.Tensor:
        logits, _ = self(batch.src, batch.src_len, batch.tgt_in)
        return sequence_loss(logits, batch.tgt_out)

    @torch.no_grad()
    def greedy(self, src, src_len, max_len: int | None = None) -> Decoded:
        """Pick the most probable token at each step, until EOS or max_len (None: default_max_len(src_len))."""
        return self.beam_search(src, src_len, beam_size=1, max_len=max_len)

    @torch.no_grad()
    def beam_search(self, src, src_len, beam_size: int = 5, max_len: int | None = None, length_penalty: float = 0.0) -> Decoded:
        """Keep the beam_size best partial translations per sentence; return the best finished one.

        A finished hypothesis (it has produced EOS) stays in the beam, extended
        only by PAD at no cost; an unfinished one can never produce PAD or BOS.
        At the end, a sentence with at least one finished hypothesis returns the
        best finished one, even when an unfinished beam (cut by max_len) scores
        higher; only a sentence with none returns its best unfinished beam.
        Ranked by log-prob / length ** length_penalty (0: by log-prob alone).
        beam_size=1 is greedy decoding. max_len None means default_max_len(src_len),
        4 S + 16; ``Decoded.finished`` (B,) is False for a returned hypothesis that
        max_len cut before EOS (its tokens end without EOS).

        Beam search is a heuristic: a wider beam usually finds a more probable
        output, but not always. A hypothesis that would have scored best later
        can fall out of the beam early, and one that a narrower beam keeps
        (greedy's path) can be pushed out by two others that end worse. The
        notebooks (05) and tests/test_models.py show such a case.
        """
        if max_len is None:
            max_len = default_max_len(src_len)
        if beam_size < 1 or max_len < 1:
            raise ValueError(f"beam_size and max_len must be >= 1, got {beam_size} and {max_len}")
        B, K = src.shape[0], beam_size
        memory, state = self.encode(src, src_len)
        memory, state = memory.repeat_interleave(K), reorder_state(state, torch.arange(B, device=src.device).repeat_interleave(K))
        y = torch.full((B * K,), BOS, dtype=torch.long, device=src.device)
        scores = torch.full((B, K), float("-inf"), device=src.device)
        scores[:, 0] = 0.0  # all beams start identical: keep one
        finished = torch.zeros(B, K, dtype=torch.bool, device=src.device)
        lengths = torch.zeros(B, K, device=src.device)
        tokens, weights = [], []
        offsets = (torch.arange(B, device=src.device) * K)[:, None]  # (B, 1)
        for _ in range(max_len):
            logits, state, w = self.decoder.step(y, state, memory)
            logp = torch.log_softmax(logits.float(), dim=-1).view(B, K, -1)  # (B, K, V)
            V = logp.shape[-1]
            done = finished[..., None].expand_as(logp)
            pad_only = torch.full_like(logp, float("-inf"))
            pad_only[..., PAD] = 0.0
            logp = logp.clone()
            logp[..., PAD] = float("-inf")  # an unfinished beam never writes padding ...
            logp[..., BOS] = float("-inf")  # ... nor a second start symbol
            logp = torch.where(done, pad_only, logp)  # a finished beam only extends with PAD, at no cost
            top, index = (scores[..., None] + logp).view(B, K * V).topk(K, dim=-1)  # (B, K)
            beam, tok = index // V, index % V
            rows = (offsets + beam).view(-1)  # (B * K,)
            state = reorder_state(state, rows)
            tokens = [t.index_select(0, rows) for t in tokens] + [tok.view(-1)]
            if w is not None:
                weights = [x.index_select(0, rows) for x in weights] + [w.index_select(0, rows)]
            finished = finished.gather(1, beam)
            lengths = lengths.gather(1, beam) + (~finished).float()
            finished = finished | (tok == EOS)
            scores, y = top, tok.view(-1)
            if bool(finished.all()):
                break
        ranked = scores / lengths.clamp(min=1) ** length_penalty if length_penalty else scores
        some_finished = finished.any(dim=1, keepdim=True)  # (B, 1)
        ranked = ranked.masked_fill(some_finished & ~finished, float("-inf"))  # finished ones first, when there are any
        best = (offsets[:, 0] + ranked.argmax(dim=-1))  # (B,)
        out_tokens = torch.stack(tokens, dim=1).index_select(0, best)  # (B, T')
        out_weights = torch.stack(weights, dim=1).index_select(0, best) if weights else None  # (B, T', S)
        return Decoded(out_tokens, out_weights, scores.view(-1).index_select(0, best), finished.view(-1).index_select(0, best))
