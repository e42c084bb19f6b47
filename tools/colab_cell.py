"""Put the Colab install cell first in every solutions notebook, and the Colab/Binder badges in README.md.

    .venv/bin/python tools/colab_cell.py            # refresh solutions/*/<id>.ipynb and README.md, then `make release`
    .venv/bin/python tools/colab_cell.py --check    # exit 1 (naming them) if any would change

Idempotent: the cell (recognised by its first line, MARKER) becomes the first code cell of each
solutions/<id>/<id>.ipynb, inserted before the notebook's first code cell or refreshed in place;
no other cell, output or metadata is touched, and a notebook already current is not rewritten.
A new cell is stored as executed (execution_count 0) with no output, which is what it prints outside
Colab: nbval checks exactly that; re-executing the notebook later numbers it like any cell.
README.md's block between BADGES_START and BADGES_END gets one "Open in Colab" badge per
notebook and one Binder badge.

Everything comes from pyproject.toml, the one place for it: the repository URL
(project.urls.Repository; without one, the cell says the course is not published yet) and the
dependencies besides torch. On Colab the cell installs attnlib from the repository with --no-deps
(Colab's CUDA torch stays; pyproject's torch requirement is never resolved there) and then those
light dependencies; anywhere else (make lab, pip install, Binder, nbgrader) it does nothing.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
MARKER = "# Colab only: install the course beside Colab's own torch. Anywhere else this cell does nothing."
CELL_ID = "colab-install"
BADGES_START = "<!-- badges: written by tools/colab_cell.py from pyproject.toml -->"
BADGES_END = "<!-- end of badges -->"
BRANCH = "main"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[;]", spec.strip(), maxsplit=1)[0].lower()


def project(root: Path = ROOT) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]


def repository(root: Path = ROOT) -> str | None:
    """project.urls.Repository, without a trailing slash or .git; None when pyproject has none."""
    url = (project(root).get("urls") or {}).get("Repository")
    return re.sub(r"(\.git)?/*$", "", url) if url else None


def light_dependencies(root: Path = ROOT) -> list[str]:
    """pyproject's dependencies without torch: what the Colab cell installs beside Colab's torch."""
    return [d for d in project(root)["dependencies"] if _name(d) != "torch"]


def cell_source(root: Path = ROOT) -> str:
    url, deps = repository(root), light_dependencies(root)
    head = [MARKER,
            "# Written by tools/colab_cell.py from pyproject.toml (project.urls, dependencies): change those, not this cell.",
            "try:",
            "    import google.colab  # noqa: F401  (importable on Colab only)",
            "except ImportError:",
            "    pass",
            "else:"]
    if url is None:
        return "\n".join(head + [
            '    print("This course is not published yet (its pyproject.toml names no repository): nothing was installed. "',
            '          "Upload a built wheel and pip install it, or run the course locally.")'])
    return "\n".join(head + [
        "    import subprocess, sys",
        f"    COURSE = {json.dumps(url)}",
        '    if subprocess.run(["git", "ls-remote", "--exit-code", COURSE, "HEAD"], capture_output=True).returncode != 0:',
        '        print(f"The course is not published at {COURSE} yet (or cannot be reached): nothing was installed.")',
        "    else:",
        '        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", f"attnlib @ git+{COURSE}"], check=True)',
        f'        subprocess.run([sys.executable, "-m", "pip", "install", "-q", {", ".join(json.dumps(d) for d in deps)}], check=True)'])


def is_colab_cell(cell) -> bool:
    return cell.cell_type == "code" and cell.source.startswith(MARKER)


def first_code_cell(nb):
    return next((c for c in nb.cells if c.cell_type == "code"), None)


def with_cell(nb, source: str):
    """nb with the Colab cell (source) as its first code cell; -> (nb, changed)."""
    first = first_code_cell(nb)
    if first is not None and is_colab_cell(first):
        if first.source == source:
            return nb, False
        first.source = source
        return nb, True
    nb.cells = [c for c in nb.cells if not is_colab_cell(c)]   # one stray lower down goes; it is re-made first
    # Stored as executed, with what it prints anywhere but Colab: nothing. nbval then runs it and checks that
    # (tests/test_notebooks.py rejects unexecuted cells); 0 = before the first cell a kernel numbers.
    cell = nbformat.v4.new_code_cell(source, execution_count=0, outputs=[])
    if nb.get("nbformat_minor", 0) >= 5:
        cell.id = CELL_ID
    else:
        cell.pop("id", None)
    at = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(at, cell)
    return nb, True


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted(p for p in (root / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)


def badges(ids: list[str], root: Path = ROOT) -> str:
    url = repository(root)
    if url is None or not url.startswith("https://github.com/"):
        return "(Colab and Binder badges appear here once pyproject.toml's project.urls.Repository names the GitHub repository.)"
    gh = url.removeprefix("https://github.com/")
    lines = ["```bash", f'pip install "attnlib[lab] @ git+{url}"', "```", "",f"[![Binder]({BINDER_BADGE})](https://mybinder.org/v2/gh/{gh}/{BRANCH}?urlpath=lab/tree/notebooks) "
             "all the notebooks in JupyterLab on Binder", ""]
    for i in ids:
        lines.append(f"[![Open In Colab]({COLAB_BADGE})](https://colab.research.google.com/github/{gh}/blob/{BRANCH}/"
                     f"notebooks/{i}/{i}.ipynb) `{i}`<br>")
    return "\n".join(lines)


def readme_text(text: str, ids: list[str], root: Path = ROOT) -> str:
    if BADGES_START not in text or BADGES_END not in text:
        raise RuntimeError(f"README.md lacks the badge block ({BADGES_START} ... {BADGES_END})")
    before, rest = text.split(BADGES_START, 1)
    _, after = rest.split(BADGES_END, 1)
    return f"{before}{BADGES_START}\n{badges(ids, root)}\n{BADGES_END}{after}"


def refresh(root: Path = ROOT, check: bool = False) -> list[str]:
    """Bring every solutions notebook's Colab cell and README's badges up to date; -> the files (to be) changed."""
    source, changed = cell_source(root), []
    paths = notebooks(root)
    for path in paths:
        nb, diff = with_cell(nbformat.read(path, as_version=4), source)
        if diff:
            changed.append(str(path.relative_to(root)))
            if not check:
                nbformat.write(nb, path)
    readme = root / "README.md"
    old = readme.read_text()
    new = readme_text(old, [p.stem for p in paths], root)
    if new != old:
        changed.append("README.md")
        if not check:
            readme.write_text(new)
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Put the Colab install cell first in every solutions notebook; "
                                                 "write README's Colab and Binder badges.")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of date")
    args = parser.parse_args(argv)
    changed = refresh(check=args.check)
    if args.check:
        if changed:
            print("out of date (run tools/colab_cell.py, then make release): " + ", ".join(changed), file=sys.stderr)
            return 1
        print("the Colab cell and the badges are current")
        return 0
    print(("updated " + ", ".join(changed) + "; now run `make release`") if changed else "nothing to update")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
