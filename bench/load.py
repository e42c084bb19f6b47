"""Benchmark 9: learners sharing one machine (the course's thread policy, attnlib.device).

Each learner is a separate Python process that does what notebook 05's live
training does: the date task, the Luong dot model (E=32, H=128), batch 128,
attnlib's train(). Every learner builds its data and model first, then all
start training at the same moment; a learner's time is its training steps
alone (History.train_seconds; process start and evaluations excluded).

For each thread count (1, 2, all CPUs) and each class size (1, 2, 3 learners
at once) we report the slowest learner. The policy's row has the floor: with
the course's threads (configure_threads(), what the notebooks apply), the
slowest of three learners at once is at most 2.5x slower than one alone.
Fair sharing of 2 cores by 3 learners predicts 1.5-2x.

    python -m bench.load learner THREADS STEPS   # one learner (what the benchmark starts)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from .rows import Row, machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOOR = 2.5  # slowest of three learners at once / one alone, with the course's threads


def learner(threads: str, steps: int, quick: bool = False) -> None:
    """One learner: set up, say 'ready', wait for a line on stdin, train `steps` steps, print JSON."""
    import torch

    from attnlib.data import date_splits
    from attnlib.device import configure_threads, seed_everything
    from attnlib.seq2seq import ModelConfig, build_model
    from attnlib.train import TrainConfig, train
    from attnlib.vocab import Vocab

    used = configure_threads(None if threads == "policy" else threads)
    train_pairs, test_pairs = date_splits(2000 if quick else 20000, 20, seed=0)
    sv, tv = Vocab.build(s for s, _ in train_pairs), Vocab.build(t for _, t in train_pairs)
    seed_everything(0)
    size = dict(emb_size=8, hidden_size=16) if quick else dict(emb_size=32, hidden_size=128)
    model = build_model(ModelConfig(variant="dot", **size), len(sv), len(tv))
    config = TrainConfig(max_steps=steps, eval_every=steps, target=None, progress=False, batch_size=16 if quick else 128)
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    history = train(model, train_pairs, test_pairs, sv, tv, config, val_pairs=test_pairs)  # as before the validation split
    print(json.dumps({"threads": used, "torch_threads": torch.get_num_threads(), "train_seconds": history.train_seconds,
                      "cpu_seconds": time.process_time() - cpu, "steps": steps}), flush=True)


def run_learners(n: int, threads: str, steps: int, quick: bool = False, timeout: float = 600) -> list[dict]:
    """Start n learners, release them together once all are ready; -> their results."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATTNLIB_NUM_THREADS")}
    cmd = [sys.executable, "-m", "bench.load", "learner", str(threads), str(steps)] + (["--quick"] if quick else [])
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(n)]
    try:
        for p in procs:
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a learner did not start (said {line!r}, exit {p.wait()})")
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=timeout)
            if p.returncode != 0:
                raise RuntimeError(f"a learner failed with exit {p.returncode}")
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def bench_load(ctx, device):
    """9. Three learners on one machine: slowest learner's training time vs one alone, by thread count."""
    from attnlib.device import COURSE_THREADS, available_cpus

    steps = 3 if ctx.quick else 60
    cpus = available_cpus()
    counts = [COURSE_THREADS] if ctx.quick else sorted({COURSE_THREADS, 1, 2, cpus})
    alone, rows = {}, []
    for threads in counts:
        for n in (1, 3) if ctx.quick else (1, 2, 3):
            results = run_learners(n, str(threads), steps, ctx.quick)
            slowest = max(r["train_seconds"] for r in results)
            if n == 1:
                alone[threads] = slowest
            ctx.log(f"[bench]   {threads} thread(s), {n} learner(s): slowest {slowest:.1f} s")
            rows.append(Row(f"load/threads={threads}/learners={n}",
                            f"9. {n} learner(s) training at once on {cpus} CPUs, {threads} torch thread(s) each: "
                            f"slowest learner's {steps} steps (Luong dot, dates, B=128, H=128) vs one alone",
                            f"{slowest:.1f} s", f"{alone[threads]:.1f} s alone", slowest / alone[threads],
                            ratio_text=f"{slowest / alone[threads]:.2f}x slower",
                            values={"results": results, "threads": threads, "learners": n},
                            machine=machine(threads=threads)))
    policy = next(r for r in rows if r.id == f"load/threads={COURSE_THREADS}/learners=3")
    ratio = policy.ratio
    rows.append(Row("load/policy", f"9. the course's policy (configure_threads(): {COURSE_THREADS} thread per learner): "
                    f"slowest of 3 learners at once vs one alone, on {cpus} CPUs",
                    policy.attnlib, policy.baseline, ratio, ratio_text=f"{ratio:.2f}x slower",
                    floor_text=f"≤ {FLOOR:g}x", passed=ratio <= FLOOR, speed=True,
                    note="one learner alone: " + ", ".join(f"{alone[t]:.1f} s with {t} thread(s)" for t in counts)))
    return rows


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "learner":
        learner(sys.argv[2], int(sys.argv[3]), quick="--quick" in sys.argv)
    else:
        sys.exit(__doc__)
