"""Timing and peak memory, the same way on CPU and CUDA.

Time: each candidate runs after warm-up, the candidates interleaved (A B, B A,
A B, ...) so that load from other processes falls on both alike; we report
medians. CUDA work is synchronised before each clock read.

Peak memory: the highest number of bytes allocated *during* the call on top of
what was already allocated (inputs and parameters excluded).
- CPU: torch.profiler with ``profile_memory=True`` records every allocation and
  free that goes through PyTorch's CPU allocator (c10), with its size; we replay
  them in time order and take the maximum of the running sum. This counts
  tensors (activations kept for backward, gradients, temporaries), not Python
  objects or allocator slack, so it is what a model's size decides.
- CUDA: ``torch.cuda.max_memory_allocated()`` minus ``memory_allocated()`` before,
  after ``reset_peak_memory_stats()``.
"""
from __future__ import annotations

import statistics
import time

import torch


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved_times(fns: dict, device="cpu", reps: int = 7, warmup: int = 1) -> dict:
    """{name: fn} -> {name: [seconds, ...]}: warm-up, then reps rounds, order alternating each round."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    sync(device)
    times = {name: [] for name in names}
    for r in range(reps):
        for name in (names if r % 2 == 0 else names[::-1]):
            sync(device)
            start = time.perf_counter()
            fns[name]()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def median(xs):
    return statistics.median(xs)


def peak_bytes(fn, device="cpu") -> int:
    """Peak bytes allocated during fn() above what was allocated before it."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated(device) - before)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    if not events:
        raise RuntimeError("the profiler recorded no memory event: cannot measure CPU memory")
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return int(peak)
