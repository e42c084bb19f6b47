"""attnlib.transformer against PyTorch's own: F.scaled_dot_product_attention and nn.MultiheadAttention.

float64, random weights and biases (not constants: a transposed matrix must show),
padding masks with sentences of different lengths, causal masks.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from attnlib.attention import LuongAttention
from attnlib.transformer import (dot_product_variance, merge_heads, multi_head_attention, scaled_dot_product_attention,
                                 split_heads)

F64 = torch.float64


def rand(*shape, g, scale=1.0):
    return torch.randn(*shape, generator=g, dtype=F64) * scale


def lengths_mask(lengths, S):
    return torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]  # (B, S)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_sdpa_equals_pytorch(causal, masked):
    g = torch.Generator().manual_seed(0)
    B, T, S, d, Hv = 3, 6, 6, 8, 5
    q, k, v = rand(B, T, d, g=g), rand(B, S, d, g=g), rand(B, S, Hv, g=g)
    mask = lengths_mask([6, 4, 1], S) if masked else None
    out, w = scaled_dot_product_attention(q, k, v, mask, causal=causal)
    if masked and causal:  # PyTorch takes one or the other: combine them by hand
        attn_mask = mask[:, None, :] & torch.ones(T, S, dtype=torch.bool).tril()
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    else:
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask[:, None, :], is_causal=causal)
    torch.testing.assert_close(out, ref)
    assert w.shape == (B, T, S)
    torch.testing.assert_close(w.sum(-1), torch.ones(B, T, dtype=F64))
    if masked:
        assert bool((w[~mask[:, None, :].expand(B, T, S)] == 0).all())
    if causal:
        assert bool((w[:, torch.ones(T, S, dtype=torch.bool).triu(1)] == 0).all())


def test_sdpa_gradients_equal_pytorch_and_gradcheck():
    g = torch.Generator().manual_seed(1)
    q, k, v = (rand(2, 4, 3, g=g).requires_grad_(), rand(2, 5, 3, g=g).requires_grad_(), rand(2, 5, 2, g=g).requires_grad_())
    mask = lengths_mask([5, 2], 5)
    grad = rand(2, 4, 2, g=g)
    ours = torch.autograd.grad(scaled_dot_product_attention(q, k, v, mask)[0], (q, k, v), grad)
    ref = torch.autograd.grad(F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, :]), (q, k, v), grad)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask, causal=True), (q, k, v))


def test_scaling_by_sqrt_d_matters():
    """Without 1/√d (or with 1/d) the result is not the Transformer's: this comparison can fail."""
    g = torch.Generator().manual_seed(2)
    d = 16
    q, k, v = rand(2, 3, d, g=g), rand(2, 7, d, g=g), rand(2, 7, 4, g=g)
    ref = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v)[0], ref)
    for wrong in (1.0, 1 / d):
        assert (scaled_dot_product_attention(q, k, v, scale=wrong)[0] - ref).abs().max() > 1e-2
    # scale=1 is Luong's dot attention
    torch.testing.assert_close(scaled_dot_product_attention(q, k, k, scale=1.0),
                               LuongAttention(d, "dot").double()(q, k))


def test_unscaled_softmax_saturates_with_d():
    """Random unit-variance q, k: unscaled weights collapse onto one position as d grows, scaled ones do not."""
    g = torch.Generator().manual_seed(3)
    S, n = 10, 400

    def mean_entropy(d, scale):
        q, k = rand(n, 1, d, g=g), rand(n, S, d, g=g)
        w = scaled_dot_product_attention(q, k, k, scale=scale)[1]  # (n, 1, S)
        return float(-(w * w.clamp_min(1e-300).log()).sum(-1).mean())

    unscaled = [mean_entropy(d, 1.0) for d in (4, 256)]
    scaled = [mean_entropy(d, None) for d in (4, 256)]
    assert unscaled[1] < 0.5 * unscaled[0]  # ln 10 = 2.3 at most; far lower at d = 256
    assert abs(scaled[1] - scaled[0]) < 0.3


def test_dot_product_variance_grows_like_d():
    """Var(q·k) = d, Var(q·k/√d) = 1. 20000 draws: relative standard error ≤ √(8/20000) = 2%; tolerance 10% (5 σ)."""
    g = torch.Generator().manual_seed(4)
    for d in (1, 4, 16, 64, 256):
        assert abs(dot_product_variance(d, generator=g) / d - 1) < 0.1, d
        assert abs(dot_product_variance(d, scaled=True, generator=g) - 1) < 0.1, d
    with pytest.raises(ValueError, match="d must be a positive int"):
        dot_product_variance(0)


def test_heads_split_and_merge():
    x = torch.arange(2 * 3 * 8.0).view(2, 3, 8)
    heads = split_heads(x, 4)  # (B·N, L, H/N)
    assert heads.shape == (8, 3, 2)
    torch.testing.assert_close(heads[1 * 4 + 2], x[1, :, 4:6])  # sentence 1, head 2: features 4, 5
    torch.testing.assert_close(merge_heads(heads, 4), x)


def mha_with_weights(H, N, g, kdim=None, vdim=None, bias=True):
    mha = torch.nn.MultiheadAttention(H, N, batch_first=True, kdim=kdim, vdim=vdim, bias=bias, dtype=F64)
    with torch.no_grad():  # random everything, biases included (PyTorch starts them at zero)
        for p in mha.parameters():
            p.copy_(rand(*p.shape, g=g, scale=p.shape[-1] ** -0.5 if p.dim() == 2 else 0.5))
    if mha._qkv_same_embed_dim:
        W_q, W_k, W_v = mha.in_proj_weight.chunk(3)
    else:
        W_q, W_k, W_v = mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3) if bias else (None, None, None)
    return mha, dict(W_q=W_q, W_k=W_k, W_v=W_v, W_o=mha.out_proj.weight, b_q=b_q, b_k=b_k, b_v=b_v,
                     b_o=mha.out_proj.bias if bias else None)


@pytest.mark.parametrize("N", [1, 2, 4])
@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_equals_nn_multiheadattention(N, causal):
    g = torch.Generator().manual_seed(5 + N)
    B, T, S, H = 3, 5, 5, 8
    q, k, v = rand(B, T, H, g=g), rand(B, S, H, g=g), rand(B, S, H, g=g)
    mask = lengths_mask([5, 3, 1], S)
    mha, weights = mha_with_weights(H, N, g)
    causal_mask = torch.ones(T, S, dtype=torch.bool).triu(1) if causal else None  # nn: True = not allowed
    ref_out, ref_w = mha(q, k, v, key_padding_mask=~mask, attn_mask=causal_mask)
    out, w = multi_head_attention(q, k, v, **weights, num_heads=N, mask=mask, causal=causal)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)
    _, ref_heads = mha(q, k, v, key_padding_mask=~mask, attn_mask=causal_mask, average_attn_weights=False)
    _, heads = multi_head_attention(q, k, v, **weights, num_heads=N, mask=mask, causal=causal, average_weights=False)
    torch.testing.assert_close(heads, ref_heads)
    # the padding mask matters
    unmasked, _ = multi_head_attention(q, k, v, **weights, num_heads=N, causal=causal)
    assert (unmasked - ref_out).abs().max() > 1e-3


def test_multi_head_attention_with_other_key_and_value_sizes_and_no_bias():
    g = torch.Generator().manual_seed(9)
    B, T, S, H, Hk, Hv, N = 2, 3, 4, 6, 5, 7, 3
    q, k, v = rand(B, T, H, g=g), rand(B, S, Hk, g=g), rand(B, S, Hv, g=g)
    mask = lengths_mask([4, 2], S)
    mha, weights = mha_with_weights(H, N, g, kdim=Hk, vdim=Hv, bias=False)
    ref_out, ref_w = mha(q, k, v, key_padding_mask=~mask)
    out, w = multi_head_attention(q, k, v, **weights, num_heads=N, mask=mask)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(w, ref_w)


def test_wrong_head_split_is_caught():
    """Heads taken along the wrong axis (contiguous chunks of the sequence, not of the features) differ."""
    g = torch.Generator().manual_seed(10)
    B, T, H, N = 2, 4, 8, 2
    q = rand(B, T, H, g=g)
    mha, weights = mha_with_weights(H, N, g)
    ref, _ = mha(q, q, q)
    wrong = lambda x, n: x.reshape(x.shape[0] * n, x.shape[1], x.shape[2] // n)  # noqa: E731  (B·N, L, H/N), mixed up
    import attnlib.transformer as tr
    original = tr.split_heads
    try:
        tr.split_heads = wrong
        bad, _ = multi_head_attention(q, q, q, **weights, num_heads=N)
    finally:
        tr.split_heads = original
    assert (bad - ref).abs().max() > 1e-3
    torch.testing.assert_close(multi_head_attention(q, q, q, **weights, num_heads=N)[0], ref)


def test_errors_name_the_problem():
    g = torch.Generator().manual_seed(11)
    q, k = rand(2, 3, 6, g=g), rand(2, 4, 6, g=g)
    W = rand(6, 6, g=g)
    with pytest.raises(ValueError, match="num_heads must be a positive int dividing the model size H=6"):
        multi_head_attention(q, k, k, W, W, W, W, num_heads=4)
    with pytest.raises(ValueError, match=r"W_k \(H, Hk\) second dimension"):
        multi_head_attention(q, k, k, W, W[:, :5], W, W, num_heads=2)
    with pytest.raises(ValueError, match=r"query size d vs keys: expected 6, got 5"):
        scaled_dot_product_attention(q, k[..., :5], k)
    with pytest.raises(TypeError, match="mask must have dtype torch.bool"):
        scaled_dot_product_attention(q, k, k, torch.ones(2, 4))
    with pytest.raises(TypeError, match="query must be a floating-point tensor"):
        scaled_dot_product_attention(q.long(), k, k)


def test_runs_on_device(device):
    q = torch.randn(2, 3, 4, device=device)
    mask = lengths_mask([3, 2], 3).to(device)
    W = torch.randn(4, 4, device=device)
    out, w = multi_head_attention(q, q, q, W, W, W, W, num_heads=2, mask=mask, causal=True)
    assert out.device.type == device.type and w.shape == (2, 3, 3)
    assert math.isfinite(float(out.sum()))
