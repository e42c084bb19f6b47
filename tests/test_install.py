"""The course without a clone: the wheel, `attention-course fetch`, a fetched notebook run to the end, `attention-course lab`.

All of it against ONE wheel built from this checkout and installed with torch==2.13.0 and the lab extra
into a fresh venv outside the repository (the session's `course_install` fixture, tests/wheel_venv.py);
every command runs there with a fresh HOME, from a folder outside the repository, with nothing from
the repository on its path.
"""
from __future__ import annotations

import json
import secrets
import sys
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from lab import LabServer, free_port  # noqa: E402
from test_run_all import errors, exercises, solution_answers, text, with_answers  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.exclusive]  # a venv, pip and a lab server

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from attention_course.layout import INSTRUCTOR_DOCS, learner_files, shipped_files  # noqa: E402

ASSIGNMENTS = sorted(p.parent.name for p in (REPO / "notebooks").glob("*/*.ipynb") if p.stem == p.parent.name)
QUICK = "01_bottleneck"   # the quickest notebook (seconds), and it loads the shipped checkpoints (package data)


def test_the_wheel_carries_the_course_and_builds_without_deprecation_warnings(course_install):
    names = set(zipfile.ZipFile(course_install.wheel).namelist())
    print(f"\nwheel {course_install.wheel.name}: {course_install.wheel.stat().st_size / 1e6:.2f} MB; "
          + ", ".join(f"{k} {v:.1f} s" for k, v in course_install.times.items()))
    for rel in shipped_files(REPO):
        assert f"attention_course/course/{rel}" in names, f"the wheel lacks {rel}"
    for a in ASSIGNMENTS:
        assert f"attention_course/course/notebooks/{a}/{a}.ipynb" in names, a
    assert any(n.startswith("attnlib/pretrained/") and n.endswith(".pt") for n in names), "no checkpoint in the wheel"
    shipped = [n for n in names if n.startswith("attention_course/course/")]
    assert not [n for n in shipped if "solutions/" in n or Path(n).name in INSTRUCTOR_DOCS], shipped
    with zipfile.ZipFile(course_install.wheel) as z:
        for a in ASSIGNMENTS:   # the released notebooks as they are, not the solutions
            data = z.read(f"attention_course/course/notebooks/{a}/{a}.ipynb")
            assert data == (REPO / "notebooks" / a / f"{a}.ipynb").read_bytes(), a
            assert b"### BEGIN SOLUTION" not in data, a
        entry_points = next(z.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "attention-course = attention_course.cli:main" in entry_points
    assert "Deprecat" not in course_install.build_log, \
        [line for line in course_install.build_log.splitlines() if "eprecat" in line]


def test_version_and_help(course_install, tmp_path):
    version = course_install.run([course_install.bin / "attention-course", "--version"], tmp_path, tmp_path / "home")
    assert version.stdout.strip() == "attention-course 0.1.0", version.stdout
    help_ = course_install.run([course_install.bin / "attention-course", "--help"], tmp_path, tmp_path / "home").stdout
    for words in ("fetch", "lab", "examples:", "attention-course fetch ~/courses/attn", "--no-browser"):
        assert words in help_, f"--help lacks {words!r}:\n{help_}"


def test_fetch_lays_out_the_course_and_never_overwrites_a_learners_file(course_install, tmp_path):
    cli, home = course_install.bin / "attention-course", tmp_path / "home"
    first = course_install.run([cli, "fetch"], tmp_path, home)   # default DIR: ./attention-course
    course = tmp_path / "attention-course"
    got = sorted(p.relative_to(course).as_posix() for p in course.rglob("*") if p.is_file() and p.name != ".attention-course.json")
    assert got == learner_files(REPO), f"fetch laid out {got}"
    for a in ASSIGNMENTS:
        assert (course / "notebooks" / a / f"{a}.ipynb").read_bytes() == (REPO / "notebooks" / a / f"{a}.ipynb").read_bytes()
    assert f"{len(got)} file(s) added" in first.stdout, first.stdout

    edited = course / "notebooks" / QUICK / f"{QUICK}.ipynb"
    mine = edited.read_bytes().replace(b'"cells": [', b'"cells": [{"cell_type": "markdown", "id": "mine", '
                                                      b'"metadata": {}, "source": ["my notes"]},', 1)
    edited.write_bytes(mine)
    again = course_install.run([cli, "fetch", str(course)], tmp_path, home)
    assert edited.read_bytes() == mine, "a second fetch overwrote the learner's edited notebook"
    assert "1 edited by you and kept" in again.stdout and "0 newer version(s)" in again.stdout, again.stdout
    assert not list(edited.parent.glob("*.v*.ipynb")), "same course version: nothing should go beside the notebook"

    # a newer course version: what the last fetch recorded for this notebook differs from what the course ships now
    manifest = course / ".attention-course.json"
    record = json.loads(manifest.read_text())
    record["files"][f"notebooks/{QUICK}/{QUICK}.ipynb"] = "0" * 64
    manifest.write_text(json.dumps(record))
    newer = course_install.run([cli, "fetch", str(course)], tmp_path, home)
    beside = edited.with_name(f"{QUICK}.v0.1.0.ipynb")
    assert edited.read_bytes() == mine, "fetch overwrote the learner's notebook with a newer course version"
    assert beside.read_bytes() == (REPO / "notebooks" / QUICK / f"{QUICK}.ipynb").read_bytes()
    assert f"notebooks/{QUICK}/{QUICK}.v0.1.0.ipynb" in newer.stdout and "yours is untouched" in newer.stdout, newer.stdout


def test_a_fetched_notebook_runs_to_the_end_on_the_installed_attnlib(course_install, tmp_path):
    """The fetched notebook, its exercises filled in from the solutions, executed by the venv's Jupyter from DIR."""
    home, course = tmp_path / "home", tmp_path / "course"
    course_install.run([course_install.bin / "attention-course", "fetch", str(course)], tmp_path, home)
    path = course / "notebooks" / QUICK / f"{QUICK}.ipynb"
    nb = with_answers(QUICK, solution_answers(QUICK), path)
    nb.cells.append(nbformat.v4.new_code_cell("import attnlib, sys\nprint('attnlib from', attnlib.__file__)\n"
                                              "print('python', sys.executable)"))
    nbformat.write(nb, path)
    course_install.run([course_install.bin / "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
                        "--ExecutePreprocessor.timeout=300", path.name], path.parent, home)
    ran = nbformat.read(path, as_version=4)
    assert not errors(ran), errors(ran)
    out = "".join(text(c) for c in ran.cells)
    for name in exercises(ran):
        assert f"[PASS] {name}" in out and "[TODO]" not in out, out[-3000:]
    where = text(ran.cells[-1])
    assert f"attnlib from {course_install.venv}" in where and f"python {course_install.bin}" in where, where
    assert str(REPO) not in where, where


def _get(server, path):
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}/{path}", headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.geturl(), json.loads(r.read().decode()) if "json" in r.headers.get("Content-Type", "") else None


def test_lab_fetches_and_opens_the_course_with_the_news_turned_off(course_install, tmp_path):
    """`attention-course lab DIR` in a fresh home: DIR is fetched and is the root, / lands in notebooks/, and the
    notification plugin's fetchNews reads "false" from the shipped overrides (its own default, "none", asks)."""
    home, course = tmp_path / "home", tmp_path / "course"
    port, token = free_port(), secrets.token_hex(16)
    env = course_install.env(home)
    argv = [str(course_install.bin / "attention-course"), "lab", str(course), "--no-browser", f"--port={port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", "--allow-root"]
    server = LabServer.start(argv, env, tmp_path, port, token, tmp_path / "lab.log")
    try:
        assert (course / "notebooks" / QUICK / f"{QUICK}.ipynb").is_file(), "lab did not fetch the course first"
        listing = {i["name"] for i in server.api("api/contents/notebooks")["content"]}
        assert set(ASSIGNMENTS) <= listing, listing
        assert {i["name"] for i in server.api("api/contents")["content"]} >= {"notebooks"}, "DIR is not the server's root"
        assert server.api(f"api/contents/notebooks/{QUICK}/{QUICK}.ipynb")["type"] == "notebook"
        landed, _ = _get(server, "")
        assert landed.split("?")[0].endswith("/lab/tree/notebooks"), landed
        settings = server.api("lab/api/settings/@jupyterlab/apputils-extension:notification")
        # overrides.json replaces the schema's default (the plugin's own default, "none", asks); no user setting hides it
        assert settings["schema"]["properties"]["fetchNews"]["default"] == "false", settings["schema"]["properties"]
        assert "fetchNews" not in settings["settings"], settings["settings"]
    finally:
        server.stop()
