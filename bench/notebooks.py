"""Benchmark 6: seconds to execute every solution notebook, top to bottom, with nbclient.

The kernel is the venv's ``python3`` (the interpreter running the benchmark);
notebooks run in memory from their own folder, nothing is written back.
"""
from __future__ import annotations

import glob
import os
import resource
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

from .rows import Row

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_notebook(path: str, timeout: int = 600) -> tuple[float, float]:
    """Execute one notebook in memory; -> (wall seconds, kernel CPU seconds), kernel start included.

    The CPU seconds are the kernel process's user + system time (read from
    RUSAGE_CHILDREN once the kernel has exited): unlike wall time they do not
    grow when other processes share the cores. Raises on a failing cell.
    """
    nb = nbformat.read(path, as_version=4)
    env_path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    os.environ["PATH"] = env_path
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}}).execute()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)


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
            seconds, cpu = run_notebook(_tiny_notebook(tmp), timeout=120)
        return [Row("notebooks/quick", "6. nbclient path check: one tiny generated notebook (--quick does not run the course)",
                    f"{seconds:.1f} s ({cpu:.1f} CPU s)", "—", None, floor_text="< 60 s", speed=True, cuda="n/a")]
    paths = sorted(glob.glob(os.path.join(ROOT, "solutions", "*", "*.ipynb")))
    paths = [p for p in paths if ".ipynb_checkpoints" not in p]
    rows, total, total_cpu, failures = [], 0.0, 0.0, []
    for i, path in enumerate(paths):
        name = os.path.relpath(path, ROOT)
        try:
            seconds, cpu = run_notebook(path)
            error = ""
        except KeyboardInterrupt:  # stopped from outside: report what ran
            failures += [os.path.relpath(p, ROOT) for p in paths[i:]]
            rows.append(Row("notebooks/interrupted", f"6. interrupted: {len(paths) - i} notebook(s) not timed",
                            "—", "—", None, cuda="n/a", note=", ".join(failures[-(len(paths) - i):])))
            break
        except Exception as e:  # a failing notebook is a result to report, not a crash of the benchmark
            cpu = float("nan")
            seconds, error = float("nan"), f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
            failures.append(name)
        total += 0.0 if error else seconds
        total_cpu += 0.0 if error else cpu
        rows.append(Row(f"notebooks/{name}", f"6. execute {name} (wall, kernel CPU time)",
                        f"{seconds:.1f} s ({cpu:.1f} CPU s)" if not error else "error", "—",
                        None, floor_text="< 60 s", passed=(not error) and seconds < 60.0, note=error, cuda="n/a",
                        values={"seconds": seconds, "cpu_seconds": cpu}))
    rows.append(Row("notebooks/total", f"6. the whole course: {len(paths)} solution notebook(s) found, "
                    f"{len(paths) - len(failures)} ran", f"{total:.1f} s ({total_cpu:.1f} CPU s)", "—", None, floor_text="< 300 s",
                    passed=(total < 300.0 and not failures) if paths else None,
                    note="" if paths else "no solutions/*/*.ipynb exists yet: nothing to time", cuda="n/a",
                    values={"seconds": total, "cpu_seconds": total_cpu, "count": len(paths), "failed": failures}))
    return rows
