"""Encoder, decoders and the Seq2Seq wrapper: padding invariance, batched = step by step, decoding."""
import pytest
import torch

from attnlib.seq2seq import VARIANTS, ModelConfig, build_model, sequence_loss
from attnlib.vocab import BOS, EOS, PAD

V_SRC, V_TGT = 12, 9


def make(variant, rnn="lstm", **kw):
    torch.manual_seed(0)
    return build_model(ModelConfig(variant=variant, rnn=rnn, emb_size=6, hidden_size=10, **kw), V_SRC, V_TGT).eval()


def sentences(lengths, S=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    S = S or max(lengths)
    src = torch.full((len(lengths), S), PAD, dtype=torch.long)
    for i, n in enumerate(lengths):
        src[i, :n] = torch.randint(4, V_SRC, (n,), generator=g)
    return src, torch.tensor(lengths)


ALL = [(v, rnn) for v in VARIANTS for rnn in ("lstm", "gru")] + [("dot", "lstm-feed"), ("general", "gru-feed")]


def build(spec):
    variant, rnn = spec
    feed = rnn.endswith("-feed")
    return make(variant, rnn.removesuffix("-feed"), input_feeding=feed)


@pytest.mark.parametrize("rnn", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_encoder_padding_invariance(rnn, bidirectional):
    model = make("dot", rnn, bidirectional=bidirectional)
    src, lengths = sentences([5, 3])
    alone, alone_state = model.encoder(src[1:, :3], lengths[1:])
    padded, padded_state = model.encoder(src, lengths)
    assert torch.allclose(padded[1, :3], alone[0], atol=1e-6)
    assert bool((padded[1, 3:] == 0).all())
    for name in alone_state:
        assert torch.allclose(padded_state[name][1], alone_state[name][0], atol=1e-6)


@pytest.mark.parametrize("rnn", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_fused_encoder_equals_packed(rnn, bidirectional, num_layers):
    """The CPU path (fused kernel, gates saturated at padding) = packing: outputs, final states, gradients."""
    model = make("dot", rnn, bidirectional=bidirectional, num_layers=num_layers)
    encoder = model.encoder.train()
    with torch.no_grad():
        for p in encoder.parameters():
            p.mul_(3)  # pre-activations far larger than at initialisation
    src, lengths = sentences([7, 1, 4, 7, 2], seed=2)
    results = {}
    for packing in (True, False):
        encoder.use_packing = packing
        encoder.zero_grad()
        outputs, state = encoder(src, lengths)
        weights = torch.linspace(-1, 1, steps=sum(t.numel() for t in state.values()))
        loss = (outputs ** 2).sum() + (torch.cat([t.flatten() for t in state.values()]) * weights).sum()
        loss.backward()
        results[packing] = outputs, state, {n: p.grad for n, p in encoder.named_parameters()}
    (po, ps, pg), (fo, fs, fg) = results[True], results[False]
    assert torch.allclose(fo, po, atol=1e-6)
    assert bool((fo[1, 1:] == 0).all()) and bool((fo[4, 2:] == 0).all())
    for name in ps:
        assert torch.allclose(fs[name], ps[name], atol=1e-6), name
    for name in pg:
        assert torch.allclose(fg[name], pg[name], atol=1e-5, rtol=1e-5), name


@pytest.mark.parametrize("spec", ALL, ids=lambda s: "-".join(s))
def test_decoder_padding_invariance(spec):
    """Adding a longer, padded sentence to the batch changes nothing for the others."""
    model = build(spec)
    src, lengths = sentences([4, 7], seed=1)
    tgt = torch.randint(4, V_TGT, (2, 5))
    alone_logits, alone_w = model(src[:1, :4], lengths[:1], tgt[:1])
    both_logits, both_w = model(src, lengths, tgt)
    assert torch.allclose(both_logits[0], alone_logits[0], atol=1e-5)
    if alone_w is not None:
        assert torch.allclose(both_w[0, :, :4], alone_w[0], atol=1e-6)
        assert bool((both_w[0, :, 4:] == 0).all())


@pytest.mark.parametrize("spec", ALL, ids=lambda s: "-".join(s))
def test_batched_teacher_forcing_equals_step_by_step(spec):
    model = build(spec)
    src, lengths = sentences([6, 3], seed=2)
    tgt = torch.randint(4, V_TGT, (2, 5))
    logits, weights = model(src, lengths, tgt)
    memory, state = model.encode(src, lengths)
    for t in range(tgt.shape[1]):
        step_logits, state, w = model.decoder.step(tgt[:, t], state, memory)
        assert torch.allclose(step_logits, logits[:, t], atol=1e-5), f"step {t}"
        if w is not None:
            assert torch.allclose(w, weights[:, t], atol=1e-6)


def test_luong_without_feeding_runs_rnn_once(monkeypatch):
    model = make("dot")
    calls = []
    original = model.decoder.rnn.forward
    monkeypatch.setattr(model.decoder.rnn, "forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    src, lengths = sentences([4, 2])
    model(src, lengths, torch.randint(4, V_TGT, (2, 7)))
    assert len(calls) == 1


def test_sequence_loss_ignores_padding():
    logits = torch.randn(2, 4, V_TGT)
    targets = torch.tensor([[5, 6, EOS, PAD], [5, EOS, PAD, PAD]])
    manual = torch.stack([-torch.log_softmax(logits[b, t], -1)[targets[b, t]]
                          for b in range(2) for t in range(4) if targets[b, t] != PAD]).mean()
    assert torch.allclose(sequence_loss(logits, targets), manual, atol=1e-6)
    changed = logits.clone()
    changed[1, 2:] = 100.0  # logits at padded positions cannot matter
    assert torch.equal(sequence_loss(changed, targets), sequence_loss(logits, targets))
    with pytest.raises(ValueError, match="no real token"):
        sequence_loss(logits, torch.full((2, 4), PAD))
    with pytest.raises(ValueError, match="targets must have shape"):
        sequence_loss(logits, targets[:, :3])


@pytest.mark.parametrize("variant", VARIANTS)
def test_greedy_and_beam_return_every_steps_weights(variant):
    model = make(variant)
    src, lengths = sentences([6, 2, 4], seed=3)
    greedy = model.greedy(src, lengths, max_len=7)
    beam = model.beam_search(src, lengths, beam_size=4, max_len=7)
    for out in (greedy, beam):
        assert out.tokens.shape[0] == 3 and out.tokens.shape[1] <= 7
        if variant == "none":
            assert out.weights is None
        else:
            assert out.weights.shape == (3, out.tokens.shape[1], 6)
            steps = out.tokens != PAD
            sums = out.weights.sum(-1)
            if variant == "local-p":  # eq. 10: the Gaussian multiplies after the softmax, so a row sums to at most 1
                assert bool((sums[steps] > 0).all()) and bool((sums[steps] <= 1 + 1e-6).all())
            else:
                assert torch.allclose(sums[steps], torch.ones_like(sums[steps]), atol=1e-5)
            assert bool((out.weights[1, :, 2:] == 0).all())  # sentence 1 has 2 real tokens
    # No "a wider beam never finds worse" here: it is false in general (test_a_wider_beam_can_find_worse).
    for out in (greedy, beam):   # what is true: the score is the model's log-prob of the returned tokens
        assert torch.allclose(out.scores, teacher_forced_logprob(model, src, lengths, out.tokens), atol=1e-4)


def teacher_forced_logprob(model, src, lengths, tokens):
    """log p(tokens | src) under the model, up to and including EOS (PAD after it does not count)."""
    tgt_in = torch.cat([torch.full((tokens.shape[0], 1), BOS), tokens[:, :-1]], dim=1)
    logits, _ = model(src, lengths, tgt_in)
    logp = torch.log_softmax(logits, -1).gather(-1, tokens[..., None])[..., 0]  # (B, T)
    return (logp * (tokens != PAD)).sum(1)


# ---------------------------------------------------------------- beam search on a scripted model

class _Encoder(torch.nn.Module):
    def forward(self, src, src_len):
        return torch.zeros(src.shape[0], src.shape[1], 1), {}


class Scripted(torch.nn.Module):
    """A decoder whose next-token distribution is a table over the prefix written so far (tokens after BOS).

    table: {prefix tuple: {token: probability}}; a prefix not in the table gives EOS with probability 1.
    """

    has_attention = False

    def __init__(self, table, V=9):
        super().__init__()
        self.table, self.V = table, V

    def prepare(self, keys, mask):
        from attnlib.decoders import Memory
        return Memory(keys, mask)

    def init_state(self, encoder_state):
        return {}

    def step(self, y_prev, state, memory):
        hist = torch.cat([state["hist"], y_prev[:, None]], 1) if "hist" in state else y_prev[:, None]  # (B, L)
        logits = torch.full((y_prev.shape[0], self.V), float("-inf"))
        for i, row in enumerate(hist.tolist()):
            prefix = tuple(t for t in row[1:] if t != PAD)
            for tok, p in self.table.get(prefix, {EOS: 1.0}).items():
                logits[i, tok] = float(torch.tensor(p).log())
        return logits, {"hist": hist}, None


def scripted(table):
    from attnlib.seq2seq import Seq2Seq
    return Seq2Seq(_Encoder(), Scripted(table)).eval()


A, B_, C, D, E_, F_ = 4, 5, 6, 7, 8, 3   # token ids (3 is UNK, used as one more ordinary token here)
ONE = (torch.ones(1, 2, dtype=torch.long), torch.tensor([2]))


def test_beam_returns_the_best_finished_hypothesis_not_a_better_unfinished_one():
    # step 1: A 0.6 (goes on), EOS 0.4 (finished); step 2 (max_len): A -> B 0.9. Unfinished A B scores 0.54 > 0.4.
    model = scripted({(): {A: 0.6, EOS: 0.4}, (A,): {B_: 0.9, C: 0.1}})
    out = model.beam_search(*ONE, beam_size=2, max_len=2)
    assert out.tokens[0].tolist() == [EOS, PAD]
    assert out.scores[0].item() == pytest.approx(float(torch.tensor(0.4).log()), abs=1e-6)
    alone = scripted({(): {A: 1.0}, (A,): {B_: 1.0}}).beam_search(*ONE, beam_size=2, max_len=2)
    assert alone.tokens[0].tolist() == [A, B_], "with no finished hypothesis, the best unfinished one is returned"


def test_unfinished_beams_never_write_pad_or_bos():
    model = scripted({(): {PAD: 0.5, BOS: 0.3, A: 0.2}, (A,): {PAD: 0.9, EOS: 0.1}})
    for k in (1, 3):
        out = model.beam_search(*ONE, beam_size=k, max_len=4)
        assert out.tokens[0].tolist()[:2] == [A, EOS], (k, out.tokens)
        assert torch.isfinite(out.scores).all()


def test_a_wider_beam_can_find_worse():
    """The counterexample notebook 05 teaches: with K = 2, greedy's path falls out of the beam.

    Step 1: A 0.40, B 0.35, C 0.25. Greedy keeps A; after A, EOS is the most likely (0.30): A EOS = 0.12.
    With K = 2 the beam keeps A and B; after B, D and E have 0.5 each: B D = B E = 0.175 > 0.12, so both push
    A EOS out of the beam. Then D and E end with EOS at 0.5: 0.0875 < 0.12. The wider beam finds worse.
    """
    model = scripted({(): {A: 0.40, B_: 0.35, C: 0.25}, (A,): {EOS: 0.30, D: 0.28, E_: 0.21, F_: 0.21},
                      (B_,): {D: 0.5, E_: 0.5}, (B_, D): {EOS: 0.5, F_: 0.5}, (B_, E_): {EOS: 0.5, F_: 0.5},
                      (C,): {EOS: 0.2, F_: 0.8}, (C, F_): {EOS: 0.1, F_: 0.9}, (C, F_, F_): {EOS: 0.1, F_: 0.9}})
    greedy = model.greedy(*ONE, max_len=4)
    beam = model.beam_search(*ONE, beam_size=2, max_len=4)
    assert greedy.tokens[0].tolist()[:2] == [A, EOS]
    assert greedy.scores[0].item() == pytest.approx(float(torch.tensor(0.12).log()), abs=1e-5)
    assert beam.tokens[0].tolist()[:3] in ([B_, D, EOS], [B_, E_, EOS])
    assert beam.scores[0].item() == pytest.approx(float(torch.tensor(0.0875).log()), abs=1e-5)
    assert beam.scores[0] < greedy.scores[0]
    assert model.beam_search(*ONE, beam_size=3, max_len=4).scores[0] < greedy.scores[0]   # C F pushes it out too
    wide = model.beam_search(*ONE, beam_size=4, max_len=4)   # wide enough to keep A EOS: the most probable output
    assert wide.tokens[0].tolist()[:2] == [A, EOS]


def test_a_beam_as_wide_as_the_search_space_finds_the_most_probable_output():
    """What is true: with every hypothesis kept, beam search is exhaustive search."""
    g = torch.Generator().manual_seed(0)
    toks = [A, B_, EOS]
    table = {}
    for prefix in [(), *[(a,) for a in toks if a != EOS], *[(a, b) for a in toks if a != EOS for b in toks if b != EOS]]:
        p = torch.rand(3, generator=g) + 0.05
        table[prefix] = dict(zip(toks, (p / p.sum()).tolist()))
    model = scripted(table)
    best, best_lp = None, -float("inf")
    def walk(prefix, lp):
        nonlocal best, best_lp
        for tok, p in table.get(prefix, {EOS: 1.0}).items():
            q = lp + float(torch.tensor(p).log())
            if tok == EOS or len(prefix) == 2:
                if tok == EOS and q > best_lp:
                    best, best_lp = prefix + (tok,), q
            else:
                walk(prefix + (tok,), q)
    walk((), 0.0)
    out = model.beam_search(*ONE, beam_size=9, max_len=3)
    got = [t for t in out.tokens[0].tolist() if t != PAD]
    assert tuple(got) == best and out.scores[0].item() == pytest.approx(best_lp, abs=1e-5)


def test_beam_one_is_greedy_and_greedy_is_argmax():
    model = make("general")
    src, lengths = sentences([5, 3], seed=4)
    out = model.greedy(src, lengths, max_len=6)
    memory, state = model.encode(src, lengths)
    y = torch.full((2,), BOS)
    for t in range(out.tokens.shape[1]):
        logits, state, _ = model.decoder.step(y, state, memory)
        y = logits.argmax(-1)
        alive = out.tokens[:, t] != PAD
        assert torch.equal(y[alive], out.tokens[alive, t])


def test_config_errors():
    with pytest.raises(ValueError, match="unknown variant"):
        ModelConfig(variant="luong")
    with pytest.raises(ValueError, match="even hidden_size"):
        ModelConfig(hidden_size=7)
    with pytest.raises(ValueError, match="unknown rnn"):
        build_model(ModelConfig(rnn="rnn"), 5, 5)
    model = make("dot")
    with pytest.raises(ValueError, match=r"src_len must lie in \[1, S=3\]"):
        model(torch.ones(2, 3, dtype=torch.long), torch.tensor([0, 3]), torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        model(torch.ones(0, 3, dtype=torch.long), torch.tensor([], dtype=torch.long), torch.ones(0, 2, dtype=torch.long))


def test_runs_on_device(device):
    model = make("bahdanau").to(device)
    src, lengths = sentences([4, 2])
    logits, weights = model(src.to(device), lengths.to(device), torch.randint(4, V_TGT, (2, 3), device=device))
    assert logits.device.type == device.type and weights.device.type == device.type


# ---------------------------------------------------------------- decoding length (issue 14)

def test_default_max_len_comes_from_the_source_and_cut_hypotheses_are_flagged():
    """A 40-token answer: the old default max_len=32 cut it silently; 4 S + 16 from a 9-token source does not."""
    from attnlib.seq2seq import default_max_len
    table = {(A,) * k: {A: 1.0} for k in range(40)}  # A x 40, then EOS (a prefix not in the table)
    model = scripted(table)
    src, lengths = torch.ones(2, 9, dtype=torch.long), torch.tensor([9, 3])
    assert default_max_len(lengths) == 4 * 9 + 16
    for out in (model.greedy(src, lengths), model.beam_search(src, lengths, beam_size=2)):
        assert out.tokens[:, :40].eq(A).all() and out.tokens[:, 40].eq(EOS).all() and out.tokens[:, 41:].eq(PAD).all()
        assert out.finished.tolist() == [True, True] and out.cut == 0
    short = model.greedy(src, lengths, max_len=32)
    assert short.finished.tolist() == [False, False] and short.cut == 2 and short.tokens.shape == (2, 32)
    mixed = scripted({(): {A: 0.6, EOS: 0.4}, (A,): {A: 1.0}}).beam_search(*ONE, beam_size=2, max_len=2)
    assert mixed.finished.tolist() == [True], "the best finished hypothesis is returned and marked finished"
    alone = scripted({(): {A: 1.0}, (A,): {B_: 1.0}}).beam_search(*ONE, beam_size=2, max_len=2)
    assert alone.finished.tolist() == [False]
