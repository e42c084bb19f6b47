"""Luong local attention (attnlib.local, Luong et al. 2015 section 3.2) and the local-m / local-p models.

References are independent of the code under test where possible: windows and
weights written out position by position in Python, global attention for the
limit D ≥ S, σ → ∞, and the dense (B, T, S) formulation for the gathering module.
"""
import math
import time

import pytest
import torch

from attnlib.attention import LuongAttention
from attnlib.local import (LocalAttention, gather_window, gaussian_weights, local_weights, monotonic_positions,
                           predicted_positions, window_index, window_mask)
from attnlib.scores import dot_score, general_score, location_score
from attnlib.seq2seq import VARIANTS, ModelConfig, build_model, sequence_loss
from attnlib.data import make_batch, symbol_pairs
from attnlib.train import evaluate
from attnlib.vocab import PAD, Vocab

F64 = torch.float64


def lengths_mask(lengths, S, device="cpu"):
    return torch.arange(S, device=device)[None, :] < torch.tensor(lengths, device=device)[:, None]  # (B, S)


def inputs(B, T, S, H, lengths, seed=0, dtype=F64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, H, generator=g, dtype=dtype).to(device)
    k = torch.randn(B, S, H, generator=g, dtype=dtype).to(device)
    return q, k, lengths_mask(lengths, S, device)


def local(H, score="general", window=2, predictive=False, seed=0, **kw):
    torch.manual_seed(seed)
    m = LocalAttention(H, score, window=window, predictive=predictive, **kw).double()
    with torch.no_grad():
        if predictive:  # spread the predicted positions over the sentence, not all near S/2
            m.v_p.mul_(8)
        if score == "general":  # random, not the identity it starts from: a transposed W_a must show
            m.W_a.copy_(torch.randn(m.W_a.shape, dtype=F64))
    return m


# ------------------------------------------------------------------ pure functions, checked by hand


def test_window_mask_is_clipped_at_sentence_ends_and_padding():
    positions = torch.tensor([[0.0, 2.0, 5.0, 9.0]])
    allowed = window_mask(positions, 2, torch.tensor([4]), 7)  # one sentence of 4 real tokens, padded to 7
    expected = [[1, 1, 1, 0, 0, 0, 0],   # p=0: [-2, 2] clipped at the start
                [1, 1, 1, 1, 0, 0, 0],   # p=2: [0, 4] clipped at the last real token 3
                [0, 0, 0, 1, 0, 0, 0],   # p=5: [3, 7], only 3 is real
                [0, 0, 0, 0, 0, 0, 0]]   # p=9: [7, 11], nothing real: an empty window
    assert allowed.tolist() == [[[bool(x) for x in row] for row in expected]]
    real = window_mask(torch.tensor([[2.5]]), 1, torch.tensor([7]), 7)
    assert real.tolist() == [[[False, False, True, True, False, False, False]]]  # |s - 2.5| ≤ 1: 2D positions


def test_gaussian_uses_sigma_half_the_window():
    D = 4
    g = gaussian_weights(torch.tensor([[3.0]]), 12, sigma=D / 2)  # (1, 1, 12)
    assert g[0, 0, 3] == 1.0
    assert math.isclose(float(g[0, 0, 3 + D]), math.exp(-2.0), rel_tol=1e-6)  # exp(-D² / (2 (D/2)²)) = e^-2
    assert math.isclose(float(g[0, 0, 3 - 1]), math.exp(-1 / 8), rel_tol=1e-6)
    assert bool((gaussian_weights(torch.tensor([[3.0]]), 12, float("inf")) == 1).all())


def test_predicted_position_is_scaled_by_the_real_length():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(3, 4, 5, generator=g, dtype=F64)
    W_p, v_p = torch.randn(6, 5, generator=g, dtype=F64), torch.randn(6, generator=g, dtype=F64)
    lengths = torch.tensor([9, 3, 6])
    p = predicted_positions(q, W_p, v_p, lengths)
    for b in range(3):
        for t in range(4):
            manual = int(lengths[b]) / (1 + math.exp(-float(v_p @ torch.tanh(W_p @ q[b, t]))))  # S · sigmoid(...)
            assert math.isclose(float(p[b, t]), manual, rel_tol=1e-12)
    assert bool((p > 0).all()) and bool((p < lengths[:, None]).all())
    # the module takes S from the mask: the padded width does not matter
    m = local(5, predictive=True)
    mask = lengths_mask([9, 3, 6], 9)
    wider = torch.cat([mask, torch.zeros(3, 20, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(m.positions(q, mask), m.positions(q, wider), rtol=0, atol=0)
    torch.testing.assert_close(m.positions(q, mask), predicted_positions(q, m.W_p, m.v_p, lengths))


def test_location_score():
    g = torch.Generator().manual_seed(2)
    q, W = torch.randn(2, 3, 4, generator=g), torch.randn(6, 4, generator=g)
    s = location_score(q, W)
    assert s.shape == (2, 3, 6)
    torch.testing.assert_close(s[1, 2], W @ q[1, 2])
    with pytest.raises(ValueError, match=r"W must have shape \(S, H\)"):
        location_score(q, W[0])


def python_local_weights(scores, positions, D, lengths, sigma=None):
    """Position by position: softmax over {s : |s - p| ≤ D, 0 ≤ s < length}, times the Gaussian."""
    B, T, S = scores.shape
    out = torch.zeros(B, T, S, dtype=F64)
    for b in range(B):
        for t in range(T):
            p = float(positions[b, t])
            window = [s for s in range(S) if abs(s - p) <= D and s < int(lengths[b])]
            if not window:
                continue
            z = sum(math.exp(float(scores[b, t, s])) for s in window)
            for s in window:
                a = math.exp(float(scores[b, t, s])) / z
                out[b, t, s] = a * (math.exp(-(s - p) ** 2 / (2 * sigma ** 2)) if sigma else 1.0)
    return out


@pytest.mark.parametrize("sigma", [None, 1.5])
def test_local_weights_match_position_by_position(sigma):
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(3, 5, 8, generator=g, dtype=F64)
    positions = torch.tensor([[0, 1, 2, 3, 4], [0.3, 2.7, 5.5, 7.9, 1.0], [6, 7, 8, 9, 12]], dtype=F64)
    lengths = [8, 6, 5]
    w = local_weights(scores, positions, 3, lengths_mask(lengths, 8), sigma)
    torch.testing.assert_close(w, python_local_weights(scores, positions, 3, lengths, sigma))
    assert not torch.isnan(w).any() and bool((w[2, 4] == 0).all())  # p=12 with length 5: an empty window


# ------------------------------------------------------------------ the module


def test_local_m_weights_zero_outside_window_and_on_padding_and_sum_to_one_inside():
    B, T, S, H, D = 3, 6, 9, 4, 2
    q, k, mask = inputs(B, T, S, H, [9, 5, 3])
    _, w = local(H, window=D)(q, k, mask)
    s, t = torch.arange(S), torch.arange(T)
    outside = (s[None, :] - t[:, None]).abs() > D  # (T, S)
    assert bool((w[:, outside] == 0).all())
    assert bool((w[~mask[:, None, :].expand(B, T, S)] == 0).all())
    assert bool((w > 0).sum(-1)[0, 2:].eq(2 * D + 1).all())  # far from the ends a window holds 2D + 1 positions
    real = window_mask(monotonic_positions(B, T, dtype=F64), D, mask.sum(-1), S).any(-1)  # (B, T): non-empty window
    torch.testing.assert_close(w.sum(-1)[real], torch.ones(int(real.sum()), dtype=F64))
    assert bool((w.sum(-1)[~real] == 0).all()) and int((~real).sum()) > 0  # sentence 2, t ≥ 3 + D: zeros


@pytest.mark.parametrize("score", ["dot", "general"])
@pytest.mark.parametrize("predictive,D", [(False, 0), (False, 1), (False, 3), (True, 1), (True, 3)])  # local-p: σ = D/2 > 0
def test_gathering_module_equals_dense_reference(predictive, score, D):
    B, T, S, H = 3, 7, 10, 4
    q, k, mask = inputs(B, T, S, H, [10, 6, 2], seed=D)
    m = local(H, score, D, predictive)
    context, w = m(q, k, mask)
    scores = dot_score(q, k) if score == "dot" else general_score(q, k, m.W_a)
    positions = m.positions(q, mask)
    ref = local_weights(scores, positions, D, mask, m.sigma)
    torch.testing.assert_close(w, ref)
    torch.testing.assert_close(context, torch.bmm(ref, k))  # (B, T, H): c_t = Σ_s a_t(s) h̄_s
    if predictive:
        align = local_weights(scores, positions, D, mask)
        torch.testing.assert_close(w, align * gaussian_weights(positions, S, D / 2))  # Gaussian after the softmax
        assert bool((w.sum(-1) < 1).all())


@pytest.mark.parametrize("score", ["dot", "general"])
def test_local_p_with_wide_window_and_infinite_sigma_is_global(score):
    B, T, S, H = 3, 4, 7, 5
    q, k, mask = inputs(B, T, S, H, [7, 4, 1], seed=4)
    m = local(H, score, window=S, predictive=True, sigma=float("inf"))
    g = LuongAttention(H, score).double()
    if score == "general":
        with torch.no_grad():
            g.W_a.copy_(m.W_a)
    context, w = m(q, k, mask)
    context_g, w_g = g(q, k, mask)
    torch.testing.assert_close(w, w_g)
    torch.testing.assert_close(context, context_g)
    # the limit matters: σ = D/2 or a narrower window give other weights
    for other in (local(H, score, window=S, predictive=True), local(H, score, window=1, predictive=True, sigma=float("inf"))):
        if score == "general":
            with torch.no_grad():
                other.W_a.copy_(m.W_a)
        assert (other(q, k, mask)[1] - w_g).abs().max() > 1e-3


@pytest.mark.parametrize("predictive", [False, True])
def test_appending_padding_changes_nothing(predictive):
    B, T, S, H = 2, 5, 6, 4
    q, k, mask = inputs(B, T, S, H, [6, 3], seed=5)
    m = local(H, window=2, predictive=predictive)
    context, w = m(q, k, mask)
    garbage = torch.randn(B, 4, H, dtype=F64) * 100  # anything may sit at padded positions
    context2, w2 = m(q, torch.cat([k, garbage], 1), torch.cat([mask, torch.zeros(B, 4, dtype=torch.bool)], 1))
    torch.testing.assert_close(context2, context)
    torch.testing.assert_close(w2[:, :, :S], w)
    assert bool((w2[:, :, S:] == 0).all())
    # and a sentence padded inside a longer batch attends as it does alone
    alone_c, alone_w = m(q[1:], k[1:, :3], mask[1:, :3])
    torch.testing.assert_close(context[1:], alone_c)
    torch.testing.assert_close(w[1:, :, :3], alone_w)


@pytest.mark.parametrize("predictive", [False, True])
@pytest.mark.parametrize("score", ["dot", "general"])
def test_gradcheck(predictive, score):
    B, T, S, H = 2, 3, 6, 3
    q, k, mask = inputs(B, T, S, H, [6, 4], seed=6)
    m = local(H, score, window=2, predictive=predictive)
    names = [n for n, _ in m.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in m.named_parameters()]

    def f(q, k, *ps):
        return torch.func.functional_call(m, dict(zip(names, ps)), (q, k, mask))

    assert torch.autograd.gradcheck(f, (q.requires_grad_(), k.requires_grad_(), *params))
    if predictive:  # the position predictor learns: the Gaussian passes it a gradient
        _, w = f(q, k, *params)
        grads = torch.autograd.grad(w.sum(), [p for n, p in zip(names, params) if n in ("W_p", "v_p")])
        assert all(float(g.abs().max()) > 0 for g in grads)


def test_general_score_with_other_key_size_and_empty_windows_have_finite_gradients():
    B, T, S, H, Hk = 2, 9, 5, 3, 4
    g = torch.Generator().manual_seed(8)
    q = torch.randn(B, T, H, generator=g, dtype=F64, requires_grad=True)
    k = torch.randn(B, S, Hk, generator=g, dtype=F64, requires_grad=True)
    mask = lengths_mask([5, 2], S)
    m = local(H, "general", window=1, key_size=Hk)
    context, w = m(q, k, mask)
    torch.testing.assert_close(w, local_weights(general_score(q, k, m.W_a), m.positions(q, mask), 1, mask))
    assert bool((w[1, 3:] == 0).all()) and bool((context[1, 3:] == 0).all())  # t ≥ 2 + D: empty windows
    (context.sum() + w.sum()).backward()
    assert torch.isfinite(q.grad).all() and torch.isfinite(k.grad).all() and torch.isfinite(m.W_a.grad).all()


def test_steps_shift_local_m_windows():
    q, k, mask = inputs(1, 2, 9, 3, [9], seed=7)
    m = local(3, window=1)
    _, w = m(q, k, mask, steps=torch.tensor([[4, 7]]))
    assert (w[0, 0] > 0).nonzero().flatten().tolist() == [3, 4, 5]
    assert (w[0, 1] > 0).nonzero().flatten().tolist() == [6, 7, 8]


def test_window_helpers():
    index = window_index(torch.tensor([[0.0, 2.5]]), 2)
    assert index.tolist() == [[[-2, -1, 0, 1, 2], [1, 2, 3, 4, 5]]]
    values = torch.arange(6.0).view(1, 6, 1)
    assert gather_window(values, index)[0, :, :, 0].tolist() == [[0, 0, 0, 1, 2], [1, 2, 3, 4, 5]]


def test_errors_name_the_problem():
    q, k, mask = inputs(2, 3, 5, 4, [5, 2])
    with pytest.raises(ValueError, match="window D must be an int >= 0"):
        LocalAttention(4, window=-1)
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        LocalAttention(4, window=0, predictive=True)
    with pytest.raises(ValueError, match="sigma is local-p's Gaussian width"):
        LocalAttention(4, window=2, sigma=1.0)
    with pytest.raises(ValueError, match="unknown local attention score 'concat'"):
        LocalAttention(4, "concat")
    m = local(4)
    with pytest.raises(ValueError, match=r"query size H: expected 4, got 3"):
        m(q[..., :3], k, mask)
    with pytest.raises(TypeError, match="mask must have dtype torch.bool"):
        m(q, k, mask.long())
    with pytest.raises(ValueError, match=r"steps shape \(B, T\) vs query"):
        m(q, k, mask, steps=torch.zeros(2, 4))
    with pytest.raises(TypeError, match="positions must be a floating-point tensor"):
        window_mask(torch.zeros(1, 2, dtype=torch.long), 1, torch.tensor([3]), 3)
    with pytest.raises(ValueError, match="window D of local-p must be an int >= 1"):
        ModelConfig(variant="local-p", window=0)
    with pytest.raises(ValueError, match="unknown local_score"):
        ModelConfig(variant="local-m", local_score="concat")


def test_runs_on_device(device):
    q, k, mask = inputs(2, 3, 7, 4, [7, 3], dtype=torch.float32, device=device)
    for predictive in (False, True):
        m = LocalAttention(4, window=2, predictive=predictive).to(device)
        context, w = m(q, k, mask)
        assert context.device.type == device.type and w.shape == (2, 3, 7)


# ------------------------------------------------------------------ the models


V_SRC, V_TGT = 12, 9


def model(variant, window=2, **kw):
    torch.manual_seed(0)
    return build_model(ModelConfig(variant=variant, emb_size=6, hidden_size=10, window=window, **kw), V_SRC, V_TGT).eval()


def sentences(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.full((len(lengths), max(lengths)), PAD, dtype=torch.long)
    for i, n in enumerate(lengths):
        src[i, :n] = torch.randint(4, V_SRC, (n,), generator=g)
    return src, torch.tensor(lengths)


def test_local_variants_are_registered():
    assert {"local-m", "local-p"} <= set(VARIANTS)
    assert ModelConfig().window == 10


@pytest.mark.parametrize("variant", ["local-m", "local-p"])
@pytest.mark.parametrize("feed", [False, True])
def test_teacher_forcing_equals_step_by_step_and_runs_rnn_once(variant, feed, monkeypatch):
    m = model(variant, input_feeding=feed)
    src, lengths = sentences([7, 3], seed=1)
    tgt = torch.randint(4, V_TGT, (2, 6))
    calls = []
    original = m.decoder.rnn.forward
    monkeypatch.setattr(m.decoder.rnn, "forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    logits, weights = m(src, lengths, tgt)
    assert len(calls) == (6 if feed else 1)
    memory, state = m.encode(src, lengths)
    for t in range(6):
        step_logits, state, w = m.decoder.step(tgt[:, t], state, memory)
        torch.testing.assert_close(step_logits, logits[:, t], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(w, weights[:, t], atol=1e-6, rtol=1e-6)
    assert state["t"].tolist() == [6, 6]


@pytest.mark.parametrize("variant", ["local-m", "local-p"])
def test_greedy_and_beam_keep_the_window(variant):
    m = model(variant, window=1)
    src, lengths = sentences([7, 2, 5], seed=3)
    for out in (m.greedy(src, lengths, max_len=6), m.beam_search(src, lengths, beam_size=3, max_len=6)):
        assert out.weights.shape == (3, out.tokens.shape[1], 7)
        assert bool((out.weights[1, :, 2:] == 0).all())  # padding
        assert not torch.isnan(out.weights).any()
        if variant == "local-m":  # step t reads [t - 1, t + 1] only
            s, t = torch.arange(7), torch.arange(out.tokens.shape[1])
            assert bool((out.weights[:, (s[None] - t[:, None]).abs() > 1] == 0).all())


@pytest.fixture
def one_thread():
    """Small ops on shared cores: two intra-op threads wait on each other (README, benchmark one_thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("variant", ["local-m", "local-p"])
def test_tiny_model_overfits_a_copy_task(variant, one_thread):
    """About a second on one core: 64 digit strings of 4-9 characters copied exactly, through a window of 2D+1 = 5."""
    pairs = symbol_pairs(64, 4, 9, "copy", seed=0)
    vocab = Vocab.build(s for s, _ in pairs)
    batch = make_batch(pairs, vocab, vocab)
    torch.manual_seed(0)
    m = build_model(ModelConfig(variant=variant, emb_size=16, hidden_size=48, window=2), len(vocab), len(vocab))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    start, exact = time.perf_counter(), 0.0
    for step in range(400):
        m.train()
        opt.zero_grad()
        loss = sequence_loss(m(batch.src, batch.src_len, batch.tgt_in)[0], batch.tgt_out)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if step % 25 == 24:
            exact = evaluate(m, pairs, vocab, vocab)["exact"]  # greedy decoding, whole strings
            if exact == 1.0:
                break
    assert exact == 1.0, f"{variant}: exact match {exact:.2f} after {step + 1} steps, loss {float(loss):.3f}"
    assert time.perf_counter() - start < 30  # ~1 s alone on one core (75 steps at most); generous for shared CPUs


def test_local_model_checkpoint_round_trip(tmp_path):
    from attnlib.checkpoints import load_checkpoint, save_checkpoint

    vocab = Vocab.build(["0123456789"])
    m = build_model(ModelConfig(variant="local-p", emb_size=6, hidden_size=10, window=3, local_score="dot"), len(vocab), len(vocab)).eval()
    save_checkpoint(tmp_path / "local.pt", m, vocab, vocab)
    loaded, *_ = load_checkpoint(tmp_path / "local.pt")
    assert loaded.config == m.config and loaded.decoder.attention.window == 3 and loaded.decoder.attention.score == "dot"
    src, lengths = torch.tensor([[4, 5, 6, 7]]), torch.tensor([4])
    tgt = torch.tensor([[1, 4, 5]])
    for a, b in zip(m(src, lengths, tgt), loaded(src, lengths, tgt)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
