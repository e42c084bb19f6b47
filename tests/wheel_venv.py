"""Build the course's wheel and install it, with torch==2.13.0 and its lab extra, into a fresh venv outside
the repository. Used once per session through the `course_install` fixture (tests/conftest.py).

The wheel is built by pip with build isolation (setuptools from the package index, as a learner's
`pip install git+...` does); the build log is kept to check that setuptools warns about nothing
deprecated. Installing takes most of the time (timings in CourseInstall.times): the packages come from the
local index or pip's cache, and --no-compile halves pip's CPU time (measured: 25 s instead of 56 s; Python
compiles what the tests import when they import it).
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"  # as the Makefile's TORCH: a local CPU wheel here


@dataclass
class CourseInstall:
    wheel: Path
    venv: Path
    build_log: str
    times: dict = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self, home: Path) -> dict:
        """A learner's environment: the venv first on PATH, a fresh HOME and Jupyter dirs, nothing from the repository."""
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("JUPYTER", "IPYTHON", "MPL", "PYTHON", "VIRTUAL_ENV", "NBGRADER"))}
        home.mkdir(parents=True, exist_ok=True)
        return {**keep, "HOME": str(home), "PATH": f"{self.bin}{os.pathsep}/usr/bin:/bin",
                "JUPYTER_CONFIG_DIR": str(home / ".jupyter"), "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
                "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"), "IPYTHONDIR": str(home / ".ipython"),
                "MPLCONFIGDIR": str(home / ".mpl"), "PYTHONUNBUFFERED": "1"}

    def run(self, args: list[str], cwd: Path, home: Path, timeout: float = 600, check: bool = True):
        proc = subprocess.run(args, cwd=cwd, env=self.env(home), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_and_install(tmp: Path) -> CourseInstall:
    assert not tmp.resolve().is_relative_to(REPO), f"{tmp} is inside the repository"
    times = {}
    t = time.monotonic()
    dist = tmp / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(dist), str(REPO)],
                           cwd=tmp, capture_output=True, text=True, timeout=600)
    if build.returncode != 0:
        raise AssertionError(f"building the wheel failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}")
    (wheel,) = dist.glob("attnlib-*.whl")
    times["build wheel"] = time.monotonic() - t

    t = time.monotonic()
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True)
    times["create venv"] = time.monotonic() - t
    t, cpu = time.monotonic(), _children_cpu()
    install = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", TORCH, f"{wheel}[lab]"],
                             cwd=tmp, capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        raise AssertionError(f"pip install of the wheel failed:\n{install.stdout[-4000:]}\n{install.stderr[-4000:]}")
    times["pip install"] = time.monotonic() - t
    times["pip install, CPU"] = _children_cpu() - cpu   # what the wall time is on an idle machine, roughly
    return CourseInstall(wheel, env_dir, build.stdout + build.stderr, times)
