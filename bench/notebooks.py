"""Benchmark 6: seconds to execute every solution notebook, top to bottom, with nbclient.

The kernel is the venv's ``python3`` (the interpreter running the benchmark);
notebooks run in memory from their own folder, nothing is written back.
"""
from __future__ import annotations

import glob
import os
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

from .rows import Row

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_notebook(path: str, timeout: int = 600) -> float:
    """Execute one notebook in memory; -> seconds (kernel start included). Raises on a failing cell."""
    nb = nbformat.read(path, as_version=4)
    env_path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    os.environ["PATH"] = env_path
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}}).execute()
    return time.perf_counter() - start


def _tiny_notebook(folder: str) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import torch\nfrom attnlib.scores import dot_score\nprint(dot_score(torch.ones(1, 1, 2), torch.ones(1, 3, 2)).shape)")])
    path = os.path.join(folder, "tiny.ipynb")
    nbformat.write(nb, path)
    return path


def bench_notebooks(ctx, device):
    """6. The whole course: every solutions/*/*.ipynb (at --quick, one tiny generated notebook)."""
    if ctx.quick:
        with tempfile.TemporaryDirectory() as tmp:
            seconds = run_notebook(_tiny_notebook(tmp), timeout=120)
        return [Row("notebooks/quick", "6. nbclient path check: one tiny generated notebook (--quick does not run the course)",
                    f"{seconds:.1f} s", "—", None, floor_text="< 60 s", speed=True, cuda="n/a")]
    paths = sorted(glob.glob(os.path.join(ROOT, "solutions", "*", "*.ipynb")))
    paths = [p for p in paths if ".ipynb_checkpoints" not in p]
    rows, total, failures = [], 0.0, []
    for path in paths:
        name = os.path.relpath(path, ROOT)
        try:
            seconds = run_notebook(path)
            error = ""
        except Exception as e:  # a failing notebook is a result to report, not a crash of the benchmark
            seconds, error = float("nan"), f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
            failures.append(name)
        total += 0.0 if error else seconds
        rows.append(Row(f"notebooks/{name}", f"6. execute {name}", f"{seconds:.1f} s" if not error else "error", "—",
                        None, floor_text="< 60 s", passed=(not error) and seconds < 60.0, note=error, cuda="n/a",
                        values={"seconds": seconds}))
    rows.append(Row("notebooks/total", f"6. the whole course: {len(paths)} solution notebook(s) found, "
                    f"{len(paths) - len(failures)} ran", f"{total:.1f} s", "—", None, floor_text="< 300 s",
                    passed=(total < 300.0 and not failures) if paths else None,
                    note="" if paths else "no solutions/*/*.ipynb exists yet: nothing to time", cuda="n/a",
                    values={"seconds": total, "count": len(paths), "failed": failures}))
    return rows
