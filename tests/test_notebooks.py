"""The course notebooks: they run, their stored outputs hold, notebooks/ is generated, and grading works both ways.

* nbval: every solutions/<id>/<id>.ipynb runs top to bottom in a fresh kernel and
  reproduces its stored outputs (sanitised by tests/nbval_sanitize.cfg).
* notebooks/ is what `nbgrader generate_assignment` makes of solutions/ today
  (same code path as tools/release.py), cell by cell.
* nbgrader autograde, in a throwaway course directory: the solutions earn every
  point, the released stubs earn zero on every graded cell.
"""
from __future__ import annotations

import difflib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
BIN = str(Path(sys.executable).parent)

pytestmark = pytest.mark.slow


def _release_module():
    spec = importlib.util.spec_from_file_location("attn_release", ROOT / "tools" / "release.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


release = _release_module()
ASSIGNMENTS = release.assignments()


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")  # nbgrader shells out to `alembic`
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _run(cmd, cwd=ROOT, timeout=1500):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def test_there_are_assignments():
    assert ASSIGNMENTS, "no solutions/<id>/<id>.ipynb found"
    assert ASSIGNMENTS[:4] == ["01_bottleneck", "02_alignment_scores", "03_softmax_weights", "04_context_vector"], ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_notebook_reproduces_its_outputs(assignment):
    """nbval in a subprocess: a fresh kernel from this venv, cwd = repository root."""
    path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    unexecuted = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count") is None]
    assert not unexecuted, f"{assignment}: cells {unexecuted} were never executed; commit solutions/ executed (nbval skips them)"
    proc = _run([sys.executable, "-m", "pytest", "--nbval", path, "--nbval-current-env", "--nbval-sanitize-with", SANITIZE,
                 "--nbval-cell-timeout", "300", "-p", "no:cacheprovider", "-q", "-o", "addopts="])
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"nbval failed on solutions/{assignment}:\n{tail}"
    assert f"{len(code)} passed" in proc.stdout, f"expected {len(code)} cells to pass for {assignment}:\n{tail}"


def _cells(nb) -> list[tuple]:
    return [(c.cell_type, c.source, dict(c.metadata)) for c in nb.cells]


def test_notebooks_folder_is_generated_from_solutions(tmp_path):
    """Regenerate with tools/release.py's code into a temp dir; every cell must equal the committed one."""
    release.generate(release_dir=tmp_path)
    committed = sorted(p.name for p in (ROOT / "notebooks").iterdir() if p.is_dir())
    assert committed == ASSIGNMENTS, f"notebooks/ holds {committed}, solutions/ holds {ASSIGNMENTS}: run `make release`"
    problems = []
    for a in ASSIGNMENTS:
        fresh = nbformat.read(tmp_path / a / f"{a}.ipynb", as_version=4)
        ours = nbformat.read(ROOT / "notebooks" / a / f"{a}.ipynb", as_version=4)
        if fresh.metadata != ours.metadata:
            problems.append(f"notebooks/{a}/{a}.ipynb: notebook metadata differs")
        fc, oc = _cells(fresh), _cells(ours)
        if len(fc) != len(oc):
            problems.append(f"notebooks/{a}/{a}.ipynb: {len(oc)} cells, regenerated has {len(fc)}")
        for i, (f, o) in enumerate(zip(fc, oc)):
            if f != o:
                what = "type" if f[0] != o[0] else "source" if f[1] != o[1] else "metadata"
                diff = [d for d in difflib.unified_diff(f[1].splitlines(), o[1].splitlines(), "regenerated", "committed",
                                                        lineterm="", n=0) if d[:1] in "+-"][2:6]
                detail = ("; ".join(diff) if what == "source" else f"{o[0]} cell in notebooks/, {f[0]} cell regenerated"
                          if what == "type" else f"notebooks/ has {o[2]}, regenerated has {f[2]}")
                problems.append(f"notebooks/{a}/{a}.ipynb cell {i}: {what} differs from the regenerated one ({detail})")
        if any(c.cell_type == "code" and (c.outputs or c.execution_count) for c in ours.cells):
            problems.append(f"notebooks/{a}/{a}.ipynb: a released notebook must carry no outputs")
    assert not problems, "notebooks/ is out of sync with solutions/ (run `make release`):\n" + "\n".join(problems)


def test_released_notebooks_keep_the_exercise_contract():
    """Each answer cell is a stub in the release, each graded cell is locked and has its hidden tests removed."""
    problems = []
    for a in ASSIGNMENTS:
        src = nbformat.read(ROOT / "solutions" / a / f"{a}.ipynb", as_version=4)
        rel = nbformat.read(ROOT / "notebooks" / a / f"{a}.ipynb", as_version=4)
        graded = [c for c in rel.cells if _nbg(c).get("grade")]
        answers = [c for c in rel.cells if _nbg(c).get("solution")]
        if not graded or len(graded) != len(answers):
            problems.append(f"{a}: {len(answers)} answer cells and {len(graded)} graded cells (need one test cell per exercise)")
        for c in answers:
            if "raise NotImplementedError()" not in c.source or "BEGIN SOLUTION" in c.source:
                problems.append(f"{a} cell {_nbg(c)['grade_id']}: the released answer cell is not a stub")
        for c in graded:
            if not _nbg(c).get("locked") or "HIDDEN TESTS" in c.source or not _nbg(c)["grade_id"].endswith("_tests"):
                problems.append(f"{a} cell {_nbg(c)['grade_id']}: a graded cell must be locked, end in _tests, hide its hidden tests")
        hidden = [c for c in src.cells if _nbg(c).get("grade") and "### BEGIN HIDDEN TESTS" not in c.source]
        problems += [f"{a} cell {_nbg(c)['grade_id']}: no hidden tests in the source" for c in hidden]
        if any("!pip" in c.source for c in src.cells if c.cell_type == "code"):
            problems.append(f"{a}: no !pip in notebooks")
    assert not problems, "\n".join(problems)


def _parallel(commands: dict) -> dict:
    """Run {key: argv} at once (two cores: the two students' kernels overlap); -> {key: (returncode, log tail)}."""
    procs = {k: subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for k, cmd in commands.items()}
    out = {}
    for k, proc in procs.items():
        try:
            text, _ = proc.communicate(timeout=1800)
        except subprocess.TimeoutExpired:
            proc.kill()
            text, _ = proc.communicate()
        out[k] = (proc.returncode, text[-6000:])
    return out


def test_autograde_solutions_full_marks_stubs_zero(tmp_path):
    """Throwaway courses with source = solutions/: student 'solver' submits the solutions, 'stub' the released notebooks.

    One course (and gradebook) per student, so that the two autogrades run side by side without sharing a database.
    """
    courses = {"solver": ROOT / "solutions", "stub": ROOT / "notebooks"}
    opts = {}
    for student, origin in courses.items():
        course = tmp_path / student
        shutil.copytree(ROOT / "solutions", course / "solutions", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        for a in ASSIGNMENTS:
            dest = course / "submitted" / student / a
            dest.mkdir(parents=True)
            shutil.copy(origin / a / f"{a}.ipynb", dest / f"{a}.ipynb")
        opts[student] = [f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{course / 'gradebook.db'}"]
    nbgrader = [sys.executable, "-m", "nbgrader"]
    # cwd = repository root, so the course's own nbgrader_config.py is the one under test
    gen = _parallel({s: [*nbgrader, "generate_assignment", "*", "--force", *o] for s, o in opts.items()})
    for s, (rc, log) in gen.items():
        assert rc == 0, f"generate_assignment failed ({s}):\n{log}"
    auto = _parallel({s: [*nbgrader, "autograde", "*", "--create", "--force", *o] for s, o in opts.items()})
    for s, (rc, log) in auto.items():
        assert rc == 0, f"autograde of {s} failed:\n{log}"

    from nbgrader.api import Gradebook

    problems = []
    for student in courses:
        with Gradebook(f"sqlite:///{tmp_path / student / 'gradebook.db'}") as gb:
            for a in ASSIGNMENTS:
                for nb in gb.find_assignment(a).notebooks:
                    if not nb.grade_cells:
                        problems.append(f"{a}: no graded cell")
                    for cell in nb.grade_cells:
                        grade = gb.find_grade(cell.name, nb.name, a, student)
                        if student == "solver" and (grade.score != cell.max_score or grade.needs_manual_grade):
                            problems.append(f"{a}/{cell.name}: the solution scores {grade.score} of {cell.max_score}")
                        if student == "stub" and (grade.score != 0 or grade.needs_manual_grade):
                            problems.append(f"{a}/{cell.name}: the released stub scores {grade.score} (must be 0)")
                if student == "solver":
                    sub = gb.find_submission(a, "solver")
                    if sub.score != sub.max_score or sub.max_score <= 0:
                        problems.append(f"{a}: the solutions earn {sub.score} of {sub.max_score}")
    logs = "\n".join(f"--- autograde log ({s}) ---\n{log}" for s, (_, log) in auto.items())
    assert not problems, "\n".join(problems) + "\n" + logs
