"""Command line: python -m grading grade SUBMISSIONS [options]. Exit 0 when the batch completed."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .sandbox import Limits, SandboxError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="autograde SUBMISSIONS/<student>/<assignment>/*.ipynb")
    g.add_argument("submissions", help="folder of SUBMISSIONS/<student>/<assignment>/*.ipynb")
    g.add_argument("--out", type=Path, default=Path("grading-output"), help="gradebook.db, grades.csv, feedback/")
    g.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once (default: all cores)")
    g.add_argument("--release", type=Path, default=Path("notebooks"), help="released notebooks (code outside answers)")
    g.add_argument("--source", type=Path, default=Path("solutions"), help="source notebooks (hidden tests)")
    d = Limits()
    g.add_argument("--cell-timeout", type=float, default=d.cell_timeout, help="seconds per cell")
    g.add_argument("--notebook-timeout", type=float, default=d.notebook_timeout, help="seconds per notebook")
    g.add_argument("--eval-timeout", type=float, default=d.eval_timeout, help="seconds for the grader's calls of one exercise")
    g.add_argument("--memory-mb", type=int, default=d.memory_bytes // 2 ** 20, help="address-space limit of a kernel")
    g.add_argument("--output-kb", type=int, default=d.output_bytes // 1024, help="output of one cell")
    g.add_argument("--scratch-mb", type=int, default=d.scratch_bytes // 2 ** 20, help="size of each writable tmpfs")
    g.add_argument("--uid-base", type=int, default=61000, help="first spare uid (one per worker)")
    args = parser.parse_args(argv)
    if not args.submissions.strip():
        parser.error("give the submissions folder: python -m grading grade SUBMISSIONS (make grade SUBMISSIONS=path)")
    args.submissions = Path(args.submissions)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    if min(args.cell_timeout, args.notebook_timeout, args.eval_timeout) <= 0:
        parser.error("timeouts must be > 0")
    limits = Limits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                    eval_timeout=args.eval_timeout, memory_bytes=args.memory_mb * 2 ** 20,
                    output_bytes=args.output_kb * 1024, scratch_bytes=args.scratch_mb * 2 ** 20,
                    file_bytes=min(args.scratch_mb, 256) * 2 ** 20)
    # quick checks first: the pipeline imports torch and nbgrader
    if not args.submissions.is_dir():
        print(f"grading: no submissions folder {args.submissions}", file=sys.stderr)
        return 2
    if not args.release.is_dir() or not any(p.is_dir() for p in args.release.iterdir()):
        print(f"grading: no released assignments in {args.release} (run `make release`)", file=sys.stderr)
        return 2
    from .assignment import AssignmentError
    from .pipeline import grade_all
    # nbgrader's Gradebook runs `alembic`: the venv's bin first on PATH
    os.environ["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    try:
        grade_all(args.submissions.resolve(), args.out.resolve(), args.release.resolve(), args.source.resolve(),
                  args.jobs, limits, uid_base=args.uid_base)
    except (SandboxError, AssignmentError, FileNotFoundError) as e:
        print(f"grading: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
