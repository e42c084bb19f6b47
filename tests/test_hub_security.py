"""No student can impersonate, starve or crash another: the login matrix and the limits per student.

The class of tests/test_hub.py (deploy/ on 127.0.0.1, temporary Linux users, passwords from
deploy/add-users.sh) with two students, A and B, both servers running. A tries to log in as B; then A's
kernel runs three bounded hogs (a memory hog, a fork loop, an all-core busy loop) while B's kernel
answers a small cell again and again: each hog must meet A's own limit (A's kernel dies and restarts,
fork fails, A is throttled to its CPU share) and B must keep answering within NEIGHBOUR_MAX_S.
Prints the login matrix and B's seconds per cell (no hog, then during each hog) with -s.

Needs root, like test_hub.py. ATTN_LIMITS=off (by hand) runs the same hogs with no limits: the
tests then fail, after printing what each hog did to the neighbour (docs/teaching.md's "before").
"""
from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path

import pytest
from test_hub import NEEDS_ROOT, cgroup_dirs, identities, proc_children, running_class, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.exclusive, NEEDS_ROOT]  # resource limits: alone

NEIGHBOUR_CELL = "sum(i * i for i in range(200_000))"  # ~20 ms on an idle core
NEIGHBOUR_MAX_S = 5.0  # "answers a cell within a few seconds"
# The hogs are sized from A's limits, but never past these, even when A has no limit (ATTN_LIMITS=off):
HOG_MEMORY_MAX = 4 * 2**30  # then 1 GiB more
HOG_TASKS_MAX = 512  # then 64 more


@pytest.fixture(scope="module")
def hub():
    with running_class() as k:
        k.make_users()
        k.start_hub()
        a, b = k.students[:2]
        for name in (a, b):
            r = k.api("POST", f"/users/{name}/server")
            assert r.status_code in (201, 202), f"spawn {name}: {r.status_code} {r.text}"

        def ready():
            models = [k.api("GET", f"/users/{n}").json() for n in (a, b)]
            return all(m["servers"].get("", {}).get("ready") for m in models) and models
        models = wait_for("both servers to be ready", ready, 180, 0.5)
        for model in models:
            name = model["name"]
            k.server_pids[name] = model["servers"][""]["state"]["pid"]
            r = k.api("POST", f"/users/{name}/tokens", json={"note": "attn-test", "expires_in": 3600})
            assert r.status_code in (200, 201), r.text
            k.tokens[name] = r.json()["token"]
        k.hub_procs = identities(proc_children(k.hub.pid))
        k.kernels = {n: k.ok(n, "POST", "api/kernels", json={"name": "python3"})["id"] for n in (a, b)}
        k.execute(b, k.kernels[b], NEIGHBOUR_CELL)  # warm up
        k.baseline = [neighbour_cell(k) for _ in range(5)]
        yield k


def neighbour_cell(k) -> float:
    """Seconds for B's kernel to answer the small cell, through the proxy as a browser would."""
    b = k.students[1]
    t0 = time.perf_counter()
    k.execute(b, k.kernels[b], NEIGHBOUR_CELL, timeout=60)
    return time.perf_counter() - t0


def hog(k, code: str, timeout: float = 120) -> tuple[str, str, list[float]]:
    """Run code in A's kernel while B answers cells: (A's status, A's output, B's seconds per cell)."""
    a = k.students[0]
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        zip(("status", "out"), k.run_cell(a, k.kernels[a], code, timeout))), daemon=True)
    worker.start()
    times = []
    while worker.is_alive():
        times.append(neighbour_cell(k))
        time.sleep(0.2)
    worker.join()
    assert result, f"{a}'s hog cell raised (see the log above)"
    return result["status"], result["out"], times


def report(k, what: str, status: str, out: str, times: list[float]):
    print(f"\n{what}: A's cell {status} ({out.strip()[-200:]!r}); B's seconds per cell: "
          f"no hog median {statistics.median(k.baseline):.3f} max {max(k.baseline):.3f}; "
          f"during median {statistics.median(times):.3f} max {max(times):.3f} over {len(times)} cells")
    assert times, "B answered no cell during the hog"
    assert max(times) < NEIGHBOUR_MAX_S, f"during the {what}, B's kernel took {max(times):.1f} s for a cell: {times}"


def a_cgroup(k) -> dict[str, Path]:
    return cgroup_dirs(k.server_pids[k.students[0]])


def counter(path: Path, key: str) -> int:
    """A 'key value' line of a cgroup file (memory.events, memory.oom_control, pids.events, cpu.stat); 0 where
    the file is missing (a root cgroup, ATTN_LIMITS=off)."""
    if not path.exists():
        return 0
    for line in path.read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    raise AssertionError(f"no {key} in {path}")


def limit(group: dict[str, Path], controller: str) -> int | None:
    """The limit on this cgroup: bytes, tasks, or CPU quota in microseconds per 100 ms; None for no limit."""
    d = group[controller]
    v2 = (d / "cgroup.controllers").exists()
    name = {"memory": ("memory.limit_in_bytes", "memory.max"), "pids": ("pids.max", "pids.max"),
            "cpu": ("cpu.cfs_quota_us", "cpu.max")}[controller][v2]
    if not (d / name).exists():  # the root cgroup has no limit files
        return None
    value = (d / name).read_text().split()[0]
    if value == "max" or int(value) < 0 or int(value) >= 2**62:
        return None
    if controller == "cpu":
        period = int((d / "cpu.max").read_text().split()[1]) if v2 else int((d / "cpu.cfs_period_us").read_text())
        return int(value) * 100_000 // period
    return int(value)


def test_login_matrix(hub):
    """Each password opens its own account only; the old class password and a wrong one open none."""
    a, b, teacher = hub.students[0], hub.students[1], hub.instructor
    pw = hub.passwords
    matrix = [(a, pw[a], 302), (b, pw[b], 302), (teacher, pw[teacher], 302),
              (b, pw[a], 403), (a, pw[b], 403), (teacher, pw[a], 403),
              (a, hub.password, 403), (a, pw[a] + "x", 403), (a, "", 403)]
    labels = {pw[a]: "A's password", pw[b]: "B's password", pw[teacher]: "instructor's password",
              hub.password: "old class password", pw[a] + "x": "wrong password", "": "empty password"}
    got = {}
    threads = [threading.Thread(target=lambda n=n, p=p: got.__setitem__((n, p), hub.login(n, p)))
               for n, p, _ in matrix]  # at once: PAM waits ~2 s after each failure
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    who = {a: "A", b: "B", teacher: "instructor"}
    print("\nlogin matrix:\n" + "\n".join(f"  as {who[n]:<10} with {labels[p]:<22} -> {got.get((n, p))}"
                                          for n, p, _ in matrix))
    wrong = [(who[n], labels[p], got.get((n, p)), want) for n, p, want in matrix if got.get((n, p)) != want]
    assert not wrong, f"(user, password, got, expected): {wrong}"


def test_each_server_in_its_own_cgroup_with_the_class_limits(hub):
    """Each server and every process it started sit in their student's cgroup, with the configured limits
    and one thread per kernel."""
    for name in hub.students[:2]:
        pid = hub.server_pids[name]
        group = cgroup_dirs(pid)
        assert set(group) == {"memory", "pids", "cpu"}, f"{name}'s server: controllers {group}"
        for controller, d in group.items():
            assert d.parts[-2:] == ("attention-course", name), f"{name}'s server is in {d} for {controller}"
        kids = proc_children(pid)
        assert len(kids) >= 2, f"{name}'s server has no kernel process: {kids}"
        strays = {p: cgroup_dirs(p) for p in kids if os.path.exists(f"/proc/{p}") and cgroup_dirs(p) != group}
        assert not strays, f"processes of {name}'s server outside its cgroup: {strays}"
        limits = {c: limit(group, c) for c in group}
        print(f"\n{name}: memory {limits['memory'] / 2**30:.2f} GiB, {limits['pids']} tasks, "
              f"{limits['cpu'] / 100_000:.2f} CPUs; tasks in use {(group['pids'] / 'pids.current').read_text().split()[0]}")
        if not any(v in os.environ for v in ("ATTN_STUDENT_MEMORY", "ATTN_STUDENT_TASKS", "ATTN_STUDENT_CPUS")):
            assert limits == {"memory": 2 * 2**30, "pids": 512, "cpu": 100_000}, f"{name}'s limits: {limits}"
        environ = dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in v)
        threads = {v: environ.get(v) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATTNLIB_NUM_THREADS")}
        assert set(threads.values()) == {"1"}, f"{name}'s server environment: {threads}"


def test_memory_hog_kills_only_its_own_kernel(hub):
    """A keeps allocating past the limit: the OOM killer ends A's kernel inside A's cgroup, JupyterLab
    is told it restarts, A's server lives on, and B's kernel keeps answering."""
    a, group = hub.students[0], a_cgroup(hub)
    mem = limit(group, "memory")
    v2 = (group["memory"] / "memory.events").exists()
    oom_file = group["memory"] / ("memory.events" if v2 else "memory.oom_control")
    kills_before = counter(oom_file, "oom_kill")
    chunks = (min(mem or HOG_MEMORY_MAX, HOG_MEMORY_MAX) + 2**30) // 2**26  # 1 GiB past the limit, 64 MiB at a time
    code = (f"chunks = []\nfor _ in range({chunks}):\n    chunks.append(b'x' * 2**26)\n"
            "print(len(chunks) * 64, 'MiB allocated: the limit did not hold')\ndel chunks")
    status, out, times = hog(hub, code)
    report(hub, "memory hog", status, out, times)
    assert status == "restarting", f"{a}'s kernel was not restarted after the memory hog: {status} {out[-500:]}"
    assert counter(oom_file, "oom_kill") > kills_before, f"no OOM kill recorded in {oom_file}"
    assert os.path.exists(f"/proc/{hub.server_pids[a]}"), f"{a}'s server died with the kernel"
    hub.wait_restarted(a, hub.kernels[a])


def test_fork_loop_stops_at_the_task_limit(hub):
    """A forks sleeping children until fork fails: it fails at A's task limit, not the machine's."""
    a, group = hub.students[0], a_cgroup(hub)
    tasks = min(limit(group, "pids") or HOG_TASKS_MAX, HOG_TASKS_MAX)
    events = group["pids"] / "pids.events"
    refused_before = counter(events, "max")
    code = f"""
import os, signal, time
kids, error = [], None
try:
    for _ in range({tasks + 64}):  # bounded: a few more than the limit
        pid = os.fork()
        if pid == 0:
            try:
                time.sleep(60)
            finally:
                os._exit(0)
        kids.append(pid)
except OSError as e:
    error = e
finally:
    for pid in kids:
        os.kill(pid, signal.SIGKILL)
    for pid in kids:
        os.waitpid(pid, 0)
print(len(kids), type(error).__name__)
"""
    status, out, times = hog(hub, code)
    report(hub, "fork loop", status, out, times)
    assert status == "ok", f"{a}'s fork loop: {status} {out[-500:]}"
    forked, error = out.split()
    assert error == "BlockingIOError" and int(forked) < tasks, f"forked {forked} of {tasks + 64}, then {error}"
    assert counter(events, "max") > refused_before, f"{events} counted no refused fork"
    assert hub.run_cell(a, hub.kernels[a], "print(1 + 1)") == ("ok", "2\n"), f"{a}'s kernel did not recover"


def test_busy_loop_is_held_to_its_cpu_share(hub):
    """A spins two processes per core for a few seconds: A gets at most its CPU limit, B keeps answering."""
    a, group = hub.students[0], a_cgroup(hub)
    cpus = (limit(group, "cpu") or 0) / 100_000  # 0: no limit, and the test fails below
    stat = group["cpu"] / "cpu.stat"
    throttled_before = counter(stat, "nr_throttled")
    code = """
import os, time
spin_s, n = 6, 2 * os.cpu_count()
before, t0, kids = os.times(), time.monotonic(), []
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        try:
            end = time.monotonic() + spin_s
            while time.monotonic() < end:
                pass
        finally:
            os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
after = os.times()
used = (after.children_user - before.children_user) + (after.children_system - before.children_system)
print(f"{used / (time.monotonic() - t0):.2f}")
"""
    status, out, times = hog(hub, code)
    report(hub, "busy loop", status, out, times)
    assert status == "ok", f"{a}'s busy loop: {status} {out[-500:]}"
    cores = float(out.split()[-1])
    throttled = counter(stat, "nr_throttled") - throttled_before
    print(f"A's busy loop used {cores:.2f} cores (limit {cpus:.2f}, machine {os.cpu_count()}), "
          f"throttled in {throttled} periods of 100 ms")
    assert cores <= cpus * 1.15, f"A's busy loop used {cores:.2f} cores, over its limit of {cpus:.2f}"
    # On a busy machine A may get less than its limit and never be throttled: then the limit had nothing to do.
    assert throttled > 0 or cores < cpus * 0.9, f"{stat}: A used {cores:.2f} cores and was never throttled"
