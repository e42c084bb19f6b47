"""Scores against independent references: SDPA, the plain broadcast formula, hand computation."""
import pytest
import torch
import torch.nn.functional as F

from attnlib import scores


def rand(*shape, g, dtype=torch.float32, device="cpu"):
    return torch.randn(*shape, generator=g, dtype=dtype).to(device)


def naive_tanh_score(query, keys, W_q, W_k, v):
    """The plain formula: materialise (B, T, S, A), then tanh, then v."""
    return torch.tanh((query @ W_q.T)[:, :, None, :] + (keys @ W_k.T)[:, None, :, :]) @ v


@pytest.fixture
def g():
    return torch.Generator().manual_seed(0)


def test_shapes(g, device):
    q, k = rand(2, 3, 4, g=g, device=device), rand(2, 5, 4, g=g, device=device)
    W = rand(4, 4, g=g, device=device)
    assert scores.dot_score(q, k).shape == (2, 3, 5)
    assert scores.general_score(q, k, W).shape == (2, 3, 5)
    assert scores.additive_score(q, k, rand(6, 4, g=g, device=device), rand(6, 4, g=g, device=device), rand(6, g=g, device=device)).shape == (2, 3, 5)
    assert scores.concat_score(q, k, rand(6, 8, g=g, device=device), rand(6, g=g, device=device)).shape == (2, 3, 5)


def test_dot_matches_sdpa_scores(g):
    q, k = rand(3, 4, 8, g=g), rand(3, 6, 8, g=g)
    v = torch.eye(6).expand(3, 6, 6)  # values = identity: SDPA returns its weights
    expected = F.scaled_dot_product_attention(q, k, v, scale=1.0)
    assert torch.allclose(torch.softmax(scores.dot_score(q, k), -1), expected, atol=1e-6)


def test_general_with_identity_is_dot(g):
    q, k = rand(2, 3, 5, g=g), rand(2, 7, 5, g=g)
    assert torch.allclose(scores.general_score(q, k, torch.eye(5)), scores.dot_score(q, k), atol=1e-6)


def test_general_not_symmetric_in_W(g):
    """A transposed W gives different scores: the test of W's orientation can fail."""
    q, k, W = rand(2, 3, 5, g=g), rand(2, 7, 5, g=g), rand(5, 5, g=g)
    assert not torch.allclose(scores.general_score(q, k, W), scores.general_score(q, k, W.T))
    expected = torch.einsum("bth,hk,bsk->bts", q, W, k)
    assert torch.allclose(scores.general_score(q, k, W), expected, atol=1e-5)


def test_additive_by_hand():
    query = torch.tensor([[[1.0, 0.0]]])  # (1, 1, 2)
    keys = torch.tensor([[[0.0, 1.0], [1.0, 1.0]]])  # (1, 2, 2)
    W_q, W_k, v = torch.eye(2), 2 * torch.eye(2), torch.tensor([1.0, -1.0])
    t = torch.tanh
    expected = torch.tensor([[[t(torch.tensor(1.0)) - t(torch.tensor(2.0)), t(torch.tensor(3.0)) - t(torch.tensor(2.0))]]])
    assert torch.allclose(scores.additive_score(query, keys, W_q, W_k, v), expected, atol=1e-6)


@pytest.mark.parametrize("B,T,S,Hq,Hk,A", [(2, 3, 5, 4, 6, 7), (8, 3, 5, 4, 6, 7), (2, 40, 6, 16, 16, 8),
                                            (1, 1, 1, 2, 3, 4), (5, 30, 70, 8, 8, 8)])
def test_additive_equals_broadcast_formula(g, B, T, S, Hq, Hk, A, device, monkeypatch):
    """Shapes that exercise every branch: one chunk (plain formula), chunks of batch rows, of steps, single cells."""
    monkeypatch.setattr(scores, "CHUNK_ELEMENTS", 256)
    q, k = rand(B, T, Hq, g=g, device=device), rand(B, S, Hk, g=g, device=device)
    W_q, W_k, v = rand(A, Hq, g=g, device=device), rand(A, Hk, g=g, device=device), rand(A, g=g, device=device)
    assert torch.allclose(scores.additive_score(q, k, W_q, W_k, v), naive_tanh_score(q, k, W_q, W_k, v), atol=1e-5)


def test_additive_gradients_equal_broadcast_formula(g, monkeypatch):
    monkeypatch.setattr(scores, "CHUNK_ELEMENTS", 64)  # force many chunks
    args = [rand(3, 4, 5, g=g), rand(3, 6, 5, g=g), rand(7, 5, g=g), rand(7, 5, g=g), rand(7, g=g)]
    a = [x.clone().requires_grad_() for x in args]
    b = [x.clone().requires_grad_() for x in args]
    upstream = rand(3, 4, 6, g=g)
    (scores.additive_score(*a) * upstream).sum().backward()
    (naive_tanh_score(*b) * upstream).sum().backward()
    for x, y in zip(a, b):
        assert torch.allclose(x.grad, y.grad, atol=1e-5)


def test_concat_is_split_W(g):
    q, k = rand(2, 3, 4, g=g), rand(2, 5, 6, g=g)
    W, v = rand(7, 10, g=g), rand(7, g=g)
    pairs = torch.cat([q[:, :, None, :].expand(2, 3, 5, 4), k[:, None, :, :].expand(2, 3, 5, 6)], dim=-1)  # [h_t; h̄_s]
    expected = torch.tanh(pairs @ W.T) @ v
    assert torch.allclose(scores.concat_score(q, k, W, v), expected, atol=1e-5)


@pytest.mark.parametrize("name", ["dot", "general", "concat", "additive"])
def test_gradcheck(name, monkeypatch):
    monkeypatch.setattr(scores, "CHUNK_ELEMENTS", 16)
    g = torch.Generator().manual_seed(1)
    d = dict(g=g, dtype=torch.float64)
    q, k = rand(2, 3, 4, **d), rand(2, 5, 4, **d)
    extra = {"dot": [], "general": [rand(4, 4, **d)], "concat": [rand(3, 8, **d), rand(3, **d)],
             "additive": [rand(3, 4, **d), rand(3, 4, **d), rand(3, **d)]}[name]
    inputs = [x.requires_grad_() for x in [q, k, *extra]]
    assert torch.autograd.gradcheck(scores.SCORES[name], inputs)


@pytest.mark.parametrize("call,match", [
    (lambda: scores.dot_score(torch.randn(2, 3), torch.randn(2, 5, 3)), r"query must have shape \(B, T, Hq\)"),
    (lambda: scores.dot_score(torch.randn(2, 3, 4), torch.randn(3, 5, 4)), "batch size B"),
    (lambda: scores.dot_score(torch.randn(2, 3, 4), torch.randn(2, 5, 6)), "Hq == key size Hk"),
    (lambda: scores.general_score(torch.randn(2, 3, 4), torch.randn(2, 5, 6), torch.randn(6, 4)), r"W \(Hq, Hk\)"),
    (lambda: scores.additive_score(torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(3, 4), torch.randn(5, 4), torch.randn(3)), r"W_k \(A, Hk\)"),
    (lambda: scores.dot_score(torch.ones(2, 3, 4, dtype=torch.long), torch.ones(2, 5, 4, dtype=torch.long)), "floating-point"),
])
def test_errors_name_the_problem(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
