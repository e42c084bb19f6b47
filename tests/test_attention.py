"""Masked softmax, context vector and both attention modules."""
import pytest
import torch
import torch.nn.functional as F

from attnlib.attention import BahdanauAttention, LuongAttention, context_vector, masked_softmax
from attnlib.scores import additive_score


def lengths_mask(lengths, S):
    return torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]


def test_masked_softmax_rows_sum_to_one_and_zero_on_padding(device):
    s = torch.randn(3, 4, 6, device=device)
    mask = lengths_mask([6, 2, 4], 6).to(device)
    w = masked_softmax(s, mask)
    assert torch.allclose(w.sum(-1), torch.ones(3, 4, device=device))
    assert bool((w[~mask[:, None, :].expand_as(w)] == 0).all())


def test_all_masked_row_gives_zeros_not_nan():
    s = torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False, False], [False] * 4])
    w = masked_softmax(s, mask)
    assert not torch.isnan(w).any()
    assert bool((w[1] == 0).all())
    s.requires_grad_()
    masked_softmax(s, mask).sum().backward()
    assert not torch.isnan(s.grad).any()


def test_masked_softmax_is_stable_for_huge_scores():
    s = torch.tensor([[[1000.0, 1001.0, -1000.0]]])
    w = masked_softmax(s, torch.tensor([[True, True, True]]))
    assert torch.allclose(w, torch.softmax(s.double(), -1).float(), atol=1e-6)


def test_padding_values_do_not_matter():
    s = torch.randn(2, 3, 5)
    mask = lengths_mask([5, 3], 5)
    s2 = s.clone()
    s2[1, :, 3:] = 1e9  # huge garbage on padding
    assert torch.equal(masked_softmax(s, mask), masked_softmax(s2, mask))


def test_temperature():
    s = torch.randn(1, 1, 5)
    assert torch.allclose(masked_softmax(s, temperature=2.0), torch.softmax(s / 2, -1))
    with pytest.raises(ValueError, match="temperature"):
        masked_softmax(s, temperature=0.0)


@pytest.mark.parametrize("mask,match", [
    (torch.ones(2, 5), "dtype torch.bool"),
    (torch.ones(2, 4, dtype=torch.bool), r"shape \(B, S\) = \(2, 5\)"),
    (torch.ones(3, 5, dtype=torch.bool), r"shape \(B, S\)"),
])
def test_mask_errors(mask, match):
    with pytest.raises((TypeError, ValueError), match=match):
        masked_softmax(torch.randn(2, 3, 5), mask)


def test_context_vector_is_weighted_sum_of_values():
    w = torch.softmax(torch.randn(2, 3, 4), -1)
    values = torch.randn(2, 4, 6)
    expected = torch.einsum("bts,bsh->bth", w, values)
    assert torch.allclose(context_vector(w, values), expected, atol=1e-6)
    with pytest.raises(ValueError, match="source length S"):
        context_vector(w, torch.randn(2, 5, 6))


def test_luong_dot_equals_sdpa_with_mask(device):
    q, k = torch.randn(3, 4, 8, device=device), torch.randn(3, 6, 8, device=device)
    mask = lengths_mask([6, 3, 1], 6).to(device)
    context, weights = LuongAttention(8, "dot").to(device)(q, k, mask)
    expected = F.scaled_dot_product_attention(q, k, k, attn_mask=mask[:, None, :], scale=1.0)
    assert torch.allclose(context, expected, atol=1e-6)
    assert weights.shape == (3, 4, 6)


def test_luong_general_identity_equals_dot():
    q, k = torch.randn(2, 3, 5), torch.randn(2, 4, 5)
    general = LuongAttention(5, "general")
    with torch.no_grad():
        general.W_a.copy_(torch.eye(5))
    c1, w1 = general(q, k)
    c2, w2 = LuongAttention(5, "dot")(q, k)
    assert torch.allclose(w1, w2, atol=1e-6) and torch.allclose(c1, c2, atol=1e-6)


def test_luong_errors():
    with pytest.raises(ValueError, match="unknown Luong score"):
        LuongAttention(4, "cosine")
    with pytest.raises(ValueError, match="dot score needs key_size == hidden_size"):
        LuongAttention(4, "dot", key_size=6)


def test_bahdanau_matches_formula_and_precomputed_keys():
    torch.manual_seed(0)
    att = BahdanauAttention(4, 6, 5)
    s_prev, keys = torch.randn(2, 3, 4), torch.randn(2, 7, 6)
    mask = lengths_mask([7, 4], 7)
    context, weights = att(s_prev, keys, mask)
    e = additive_score(s_prev, keys, att.W_a, att.U_a, att.v_a)
    expected_w = torch.softmax(e.masked_fill(~mask[:, None], float("-inf")), -1)
    assert torch.allclose(weights, expected_w, atol=1e-6)
    assert torch.allclose(context, expected_w @ keys, atol=1e-6)
    c2, w2 = att(s_prev, keys, mask, key_proj=att.project_keys(keys))
    assert torch.equal(c2, context) and torch.equal(w2, weights)


def test_bahdanau_projects_keys_once_per_sentence(monkeypatch):
    """Decoding a sentence calls project_keys once, not once per step."""
    from attnlib.seq2seq import ModelConfig, build_model

    model = build_model(ModelConfig(variant="bahdanau", hidden_size=8, emb_size=4), 10, 10).eval()
    calls = []
    original = model.decoder.attention.project_keys
    monkeypatch.setattr(model.decoder.attention, "project_keys", lambda keys: calls.append(1) or original(keys))
    src = torch.randint(4, 10, (2, 5))
    model(src, torch.tensor([5, 3]), torch.randint(4, 10, (2, 6)))
    model.greedy(src, torch.tensor([5, 3]), max_len=6)
    assert len(calls) == 2


@pytest.mark.parametrize("module", ["dot", "general", "concat", "bahdanau"])
def test_gradcheck_modules(module):
    torch.manual_seed(0)
    att = BahdanauAttention(4, 4, 3) if module == "bahdanau" else LuongAttention(4, module, attn_size=3)
    att = att.double()
    q, k = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True), torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    mask = lengths_mask([5, 2], 5)
    assert torch.autograd.gradcheck(lambda q, k: att(q, k, mask), (q, k))


@pytest.mark.parametrize("lengths", [[4, 2], [4, 0]], ids=["padding", "an all-padding row"])
def test_gradcheck_masked_softmax(lengths):
    s = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    mask = lengths_mask(lengths, 4)
    assert torch.autograd.gradcheck(lambda s: masked_softmax(s, mask, temperature=0.7), (s,))
