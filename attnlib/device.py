"""One code path for CPU and GPU: pick the device, seed every generator, share the CPU fairly.

Threads. torch starts one intra-op thread per core in every process. The course's
models are small (H=128, B=128): a second thread saves a learner alone on a
2-core machine about 20% per training step, but several learners on one machine
(a class on one server, a notebook beside a running test) each spin that many
threads against each other, and a step becomes 10x slower instead of 2-3x.
`configure_threads()` is the course's policy, applied by every notebook's setup
cell: one thread per learner (COURSE_THREADS; benchmark `load` measures it),
never more than the CPUs that the process may use (affinity and a cgroup CPU
quota), and the variable ATTNLIB_NUM_THREADS overrides it (a number, or "all").
"""
from __future__ import annotations

import math
import os
import random

import torch

THREADS_ENV = "ATTNLIB_NUM_THREADS"
COURSE_THREADS = 1  # bench/results.md, "load": 3 learners at once on 2 cores stay within ~2x of one alone


def default_device() -> torch.device:
    """CUDA when a GPU is visible, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None means `default_device()`; a name or device is validated."""
    if device is None:
        return default_device()
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA GPU is available; use 'cpu'")
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's and torch's generators; return a torch.Generator seeded the same."""
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cgroup_cpu_quota(root: str = "/sys/fs/cgroup", own: str = "/proc/self/cgroup") -> float | None:
    """CPUs this process may use under CPU quotas: the smallest quota of its cgroup and every ancestor
    (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us); None without one."""
    def read(*path):
        try:
            with open(os.path.join(*path)) as f:
                return f.read().split()
        except OSError:
            return None

    try:
        with open(own) as f:
            lines = f.read().splitlines()  # "0::/path" (v2), "4:cpu,cpuacct:/path" (v1)
    except OSError:
        lines = ["0::/", "1:cpu:/"]  # no /proc: the root's files alone
    quotas = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        parts = [p for p in path.split("/") if p]
        for depth in range(len(parts) + 1):
            here = parts[:depth]
            if controllers == "":
                limit = read(root, *here, "cpu.max")  # "max 100000" or "150000 100000"
                if limit and limit[0] != "max":
                    quotas.append(int(limit[0]) / int(limit[1]))
            elif "cpu" in controllers.split(","):
                quota, period = read(root, "cpu", *here, "cpu.cfs_quota_us"), read(root, "cpu", *here, "cpu.cfs_period_us")
                if quota and period and int(quota[0]) > 0:
                    quotas.append(int(quota[0]) / int(period[0]))
    return min(quotas) if quotas else None


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask, lowered to a cgroup quota (rounded up) when there is one."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpu_quota()
    return max(1, min(cpus, math.ceil(quota))) if quota else cpus


def configure_threads(threads: int | str | None = None) -> int:
    """Set torch's intra-op threads by the course's policy; -> the number set.

    threads: a number, "all", or None for $ATTNLIB_NUM_THREADS, else COURSE_THREADS. Never more
    than `available_cpus()`.
    """
    source = "configure_threads(threads)"
    if threads is None and os.environ.get(THREADS_ENV, "").strip():
        threads, source = os.environ[THREADS_ENV].strip(), f"${THREADS_ENV}"
    if threads is None:
        threads = COURSE_THREADS
    cpus, given = available_cpus(), threads
    if threads == "all":
        threads = cpus
    try:
        threads = int(threads)
    except (TypeError, ValueError):
        threads = 0
    if threads < 1:
        raise ValueError(f"{source} is {given!r}: give a whole number of threads ≥ 1, or 'all'")
    threads = min(threads, cpus)
    torch.set_num_threads(threads)
    return threads
