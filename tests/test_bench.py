"""The benchmark harness: every benchmark runs at --quick sizes, the outputs have their structure,
and the baselines compute what attnlib computes. No timing is asserted here (speed is shown in
bench/results.md, never tested).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from attnlib.attention import context_vector, masked_softmax
from attnlib.scores import additive_score, dot_score, general_score

from bench import baselines, kernels
from bench import __main__ as cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rand(*shape, g, scale=1.0):
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).requires_grad_()


def _mask(B, S, g):
    lengths = torch.randint(1, S + 1, (B,), generator=g)
    lengths[0] = S
    return torch.arange(S)[None, :] < lengths[:, None]  # (B, S)


@pytest.mark.parametrize("seed", [0, 1])
def test_additive_score_equals_broadcast(seed):
    g = torch.Generator().manual_seed(seed)
    B, T, S, H, A = 3, 5, 7, 6, 4
    q, k = _rand(B, T, H, g=g), _rand(B, S, H, g=g)
    W_q, W_k, v = _rand(A, H, g=g), _rand(A, H, g=g), _rand(A, g=g)
    grad = torch.randn(B, T, S, generator=g, dtype=torch.float64)
    ours = additive_score(q, k, W_q, W_k, v)
    ours.backward(grad)
    ours_grads = [t.grad.clone() for t in (q, k, W_q, W_k, v)]
    for t in (q, k, W_q, W_k, v):
        t.grad = None
    base = baselines.broadcast_additive_score(q, k, W_q, W_k, v)
    base.backward(grad)
    torch.testing.assert_close(ours, base)
    for a, t in zip(ours_grads, (q, k, W_q, W_k, v)):
        torch.testing.assert_close(a, t.grad)


@pytest.mark.parametrize("score", ["dot", "general"])
def test_luong_with_mask_equals_sdpa(score):
    g = torch.Generator().manual_seed(3)
    B, T, S, H = 4, 3, 9, 5
    q, k, W = _rand(B, T, H, g=g), _rand(B, S, H, g=g), _rand(H, H, g=g)
    mask = _mask(B, S, g)
    scores = dot_score(q, k) if score == "dot" else general_score(q, k, W)
    ours = context_vector(masked_softmax(scores, mask), k)
    base = baselines.sdpa_luong(q, k, mask, None if score == "dot" else W)
    torch.testing.assert_close(ours, base)
    # the mask matters: without it the results differ, so this comparison can fail
    unmasked = baselines.sdpa_luong(q, k, torch.ones_like(mask), None if score == "dot" else W)
    assert (unmasked - ours).abs().max() > 1e-3


def test_tutorial_decoder_step_is_luong_dot_without_mask():
    torch.manual_seed(0)
    model = baselines.TutorialSeq2Seq(11, 13, "dot", emb_size=4, hidden_size=6).double()
    src = torch.randint(4, 11, (2, 5))
    keys, state = model.encoder(src)
    _, (h, _), weights = model.decoder.step(torch.tensor([1, 1]), state, keys)
    torch.testing.assert_close(weights, masked_softmax(dot_score(h[:, None], keys))[:, 0])
    logp = model(src, torch.randint(3, 13, (2, 4)))
    assert logp.shape == (2, 4, 13)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(2, 4, dtype=torch.float64))


def test_peak_bytes_sees_the_broadcast():
    """The memory measure must show the (B, T, S, A) tensor the broadcast keeps for backward."""
    from bench.measure import peak_bytes

    x = kernels.score_inputs(4, 6, 50, 16, 32, "cpu")
    B, T, S, A = 4, 6, 50, 32
    broadcast = peak_bytes(kernels.fwd_bwd(kernels.SCORE_FNS["additive (broadcast baseline)"], x))
    assert broadcast >= 2 * B * T * S * A * 4  # the sum and its tanh, float32
    assert peak_bytes(lambda: torch.empty(1 << 20)) >= 4 << 20


def test_equality_rows_fail_on_a_wrong_baseline(monkeypatch):
    """The equality floors can fail: a baseline that forgets the tanh is caught."""
    wrong = lambda q, k, W_q, W_k, v: ((q @ W_q.T).unsqueeze(2) + (k @ W_k.T).unsqueeze(1)) @ v  # noqa: E731
    monkeypatch.setitem(kernels.SCORE_FNS, "additive (broadcast baseline)",
                        lambda x: wrong(x["query"], x["keys"], x["W_q"], x["W_k"], x["v"]))
    ctx = cli.Context(cli.QUICK, quick=True)
    rows = kernels.bench_additive(ctx, "cpu")
    equal = [r for r in rows if r.id.startswith("additive/equal")]
    assert equal and all(r.passed is False for r in equal)


@pytest.mark.exclusive  # the load and robustness benchmarks start processes of their own
def test_quick_run_writes_every_benchmark(tmp_path):
    # one thread: on shared cores, two threads wait on each other at every small op (see bench_all_threads)
    rows, code = cli.run(list(cli.BENCHMARKS), quick=True, out_dir=str(tmp_path), log=lambda *a: None, threads=1)
    assert code == 0, [r.id for r in rows if r.passed is False]
    prefixes = {"additive", "luong", "step", "time_to_99", "decode", "notebooks", "scaling", "load", "robustness"}
    assert prefixes <= {r.id.split("/")[0] for r in rows}
    md = (tmp_path / "results.md").read_text()
    assert "| benchmark | attnlib | baseline | ratio | floor | pass/fail | CUDA | CPU |" in md
    assert all(r.machine for r in rows)  # every row names the CPU and kernels it ran on
    if not torch.cuda.is_available():
        assert "CUDA: not measured, no GPU in this run" in md
    assert md.count("\n| ") >= len(rows) + 1
    data = json.loads((tmp_path / "results.json").read_text())
    assert [r["id"] for r in data["rows"]] == [r.id for r in rows]
    for r in data["rows"]:
        assert {"benchmark", "attnlib", "baseline", "ratio", "floor_text", "verdict", "cuda"} <= set(r)
    equal = [r for r in data["rows"] if "/equal" in r["id"]]
    assert len(equal) == 4 and all(r["verdict"] == "pass" for r in equal)
    assert all(r["values"]["max_abs_diff"] < 1e-5 for r in equal)
    series = data["scaling"]["cpu"]
    assert set(series) == set(kernels.SCORE_FNS)
    assert all(len(s["S"]) == len(cli.QUICK.scaling_S) and min(s["seconds"]) > 0 for s in series.values())
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_only_and_exit_code(tmp_path, monkeypatch):
    out = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "luong", "--threads", "1",
                          "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["meta"]["benchmarks"] == ["luong"] and all(r["id"].startswith("luong/") for r in data["rows"])
    # a missed floor gives a non-zero exit code
    monkeypatch.setitem(kernels.LUONG, "dot", (kernels.LUONG["dot"][0], lambda x: x["query"] * 2, ("query",)))
    _, code = cli.run(["luong"], quick=True, out_dir=str(tmp_path / "bad"), log=lambda *a: None, threads=1)
    assert code == 1


def test_merge_combines_parts(tmp_path):
    cli.run(["luong"], quick=True, out_dir=str(tmp_path / "a"), log=lambda *a: None, threads=1)
    cli.run(["scaling"], quick=True, out_dir=str(tmp_path / "b"), log=lambda *a: None, threads=2)
    code = cli.merge([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "m"), log=lambda *a: None)
    assert code == 0
    data = json.loads((tmp_path / "m" / "results.json").read_text())
    ids = [r["id"] for r in data["rows"]]
    assert any(i.startswith("luong/") for i in ids) and any(i.startswith("scaling/") for i in ids)
    # rows measured with other threads than the course's policy say so
    assert not any("thread" in r["benchmark"] for r in data["rows"] if r["id"].startswith("luong/"))
    assert all(r["benchmark"].endswith("[2 threads]") for r in data["rows"] if r["id"].startswith("scaling/"))
    assert (tmp_path / "m" / "scaling.png").exists() and "| benchmark |" in (tmp_path / "m" / "results.md").read_text()
