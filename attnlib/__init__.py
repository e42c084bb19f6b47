"""attnlib: reference implementations for the attention course.

Shape legend, used in every docstring and comment of the package:

    B  batch size               S  source length (encoder steps)
    T  target length (decoder steps)
    H  hidden size (Hq of a query, Hk of a key)   A  additive-attention size
    V  vocabulary size          E  embedding size  L  RNN layers

A source ``mask`` is a bool tensor (B, S), True where the position holds a
real token. Scores and attention weights are (B, T, S): one row per decoder
step, one column per source position.

Modules, lowest first (imports flow downward only):
    scores      dot, general, concat, additive scores (pure functions)
    attention   masked softmax, context vector, LuongAttention, BahdanauAttention
    encoder     embedding + (bi)RNN over packed sequences
    decoders    no attention, Luong, Bahdanau
    seq2seq     model wrapper, masked loss, greedy decoding and beam search
    vocab, data vocabularies, padded batches, date and symbol tasks, corpus reader
    metrics, train, checkpoints, device, viz
"""
from .attention import BahdanauAttention, LuongAttention, context_vector, masked_softmax
from .device import configure_threads, default_device, seed_everything
from .scores import additive_score, concat_score, dot_score, general_score
from .seq2seq import ModelConfig, Seq2Seq, build_model, sequence_loss

__all__ = [
    "BahdanauAttention", "LuongAttention", "ModelConfig", "Seq2Seq", "additive_score", "build_model",
    "concat_score", "configure_threads", "context_vector", "default_device", "dot_score", "general_score", "masked_softmax",
    "seed_everything", "sequence_loss",
]
__version__ = "0.1.0"
