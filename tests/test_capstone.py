"""attnlib.checks.capstone (notebook 11): the behavioural checks pass a right decoder and name typical mistakes."""
import pytest
import torch
from torch import nn

from attnlib.checks.capstone import behaviour, interface, masking
from attnlib.decoders import LuongDecoder, Memory
from attnlib.vocab import PAD


class Dot(nn.Module):
    """A Luong dot decoder written from torch parts, as a learner would; `leak` forgets the mask."""

    leak = False

    def __init__(self, vocab_size, emb_size, hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size, padding_idx=PAD)
        self.rnn = nn.LSTM(emb_size, hidden_size, batch_first=True)
        self.out = nn.Linear(2 * hidden_size, vocab_size)

    def prepare(self, keys, mask):
        return Memory(keys, mask)

    def init_state(self, encoder_state):
        return {"h": encoder_state["h"], "c": encoder_state["c"]}

    def forward(self, tgt_in, state, memory):
        hidden = (state["h"].transpose(0, 1).contiguous(), state["c"].transpose(0, 1).contiguous())
        h, (h_n, c_n) = self.rnn(self.embedding(tgt_in), hidden)  # (B, T, H)
        scores = h @ memory.keys.transpose(1, 2)  # (B, T, S)
        if not self.leak:
            scores = scores.masked_fill(~memory.mask[:, None, :], float("-inf"))
        weights = torch.softmax(scores, -1)
        self._last = {"h": h_n.transpose(0, 1), "c": c_n.transpose(0, 1)}
        return self.out(torch.cat([weights @ memory.keys, h], -1)), weights

    def step(self, y_prev, state, memory):
        logits, weights = self(y_prev[:, None], state, memory)
        return logits[:, 0], self._last, weights[:, 0]


class Leaky(Dot):
    leak = True


class StepFirst(Dot):
    def init_state(self, encoder_state):
        return {"h": encoder_state["h"].transpose(0, 1), "c": encoder_state["c"].transpose(0, 1)}  # (1, B, H)


class Stub(nn.Module):
    def __init__(self, *sizes):
        super().__init__()
        raise NotImplementedError()


def borrowed(V, E, H):
    return LuongDecoder(V, E, H, H, "dot")


def test_a_right_decoder_passes():
    assert behaviour("interface", interface, Dot) and behaviour("masking", masking, Dot)
    assert behaviour("masking, other sizes", lambda d: masking(d, seed=5, B=5, S=9, T=4, V=8, H=6), Dot)


@pytest.mark.parametrize("decoder, check, message", [
    (Leaky, interface, "exactly 0"),
    (Leaky, masking, "padding leaks"),
    (StepFirst, interface, "batch first"),
    (Stub, interface, "not written yet"),
    (borrowed, masking, "must be yours"),
])
def test_mistakes_are_named_and_raise_under_nbgrader(decoder, check, message, capsys, monkeypatch):
    assert not behaviour("x", check, decoder)
    assert message in capsys.readouterr().out
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(AssertionError, match=message):
        behaviour("x", check, decoder)
