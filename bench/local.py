"""Benchmark "local": the cost of one decoder step, global vs local attention, against S.

Luong's local attention reads the 2D + 1 positions of a window instead of the
S positions of the sentence (Luong et al. 2015, section 3.2). attnlib's
LocalAttention gathers only those positions, so its cost per decoder step
should stay nearly flat in S, while global attention grows linearly.

One decoder step: query (B, 1, H), keys (B, S, H), a padding mask (lengths
between S/2 and S). All candidates use the dot score, so they differ only in
where they look (the general score would add attnlib's per-call W_a h̄_s, an
O(S·H²) term, to global attention only):
- global: attnlib.attention.LuongAttention("dot");
- local-m, local-p: attnlib.local.LocalAttention("dot", window=D), gathered;
- local-p (dense): the same weights from the full (B, 1, S) scores with a
  window mask (attnlib.local.local_weights), what a masking implementation costs.
Forward (greedy/beam decoding) and forward + backward (a training step with
input feeding, where each step runs alone), medians of interleaved repetitions,
each repetition timing a loop of calls (one call lasts tens of microseconds).
The rows compare local-p with global; every series is in the plot
local_scaling.png (written by bench/report.py from the "local/flat" row's values).
The backward pass of every candidate writes a dense (B, S, H) gradient for the
keys (autograd zero-fills it), so local attention's forward + backward is not
flat in S; its forward, what each generated token costs, is.
Runs on the CPU only: the device list of bench/__main__.py (ON_CUDA) is left
as it is; the module runs unchanged on CUDA (tests/test_local.py).
"""
from __future__ import annotations

import torch

from attnlib.attention import LuongAttention, context_vector
from attnlib.local import LocalAttention, local_weights
from attnlib.scores import dot_score

from .measure import interleaved_times, median
from .rows import Row

FLOOR_S = 1000          # where the floor is judged
FLOOR = 3.0             # local-p forward at least 3x faster than global at S = 1000 (see the row's note)
FLAT_MAX = 2.0          # local-p's forward time at the largest S over its time at the smallest S


def window_for(ctx) -> int:
    return 2 if ctx.quick else 10  # Luong's D = 10; --quick sizes have S < 2D + 1


def step_inputs(B, S, H, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(max(1, S // 2), S + 1, (B,), generator=g)
    lengths[0] = S
    return {"query": torch.randn(B, 1, H, generator=g).to(device).requires_grad_(),
            "keys": torch.randn(B, S, H, generator=g).to(device).requires_grad_(),
            "mask": (torch.arange(S)[None, :] < lengths[:, None]).to(device),  # (B, S)
            "grad": torch.randn(B, 1, H, generator=g).to(device)}


def candidates(H, D, device):
    torch.manual_seed(0)
    local_m = LocalAttention(H, "dot", window=D).to(device)
    local_p = LocalAttention(H, "dot", window=D, predictive=True).to(device)
    glob = LuongAttention(H, "dot").to(device)

    def dense(x):  # local-p from the full scores: O(S) like global
        positions = local_p.positions(x["query"], x["mask"])  # (B, 1)
        weights = local_weights(dot_score(x["query"], x["keys"]), positions, D, x["mask"], local_p.sigma)  # (B, 1, S)
        return context_vector(weights, x["keys"]), weights

    return {"global": lambda x: glob(x["query"], x["keys"], x["mask"]),
            "local-m": lambda x: local_m(x["query"], x["keys"], x["mask"]),
            "local-p": lambda x: local_p(x["query"], x["keys"], x["mask"]),
            "local-p (dense)": dense}


def _loop(fn, x, inner, backward):
    def run():
        for _ in range(inner):
            if backward:
                x["query"].grad = x["keys"].grad = None
                fn(x)[0].backward(x["grad"])
            else:
                with torch.no_grad():
                    fn(x)
    return run


def bench_local(ctx, device):
    """Global vs local attention, one decoder step (T = 1), forward and forward + backward, against S."""
    p = ctx.sizes
    D, B, H = window_for(ctx), p.B, p.H
    Ss = p.scaling_S  # (30, 100, 300, 1000); --quick: tiny
    inner = 2 if ctx.quick else 20
    fns = candidates(H, D, device)
    series = {mode: {name: {"S": [], "seconds": []} for name in fns} for mode in ("forward", "forward + backward")}
    rows, agree = [], 0.0
    for S in Ss:
        x = step_inputs(B, S, H, device)
        with torch.no_grad():
            ctx_out, w = fns["local-p"](x)
            ctx_ref, w_ref = fns["local-p (dense)"](x)
        agree = max(agree, float((w - w_ref).abs().max()), float((ctx_out - ctx_ref).abs().max()))
        for mode, backward in (("forward", False), ("forward + backward", True)):
            runs = {name: _loop(fn, x, inner, backward) for name, fn in fns.items()}
            times = interleaved_times(runs, device, reps=p.reps_for(S), warmup=1)
            for name in fns:
                series[mode][name]["S"].append(S)
                series[mode][name]["seconds"].append(median(times[name]) / inner)
            loc, glob = series[mode]["local-p"]["seconds"][-1], series[mode]["global"]["seconds"][-1]
            floored = mode == "forward" and S == FLOOR_S
            rows.append(Row(f"local/{'fwd' if not backward else 'fwd+bwd'}/S={S}",
                            f"local. one decoder step, {mode}, local-p (D={D}, gathered) vs global attention, "
                            f"dot score, B={B} H={H} S={S}",
                            f"{loc * 1e6:.0f} µs", f"{glob * 1e6:.0f} µs", glob / loc,
                            floor_min=FLOOR if floored else None, speed=True,
                            note=("a window of 2D + 1 = 21 reads 2% of S = 1000 positions; ≥ 3x leaves room for "
                                  "the gather/scatter and the position predictor (O(H²), like a 128-wide S)")
                            if floored else "",
                            values={"local_s": loc, "global_s": glob, "D": D}))
    fwd = series["forward"]["local-p"]["seconds"]
    rows.append(Row(f"local/flat/S={Ss[0]}..{Ss[-1]}",
                    f"local. local-p forward per step at S={Ss[-1]} over S={Ss[0]} (nearly flat in S; "
                    f"all series: bench/local_scaling.png)",
                    f"{fwd[-1] / fwd[0]:.2f}x", f"global {series['forward']['global']['seconds'][-1] / series['forward']['global']['seconds'][0]:.2f}x",
                    None, floor_text=f"≤ {FLAT_MAX:g}x (not judged at --quick sizes)" if ctx.quick else f"≤ {FLAT_MAX:g}x",
                    passed=None if ctx.quick else fwd[-1] / fwd[0] <= FLAT_MAX,
                    values={"local_series": series, "device": device, "D": D, "B": B, "H": H,
                            "threads": torch.get_num_threads()}))
    rows.append(Row("local/agree", "local. gathered local-p = dense local-p (max abs diff of weights and context)",
                    f"{agree:.1e}", "dense (B, 1, S) reference", None, floor_text="< 1e-4 (float32)",
                    passed=agree < 1e-4, values={"max_abs_diff": agree}))
    return rows
