"""Regenerate notebooks/ (the learners' copies) from solutions/ with nbgrader.

    .venv/bin/python tools/release.py                 # every assignment in solutions/
    .venv/bin/python tools/release.py 03_softmax_weights
    .venv/bin/python tools/release.py --release-dir /tmp/out   # elsewhere (tests compare it with notebooks/)

Runs `nbgrader generate_assignment <id> --force` from the repository root (so
nbgrader_config.py applies) with this interpreter's bin/ first on PATH (nbgrader
shells out to `alembic`). nbgrader insists on a gradebook: it gets a temporary
one, deleted afterwards, so no gradebook.db lands in the repository.
Exits non-zero, naming the assignment, when nbgrader fails.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions"


def assignments() -> list[str]:
    """Assignment ids: every solutions/<id>/ holding <id>.ipynb, sorted."""
    return sorted(p.parent.name for p in SOURCE.glob("*/*.ipynb") if p.stem == p.parent.name)


def nbgrader_env() -> dict:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def generate(ids: list[str] | None = None, release_dir: Path | None = None) -> list[str]:
    """Run nbgrader generate_assignment for each id; -> the ids done. Raises RuntimeError on failure."""
    everything = ids is None
    ids = assignments() if everything else list(ids)
    if not ids:
        raise RuntimeError(f"no assignment found: expected solutions/<id>/<id>.ipynb under {SOURCE}")
    missing = [i for i in ids if not (SOURCE / i / f"{i}.ipynb").is_file()]
    if missing:
        raise RuntimeError(f"no source notebook for {missing}: expected solutions/<id>/<id>.ipynb")
    with tempfile.TemporaryDirectory(prefix="attn-release-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'gradebook.db'}"
        # One nbgrader run for all assignments ("*" is nbgrader's own glob) saves a start-up per notebook.
        for assignment in (["*"] if everything else ids):
            cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                   f"--CourseDirectory.db_url={db_url}"]
            if release_dir is not None:
                cmd.append(f"--CourseDirectory.release_directory={Path(release_dir).resolve()}")
            proc = subprocess.run(cmd, cwd=ROOT, env=nbgrader_env(), capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"nbgrader generate_assignment {assignment} failed (exit {proc.returncode}):\n"
                                   f"{proc.stdout}\n{proc.stderr}")
    return ids


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate notebooks/ from solutions/ with nbgrader.")
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: all in solutions/)")
    parser.add_argument("--release-dir", type=Path, default=None, help="write here instead of notebooks/")
    args = parser.parse_args(argv)
    try:
        done = generate(args.assignments or None, args.release_dir)
    except RuntimeError as e:
        print(f"release failed: {e}", file=sys.stderr)
        return 1
    where = args.release_dir or ROOT / "notebooks"
    print(f"released {len(done)} assignment(s) into {where}: {', '.join(done)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
