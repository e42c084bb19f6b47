"""Colab, Binder and the README's ways in.

- every solutions and released notebook starts (first code cell) with the current Colab cell of
  tools/colab_cell.py, and README's badges are current;
- the Colab cell, executed in a kernel: outside Colab it runs nothing, installs nothing, binds nothing;
  with a fake `google.colab` module it runs exactly the expected commands (recorded, never run):
  attnlib from pyproject's repository URL with --no-deps (Colab's torch stays), then the light
  dependencies, never torch; and when the repository cannot be reached it says so and installs nothing;
- binder/ parses and installs the package with a CPU torch; README's badge links point to notebooks that exist.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import colab_cell  # noqa: E402

SOLUTIONS = sorted(p for p in (REPO / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)
RELEASED = sorted(p for p in (REPO / "notebooks").glob("*/*.ipynb") if p.stem == p.parent.name)


@pytest.mark.parametrize("path", SOLUTIONS + RELEASED, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_notebook_starts_with_the_current_colab_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = colab_cell.first_code_cell(nb)
    assert first is not None and first.source == colab_cell.cell_source(), \
        f"{path.relative_to(REPO)}: its first code cell is not the current Colab cell: run tools/colab_cell.py, then make release"
    assert sum(colab_cell.is_colab_cell(c) for c in nb.cells) == 1


def test_the_colab_tool_has_nothing_left_to_do():
    assert colab_cell.refresh(check=True) == [], "run tools/colab_cell.py, then make release"


def test_the_colab_tool_is_idempotent_and_touches_no_other_cell():
    nb = nbformat.read(SOLUTIONS[0], as_version=4)
    others = [c for c in nb.cells if not colab_cell.is_colab_cell(c)]
    stripped = nbformat.from_dict(json.loads(json.dumps(nb)))
    stripped.cells = [c for c in stripped.cells if not colab_cell.is_colab_cell(c)]
    once, changed = colab_cell.with_cell(stripped, colab_cell.MARKER + "\nprint(\"an older cell\")")
    assert changed
    again, changed = colab_cell.with_cell(once, colab_cell.cell_source())
    assert changed and colab_cell.first_code_cell(again).source == colab_cell.cell_source()
    assert colab_cell.with_cell(again, colab_cell.cell_source())[1] is False
    assert [c for c in again.cells if not colab_cell.is_colab_cell(c)] == others


# ---------------------------------------------------------------- the cell in a kernel

RECORD = '''import importlib.metadata, json, os, subprocess, sys
calls, ls_remote_exit = [], 0
def _record(args, *a, **k):
    calls.append([str(x) for x in args])
    return subprocess.CompletedProcess(args, ls_remote_exit if args[:2] == ["git", "ls-remote"] else 0, b"", b"")
subprocess.run = _record
os.system = lambda cmd: calls.append(["os.system", cmd]) or 0
def _state():
    return ({n for n in globals() if not n.startswith("_")},
            sorted((d.metadata["Name"], d.version) for d in importlib.metadata.distributions()), list(sys.path))
_before = _state()
'''
REPORT = '''_after = _state()
print(json.dumps({"calls": calls, "new_names": sorted(_after[0] - _before[0]),
                  "installed_changed": _after[1] != _before[1], "sys_path_changed": _after[2] != _before[2]}))
'''
FAKE_COLAB = '''import types
_google, _colab = types.ModuleType("google"), types.ModuleType("google.colab")
_google.__path__, _google.colab = [], _colab
sys.modules.update({"google": _google, "google.colab": _colab})
'''


def _report(cell) -> dict:
    lines = [line for o in cell.outputs if o.get("output_type") == "stream" for line in o["text"].splitlines()]
    return json.loads(lines[-1])


@pytest.mark.slow   # a kernel
def test_the_colab_cell_does_nothing_outside_colab_and_installs_the_course_on_colab(tmp_path):
    cell = colab_cell.cell_source()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in (
        RECORD, cell, REPORT,                                             # here: not Colab
        FAKE_COLAB + "calls.clear()\n_before = _state()", cell, REPORT,   # "Colab", the repository answers
        "calls.clear()\nls_remote_exit = 2", cell, "print(json.dumps(calls))",  # "Colab", not published there yet
    )])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    here, colab = _report(nb.cells[2]), _report(nb.cells[5])
    assert here == {"calls": [], "new_names": [], "installed_changed": False, "sys_path_changed": False}, here
    assert not nb.cells[1].outputs, nb.cells[1].outputs

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    url = project["urls"]["Repository"]
    assert any(re.match(r"torch\b", d) for d in project["dependencies"]), "pyproject no longer requires torch?"
    light = [d for d in project["dependencies"] if not re.match(r"torch\b", d)]
    exe = colab["calls"][1][0]   # the kernel's interpreter
    pip = [exe, "-m", "pip", "install", "-q"]
    assert colab["calls"] == [["git", "ls-remote", "--exit-code", url, "HEAD"],
                              pip + ["--no-deps", f"attnlib @ git+{url}"],
                              pip + light], colab["calls"]
    assert Path(exe).name.startswith("python") and not colab["installed_changed"]
    assert not [a for c in colab["calls"] for a in c if a.startswith("torch")], "the Colab cell must leave Colab's torch alone"
    unpublished = nb.cells[7]
    said = "".join(o.get("text", "") for o in unpublished.outputs)
    assert f"The course is not published at {url} yet" in said and "nothing was installed" in said, said
    assert json.loads(nb.cells[8].outputs[0]["text"]) == [["git", "ls-remote", "--exit-code", url, "HEAD"]]


# ---------------------------------------------------------------- Binder and README

def test_binder_files_parse_and_install_the_course_with_a_cpu_torch():
    env = yaml.safe_load((REPO / "binder" / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"], env["channels"]
    names = {re.split(r"[<>=! ]", d, maxsplit=1)[0] for d in env["dependencies"] if isinstance(d, str)}
    assert {"python", "pip", "jupyterlab", "ipywidgets", "matplotlib"} <= names, names
    post = REPO / "binder" / "postBuild"
    assert post.stat().st_mode & 0o111, "binder/postBuild must be executable"
    subprocess.run(["bash", "-n", str(post)], check=True)
    text = post.read_text()
    assert re.search(r'pip install [^\n]*"torch==2\.13\.0" --index-url https://download\.pytorch\.org/whl/cpu', text)
    assert re.search(r'pip install [^\n]*"\.\[lab\]"', text)
    assert "lab/settings/overrides.json" in text and (REPO / "lab" / "settings" / "overrides.json").is_file()


def test_readme_badges_open_notebooks_that_exist():
    readme = (REPO / "README.md").read_text()
    url = colab_cell.repository()
    gh = url.removeprefix("https://github.com/")
    colab = re.findall(r"\(https://colab\.research\.google\.com/github/([^)\s]+)\)", readme)
    binder = re.findall(r"\(https://mybinder\.org/v2/gh/([^)\s]+)\)", readme)
    assert len(binder) == 1 and binder[0].startswith(f"{gh}/"), binder
    assert binder[0].endswith("?urlpath=lab/tree/notebooks") and (REPO / "notebooks").is_dir()
    assert len(colab) == len(SOLUTIONS) >= 1, colab
    for link in colab:
        assert link.startswith(f"{gh}/blob/{colab_cell.BRANCH}/"), link
        rel = link.removeprefix(f"{gh}/blob/{colab_cell.BRANCH}/")
        assert rel.startswith("notebooks/") and (REPO / rel).is_file(), f"the badge opens {rel}, which does not exist"
    assert f'pip install "attnlib[lab] @ git+{url}"' in readme
