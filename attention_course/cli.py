"""`attention-course`: get the course's notebooks without a clone, and open them in JupyterLab.

    attention-course fetch [DIR]     copy the student notebooks into DIR (default ./attention-course)
    attention-course lab [DIR]       fetch if needed, then JupyterLab with DIR as root, opened at notebooks/
    attention-course --version

DIR gets notebooks/<id>/<id>.ipynb and docs/*.md (the notebooks link to ../../docs/). fetch never
overwrites a file that is already there: an unchanged file is left as it is, a learner's edited copy
is kept, and a newer course version of a file goes beside it as <name>.v<version>.<ext> (the command
says where). DIR/.attention-course.json records what was fetched, to tell "you edited it" from
"the course changed".
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

from attention_course.layout import learner_files

DEFAULT_DIR = "attention-course"
MANIFEST = ".attention-course.json"

EXAMPLES = """\
examples:
  attention-course fetch                 copy the notebooks into ./attention-course
  attention-course fetch ~/courses/attn  ... or into a folder of your choice
  attention-course lab                   fetch if needed, then open JupyterLab there
  attention-course lab ~/courses/attn --no-browser --port=8899
                                         options after DIR go to JupyterLab
Run `attention-course fetch` again after upgrading the course: your edited notebooks are kept,
newer versions land beside them and the command says where.
"""


def version() -> str:
    try:
        return importlib.metadata.version("attnlib")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without installing it
        return "unknown"


def course_root() -> Path:
    """Where the course's files are: the wheel's package data, else (editable install) the repository."""
    packaged = Path(str(resources.files("attention_course"))) / "course"
    if (packaged / "notebooks").is_dir():
        return packaged
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").is_file() and (repo / "notebooks").is_dir():
        return repo
    raise SystemExit("attention-course: this installation carries no notebooks "
                     f"(looked in {packaged} and {repo / 'notebooks'}); reinstall the course")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _beside(dest: Path, ver: str, data: bytes) -> tuple[Path, bool]:
    """(path next to dest for the course's newer version, whether it must be written)."""
    for n in range(1, 1000):
        tag = f".v{ver}" + (f"-{n}" if n > 1 else "")
        candidate = dest.with_name(dest.stem + tag + dest.suffix)
        if not candidate.exists():
            return candidate, True
        if candidate.read_bytes() == data:
            return candidate, False
    raise SystemExit(f"attention-course: too many versions beside {dest}")


def fetch(target: Path, root: Path | None = None, out=print) -> dict[str, list[str]]:
    """Copy the learner's files into target without overwriting anything; -> {status: [paths]}."""
    root = course_root() if root is None else root
    target = Path(target).expanduser()
    if target.exists() and not target.is_dir():
        raise SystemExit(f"attention-course: {target} exists and is not a folder")
    ver = version()
    manifest_path = target / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    recorded = manifest.get("files", {})
    done: dict[str, list[str]] = {"added": [], "up to date": [], "kept": [], "beside": []}
    for rel in learner_files(root):
        data = (root / rel).read_bytes()
        digest = _sha256(data)
        dest = target / rel
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            done["added"].append(rel)
        elif _sha256(dest.read_bytes()) == digest:
            done["up to date"].append(rel)
        elif recorded.get(rel) == digest:  # the course's copy has not changed since the last fetch: the learner edited it
            done["kept"].append(rel)
        else:  # the course changed (or DIR was not made by fetch): the learner's file stays, the new one goes beside it
            path, write = _beside(dest, ver, data)
            if write:
                path.write_bytes(data)
            done["beside"].append(f"{rel} -> {path.relative_to(target).as_posix()}")
        recorded[rel] = digest
    target.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps({"course": "attention-course", "version": ver, "files": recorded}, indent=1) + "\n")

    out(f"attention-course {ver} in {target}: {len(done['added'])} file(s) added, "
        f"{len(done['up to date'])} up to date, {len(done['kept'])} edited by you and kept, "
        f"{len(done['beside'])} newer version(s) written beside yours")
    for line in done["beside"]:
        rel, new = line.split(" -> ")
        out(f"  {rel}: yours is untouched; the course's version {ver} is in {new}")
    return done


def lab(target: Path, lab_args: list[str]) -> int:
    """Fetch into target, then run JupyterLab with the course's settings, rooted at target, opened at notebooks/."""
    root = course_root()
    fetch(target, root)
    if importlib.util.find_spec("jupyterlab") is None:
        raise SystemExit("attention-course: JupyterLab is not installed here; install the course with its lab extra: "
                         "pip install 'attnlib[lab]'")
    config = root / "lab" / "jupyter_lab_config.py"
    cmd = [sys.executable, "-m", "jupyterlab", f"--config={config}",
           f"--ServerApp.root_dir={Path(target).expanduser().resolve()}", *lab_args]
    try:
        return subprocess.call(cmd, cwd=target)
    except KeyboardInterrupt:
        return 130


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="attention-course",
        description="The attention course (seq2seq attention: Bahdanau 2014, Luong 2015) without a clone: "
                    "copy its notebooks into a folder and open them in JupyterLab.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"attention-course {version()}")
    sub = p.add_subparsers(dest="command", metavar="{fetch,lab}")
    for name, text in (("fetch", "copy the student notebooks into DIR; never overwrites your files"),
                       ("lab", "fetch if needed, then open JupyterLab in DIR (options after DIR go to JupyterLab)")):
        s = sub.add_parser(name, help=text, description=text, epilog=EXAMPLES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        s.add_argument("dir", nargs="?", default=DEFAULT_DIR, metavar="DIR",
                       help=f"the course folder (default: ./{DEFAULT_DIR})")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args, rest = parser().parse_known_args(argv)
    if args.command is None:
        parser().print_help()
        return 2
    if rest and args.command != "lab":
        parser().error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "fetch":
        fetch(Path(args.dir))
        print(f"Open it with: attention-course lab {args.dir}")
        return 0
    return lab(Path(args.dir), rest)


if __name__ == "__main__":
    raise SystemExit(main())
