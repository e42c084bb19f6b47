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
    assert bool((beam.scores >= greedy.scores - 1e-5).all())  # a wider beam never finds worse


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
