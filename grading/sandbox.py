"""One submission's sandbox: bubblewrap around grading/runner.py, as root, the student's code as a spare uid.

What the sandbox sees (read-only): /usr, the Python install, the venv and
attnlib/ (at their real paths, because the venv and the editable install
name them), the job folder at /job (mode 0700: only the runner reads it).
What it may write: /scratch (its home) and /tmp, two size-limited tmpfs that
vanish with it, and /io-out (its outputs for the grader). /io holds the
runner's files (connection file, grader scripts, the inputs of the exercise
being graded), writable by the runner only. Everything else, solutions/, notebooks/, grading/, tests/, the
gradebook, other submissions, /root and the network, is absent: bubblewrap
unshares the network (loopback only, enough for the kernel's ZMQ), the pid
and IPC namespaces, and dies with its parent.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

RUNNER = Path(__file__).with_name("runner.py")
MAX_RESULT_BYTES = 256 * 2 ** 20


@dataclass(frozen=True)
class Limits:
    cell_timeout: float = 60.0          # seconds per cell, then the kernel is interrupted (and killed 5 s later)
    notebook_timeout: float = 600.0     # seconds for the whole notebook, grading calls included
    eval_timeout: float = 30.0          # seconds for the grader's calls of one exercise
    memory_bytes: int = 3 * 2 ** 30     # RLIMIT_AS of the kernel: torch imports fine under 2 GiB
    nproc: int = 128                    # RLIMIT_NPROC of the student's uid (threads count): stops fork bombs
    file_bytes: int = 256 * 2 ** 20     # RLIMIT_FSIZE: the largest file the kernel may write
    scratch_bytes: int = 512 * 2 ** 20  # size of the /scratch tmpfs (and of /tmp)
    output_bytes: int = 2 ** 20         # output of one cell, counted while it runs
    interrupt_grace: float = 5.0        # seconds an interrupted cell gets before the kernel is killed
    max_restarts: int = 2               # kernel restarts (after a death) per notebook

    def as_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class SandboxError(RuntimeError):
    """The sandbox could not be set up on this machine (not a problem of the submission)."""


def check_host() -> None:
    """Fail early, with what to do, when this machine cannot run the sandbox."""
    if os.geteuid() != 0:
        raise SandboxError("grading runs each submission as a spare uid inside bubblewrap and needs root: "
                           "run `make grade` as root (or with sudo)")
    for tool in ("bwrap", "setpriv", "prlimit"):
        if shutil.which(tool) is None:
            raise SandboxError(f"{tool!r} not found: install it with `apt-get install bubblewrap util-linux`")


def preflight(limits: Limits) -> None:
    """Start one empty sandbox and import what the runner needs: a machine that cannot is a grader failure."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="grading-preflight-") as tmp:
        cmd = bwrap_command(Path(tmp), limits)[:-2] + ["-c", "import attnlib, ipykernel, jupyter_client"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise SandboxError("the sandbox did not start within 120 s") from None
    if proc.returncode != 0:
        raise SandboxError(f"the sandbox does not start on this machine: {proc.stderr.strip()[-1500:]}")


def _read_only_paths() -> list[Path]:
    venv = Path(sys.prefix)
    base = Path(sys.base_prefix).resolve()
    import importlib.util
    spec = importlib.util.find_spec("attnlib")            # located, not imported (keeps the CLI quick)
    if spec is None or not spec.submodule_search_locations:
        raise SandboxError("attnlib is not installed in this Python (run `make setup`)")
    lib = Path(list(spec.submodule_search_locations)[0]).resolve()
    return [base, venv, lib]


def bwrap_command(job_dir: Path, limits: Limits) -> list[str]:
    cmd = ["bwrap", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
           "--die-with-parent", "--new-session", "--hostname", "grader",
           "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        p = Path("/") / name
        if p.is_symlink():
            cmd += ["--symlink", os.readlink(p), str(p)]
        elif p.is_dir():
            cmd += ["--ro-bind", str(p), str(p)]
    # /tmp first: the venv or attnlib may live under /tmp (a CI clone), and must be bound on top of it.
    cmd += ["--size", str(limits.scratch_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
    made = {Path("/tmp")}
    for path in _read_only_paths():
        for parent in reversed(path.parents):
            if str(parent) != "/" and parent not in made:
                cmd += ["--perms", "0711", "--dir", str(parent)]   # traversable, not listable
                made.add(parent)
        cmd += ["--ro-bind", str(path), str(path)]
        made.add(path)
    for f in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(f):
            cmd += ["--ro-bind", f, f]
    cmd += ["--ro-bind", str(job_dir), "/job",
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(limits.scratch_bytes), "--perms", "0755", "--tmpfs", "/scratch",
            "--size", str(64 * 2 ** 20), "--perms", "0755", "--tmpfs", "/io",
            "--size", str(64 * 2 ** 20), "--perms", "0755", "--tmpfs", "/io-out",
            "--chdir", "/scratch", "--clearenv",
            "--setenv", "PATH", f"{Path(sys.prefix) / 'bin'}:/usr/bin:/bin",
            "--setenv", "HOME", "/scratch", "--setenv", "LANG", "C.UTF-8",
            "--cap-drop", "ALL"]
    for cap in ("CAP_KILL", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_CHOWN"):
        cmd += ["--cap-add", cap]
    cmd += [str(Path(sys.prefix) / "bin" / "python"), "-I", "/job/runner.py"]
    return cmd


def kernel_env(uid: int) -> dict:
    """The kernel's whole environment (nothing of the grader's leaks in)."""
    return {"PATH": f"{Path(sys.prefix) / 'bin'}:/usr/bin:/bin", "HOME": "/scratch/home", "USER": f"student{uid}",
            "LANG": "C.UTF-8", "TMPDIR": "/tmp", "IPYTHONDIR": "/scratch/home/.ipython",
            "MPLCONFIGDIR": "/scratch/home/.matplotlib", "JUPYTER_RUNTIME_DIR": "/scratch/home/.runtime",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "CUDA_VISIBLE_DEVICES": "", "NBGRADER_EXECUTION": "autograde"}


def kill_uid(uid: int) -> None:
    """SIGKILL any process left with this uid on the host (belt and braces: the pid namespace ends with bwrap)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


def uids_in_use(uids) -> set[int]:
    """The uids among `uids` that own a running process or a user account (not spare)."""
    import pwd
    wanted, found = set(uids), set()
    for uid in wanted:
        try:
            pwd.getpwuid(uid)
            found.add(uid)
        except KeyError:
            pass
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
            except OSError:
                continue
            if uid in wanted:
                found.add(uid)
    return found


def run_job(job_dir: Path, limits: Limits, uid: int) -> tuple[bytes | None, str]:
    """Run runner.py on job_dir in a fresh sandbox; return (stdout bytes or None, what happened)."""
    shutil.copy(RUNNER, job_dir / "runner.py")
    os.chmod(job_dir, 0o700)
    cmd = bwrap_command(job_dir, limits)
    chunks, size = [], [0]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)

    def pump():
        while True:
            block = proc.stdout.read(1 << 16)
            if not block:
                return
            if size[0] + len(block) <= MAX_RESULT_BYTES:
                chunks.append(block)
            size[0] += len(block)

    err = []
    t1 = threading.Thread(target=pump, daemon=True)
    t2 = threading.Thread(target=lambda: err.append(proc.stderr.read(1 << 16)), daemon=True)
    t1.start(), t2.start()
    hard = limits.notebook_timeout + 60 + limits.interrupt_grace * 2
    what = "finished"
    try:
        proc.wait(timeout=hard)
    except subprocess.TimeoutExpired:
        what = "killed after the notebook time limit"
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
    t1.join(10)
    t2.join(2)
    kill_uid(uid)
    if size[0] > MAX_RESULT_BYTES:
        return None, "result larger than the grader accepts"
    if proc.returncode != 0 and what == "finished":
        what = f"sandbox exited with {proc.returncode}: {(err[0] if err else b'').decode('utf-8', 'replace')[-2000:]}"
    return b"".join(chunks), what
