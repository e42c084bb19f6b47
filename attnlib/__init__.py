"""attnlib: reference implementations for the attention course.

Shape legend, used in every docstring and comment of the package:

    B  batch size               S  source length (encoder steps)
    T  target length (decoder steps)
    H  hidden size (Hq of a query, Hk of a key)   A  additive-attention size
    V  vocabulary size          E  embedding size  L  RNN layers
    K  local window slots, 2D + 1 (attnlib.local)   N  attention heads (attnlib.transformer)

A source ``mask`` is a bool tensor (B, S), True where the position holds a
real token. Scores and attention weights are (B, T, S): one row per decoder
step, one column per source position.

Modules, lowest first (imports flow downward only):
    scores      dot, general, concat, additive scores (pure functions)
    attention   masked softmax, context vector, LuongAttention, BahdanauAttention
    local       Luong's local attention (local-m, local-p): windows, eq. 9 and 10, LocalAttention
    transformer scaled dot-product and multi-head attention (Vaswani et al. 2017)
    encoder     embedding + (bi)RNN over packed sequences
    decoders    no attention, Luong, Bahdanau
    seq2seq     model wrapper, masked loss, greedy decoding and beam search
    vocab, data vocabularies, padded batches, date and symbol tasks, corpus reader
    metrics, train, checkpoints, device, viz

The names most scripts need are importable from the top level: ``from attnlib
import Vocab, make_batch, train, evaluate, TrainConfig``. ``attnlib.train`` is
therefore the function; reach the module with ``from attnlib.train import ...``
or ``importlib.import_module("attnlib.train")``.
"""
from .attention import BahdanauAttention, LuongAttention, context_vector, masked_softmax
from .device import configure_threads, default_device, seed_everything
from .scores import additive_score, concat_score, dot_score, general_score
from .seq2seq import ModelConfig, Seq2Seq, build_model, sequence_loss
from .vocab import Vocab

# Last, so that the names bind to the functions: `attnlib.train` and `attnlib.evaluate` are the functions; the
# modules stay importable by their dotted names (from attnlib.train import ...; importlib.import_module("attnlib.train")).
from .data import make_batch  # noqa: E402
from .train import TrainConfig, evaluate, train  # noqa: E402

__all__ = [
    "BahdanauAttention", "LuongAttention", "ModelConfig", "Seq2Seq", "additive_score", "build_model",
    "concat_score", "configure_threads", "context_vector", "default_device", "dot_score", "general_score", "masked_softmax",
    "seed_everything", "sequence_loss", "Vocab", "make_batch", "train", "evaluate", "TrainConfig",
]
__version__ = "0.1.0"
