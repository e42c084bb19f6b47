"""python -m bench [--quick] [--only NAME ...] [--out DIR]

Runs the benchmarks, writes results.md, results.json and scaling.png, and
exits 1 when a floor is missed (2 when a benchmark crashed). A full run writes
into bench/; --quick or --only write into bench/results/tmp/ unless --out says
otherwise, so that the committed results are only replaced by a full run.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field, replace

import torch

from attnlib.device import COURSE_THREADS, configure_threads

from . import kernels, load, notebooks, report, robustness, training
from . import local as local_bench
from .rows import Row, machine

HERE = os.path.dirname(os.path.abspath(__file__))

BENCHMARKS = {
    "additive": kernels.bench_additive,
    "luong": kernels.bench_luong,
    "step": training.bench_step,
    "slices": training.bench_slices,
    "time_to_99": training.bench_time_to_target,
    "decode": training.bench_decode,
    "notebooks": notebooks.bench_notebooks,
    "scaling": kernels.bench_scaling,
    "all_threads": kernels.bench_all_threads,
    "load": load.bench_load,
    "robustness": robustness.bench_robustness,
    "local": local_bench.bench_local,
}
OWN_THREADS = {"load", "robustness"}  # their worker processes set their threads themselves
ON_CUDA = {"additive", "luong", "step", "slices", "time_to_99", "decode", "scaling"}  # notebooks pick their own device; all_threads is a CPU check


@dataclass(frozen=True)
class Sizes:
    B: int = 64
    T: int = 30
    H: int = 128
    A: int = 128
    additive_S: tuple = (30, 100, 300)
    scaling_S: tuple = (30, 100, 300, 1000)
    luong_S: int = 100
    luong_reps: int = 21
    step_batches: tuple = (32, 128)
    step_reps: int = 7
    decode_reps: int = 3
    emb: int = 32
    hidden: int = 128
    hidden_none: int = 256        # the bottleneck needs a wider vector to reach 99% (test_train)
    n_train: int = 20000
    n_test: int = 1000
    variants: tuple = ("none", "dot", "general", "bahdanau")
    cap_factor: float = 5.0
    cap_min: float = 20.0
    cap_max: float = 300.0        # bounds the run; a cap below 5x attnlib's time cannot prove the floor (reported)
    baseline_eval_every: int = 100

    reps: int | None = None       # --reps: one repetition count for every kernel timing
    scaling_B: int | None = None  # --scaling-batch: B for benchmark 7 only (None: B)

    def reps_for(self, S: int) -> int:
        if self.reps is not None:
            return self.reps
        return 3 if S >= 1000 else 5 if S >= 300 else 7


QUICK = Sizes(B=3, T=4, H=8, A=8, additive_S=(5, 7), scaling_S=(5, 7, 9), luong_S=6, luong_reps=2,
              step_batches=(4,), step_reps=2, decode_reps=1, emb=8, hidden=16, hidden_none=16, n_train=200, n_test=20,
              variants=("none", "dot", "general", "bahdanau"), cap_min=0.1, cap_max=0.2, baseline_eval_every=2)


def say(*args) -> None:
    print(*args, flush=True)


@dataclass
class Context:
    sizes: Sizes
    quick: bool
    cache: dict = field(default_factory=dict)
    scaling: dict = field(default_factory=dict)
    log: object = say
    clock: str = "wall"          # time to 99%: "wall" seconds or process "cpu" seconds
    variants: tuple = ()         # time to 99%: a subset of Sizes.variants


def devices() -> list:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def run(names, quick: bool, out_dir: str, log=say, threads: int | None = None, clock: str = "wall",
        variants: tuple = (), reps: int | None = None, scaling_batch: int | None = None) -> tuple[list, int]:
    """Run the named benchmarks, write the results into out_dir; -> (rows, exit code)."""
    before = torch.get_num_threads()
    configure_threads(threads)  # None: the course's policy, as the notebooks run
    try:
        return _run(names, quick, out_dir, log, clock, tuple(variants), reps, scaling_batch)
    finally:
        torch.set_num_threads(before)


def _run(names, quick, out_dir, log, clock, variants, reps=None, scaling_batch=None):
    sizes = QUICK if quick else Sizes()
    if reps is not None:
        sizes = replace(sizes, reps=reps, luong_reps=reps, step_reps=reps)
    if scaling_batch is not None:
        sizes = replace(sizes, scaling_B=scaling_batch)
    ctx = Context(sizes, quick, log=log, clock=clock, variants=variants)
    load_start = os.getloadavg()[0]
    rows, notes, crashed = [], [], []
    interrupted = False
    for name in names:
        if interrupted:
            break
        by_device = {}
        for device in devices() if name in ON_CUDA else ["cpu"]:
            start = time.perf_counter()
            log(f"[bench] {name} on {device} ...")
            try:
                by_device[device] = BENCHMARKS[name](ctx, device)
            except KeyboardInterrupt:  # Ctrl-C / SIGINT: keep what is done, write the report
                crashed.append(f"{name} on {device} (interrupted)")
                notes.append(f"benchmark {name} on {device} was interrupted (SIGINT) before it finished")
                interrupted = True
                break
            except Exception:
                crashed.append(f"{name} on {device}")
                notes.append(f"benchmark {name} on {device} crashed:\n{traceback.format_exc()}")
                log(traceback.format_exc())
                continue
            log(f"[bench] {name} on {device}: {time.perf_counter() - start:.1f} s")
        cpu_rows = by_device.get("cpu", [])
        for r in by_device.get("cuda", []):  # fold the CUDA numbers into the CPU row's CUDA column
            match = next((c for c in cpu_rows if c.id == r.id), None)
            if match is not None:
                match.cuda = f"{r.attnlib} vs {r.baseline} ({r.ratio_str()})"
        if name not in ON_CUDA:
            for r in cpu_rows:
                r.cuda = "n/a"
        where = machine()
        for r in cpu_rows:
            r.machine = r.machine or where
        rows += cpu_rows
        for r in cpu_rows:
            log(f"[bench]   {r.id}: attnlib {r.attnlib} | baseline {r.baseline} | {r.ratio_str()}")
    for r in rows:
        r.judge(quick)
    failed = [r.id for r in rows if r.passed is False]
    cuda = (f"measured on {torch.cuda.get_device_name(0)} (CUDA column)" if torch.cuda.is_available()
            else "not measured, no GPU in this run")
    meta = {
        "command": "python -m bench" + (" --quick" if quick else "") + ("" if names == list(BENCHMARKS) else
                                                                       " --only " + " ".join(names))
                   + ("" if torch.get_num_threads() == COURSE_THREADS else f" --threads {torch.get_num_threads()}")
                   + ("" if clock == "wall" else f" --clock {clock}") + (" --variants " + " ".join(variants) if variants else ""),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{machine()}, torch {torch.__version__}, "
                   f"Python {platform.python_version()}, float32; load average {load_start:.1f} at the start, "
                   f"{os.getloadavg()[0]:.1f} at the end (other processes share the cores)",
        "summary": (f"{sum(r.passed is True for r in rows)} floors passed, {len(failed)} missed"
                    + (f" ({', '.join(failed)})" if failed else "") + (f"; crashed: {', '.join(crashed)}" if crashed else "")
                    + "."),
        "cuda": cuda, "quick": quick, "benchmarks": names, "sizes": ctx.sizes.__dict__, "failed": failed,
        "crashed": crashed, "notes": notes, "threads": torch.get_num_threads(),
        "plot_title": f"Alignment scores, B={ctx.sizes.scaling_B or ctx.sizes.B} T={ctx.sizes.T} H={ctx.sizes.H} A={ctx.sizes.A}, "
                      f"{torch.get_num_threads()} CPU thread(s), float32, forward + backward",
    }
    paths = report.write(out_dir, meta, rows, ctx.scaling)
    log(f"[bench] wrote {', '.join(paths)}")
    log(meta["summary"])
    return rows, (2 if crashed else 1 if failed else 0)


def merge(dirs, out_dir: str, log=say, extra_notes=()) -> int:
    """Combine the results.json of runs made side by side (--only ... --out DIR) into one report.

    Each row keeps the thread count of its own run (written into its name when not 2); a row id
    present in several parts is taken from the last of them.
    -> exit code as a run's (1 when a floor is missed, 2 when a part crashed).
    """
    from dataclasses import fields as dc_fields

    names = {f.name for f in dc_fields(Row)}
    rows, scaling, parts = [], {}, []
    for d in dirs:
        with open(os.path.join(d, "results.json")) as f:
            data = json.load(f)
        meta = data["meta"]
        threads = meta.get("threads", COURSE_THREADS)
        parts.append(meta)
        for r in data["rows"]:
            row = Row(**{k: v for k, v in r.items() if k in names})
            own = row.id.split("/")[0] in OWN_THREADS or row.id.startswith(f"{threads}_threads/")
            if threads != COURSE_THREADS and not own:
                row.benchmark += f" [{threads} thread{'s' if threads > 1 else ''}]"
            rows = [x for x in rows if x.id != row.id] + [row]
        scaling.update(data.get("scaling") or {})
    order = list(BENCHMARKS)
    rows.sort(key=lambda r: order.index(r.id.split("/")[0]) if r.id.split("/")[0] in order else len(order))
    failed = [r.id for r in rows if r.passed is False]
    crashed = [c for m in parts for c in m.get("crashed", [])]
    first = parts[0]
    meta = {
        "command": "`, `".join(m["command"] for m in parts) + "` (run side by side), merged by `python -m bench --merge "
                   + " ".join(os.path.relpath(d, os.path.dirname(HERE)) for d in dirs),
        "date": max(m["date"] for m in parts),
        "machine": "; ".join(sorted({m["machine"] for m in parts})),
        "summary": (f"{sum(r.passed is True for r in rows)} floors passed, {len(failed)} missed"
                    + (f" ({', '.join(failed)})" if failed else "") + (f"; crashed: {', '.join(crashed)}" if crashed else "")
                    + "."),
        "cuda": first["cuda"], "quick": any(m["quick"] for m in parts),
        "benchmarks": [b for m in parts for b in m["benchmarks"]], "sizes": first["sizes"], "failed": failed,
        "crashed": crashed, "notes": list(extra_notes) + [n for m in parts for n in m.get("notes", [])], "parts": parts,
        "plot_title": next((m["plot_title"] for m in parts if "scaling" in m["benchmarks"]), first.get("plot_title", "")),
    }
    paths = report.write(out_dir, meta, rows, scaling)
    log(f"[bench] wrote {', '.join(paths)}")
    log(meta["summary"])
    return 2 if crashed else 1 if failed else 0


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt  # `kill PID` then keeps the finished rows, like Ctrl-C


def main(argv=None) -> int:
    import signal

    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)  # SIGINT is ignored in background jobs
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[2])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, seconds (tests); speed floors not judged")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--threads", type=int, help="torch threads (default: the course's policy, "
                        "attnlib.device.configure_threads: 1, or $ATTNLIB_NUM_THREADS)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="time to 99%%: wall seconds (default) or process CPU seconds (robust when cores are shared)")
    parser.add_argument("--variants", nargs="+", choices=("none", "dot", "general", "bahdanau"), default=(),
                        help="time to 99%% and slices: only these variants")
    parser.add_argument("--reps", type=int, help="repetitions of every kernel/step timing (default: by size)")
    parser.add_argument("--scaling-batch", type=int, help="batch size B for the scaling benchmark (default: B=64)")
    parser.add_argument("--note", action="append", default=[], help="with --merge: a note for the report")
    parser.add_argument("--merge", nargs="+", metavar="DIR", help="merge the results of runs made side by side")
    parser.add_argument("--out", help="output folder (default: bench/ for a full run, else bench/results/tmp/)")
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out or HERE, extra_notes=args.note)
    names = [n for n in BENCHMARKS if n in (args.only or BENCHMARKS)]
    full = not args.quick and not args.only
    out_dir = args.out or (HERE if full else os.path.join(HERE, "results", "tmp"))
    _, code = run(names, args.quick, out_dir, threads=args.threads, clock=args.clock, variants=args.variants,
                  reps=args.reps, scaling_batch=args.scaling_batch)
    return code


if __name__ == "__main__":
    sys.exit(main())
