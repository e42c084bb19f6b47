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
import re
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


def _env(extra=None) -> dict:
    env = dict(os.environ)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")  # nbgrader shells out to `alembic`
    env.pop("PYTEST_ADDOPTS", None)
    env.update(extra or {})
    return env


def _run(cmd, cwd=ROOT, timeout=1500, env=None):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(env), capture_output=True, text=True, timeout=timeout)


def _nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def test_there_are_assignments():
    assert ASSIGNMENTS, "no solutions/<id>/<id>.ipynb found"
    assert ASSIGNMENTS[:4] == ["01_bottleneck", "02_alignment_scores", "03_softmax_weights", "04_context_vector"], ASSIGNMENTS


# Stored outputs must hold on any CPU: "native" runs this machine's kernels with the course's thread policy,
# "generic" forces torch's portable kernels (another CPU's rounding) and two threads (another thread count).
KERNELS = {"native": {}, "generic": {"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "2", "ATTNLIB_NUM_THREADS": "2"}}


# The generic run's two threads would fight another test's for the cores: it runs with the exclusive tests.
@pytest.mark.parametrize("kernels", [pytest.param(k, marks=[pytest.mark.exclusive] if k == "generic" else []) for k in KERNELS])
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_notebook_reproduces_its_outputs(assignment, kernels):
    """nbval in a subprocess: a fresh kernel from this venv, cwd = repository root."""
    path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    unexecuted = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count") is None]
    assert not unexecuted, f"{assignment}: cells {unexecuted} were never executed; commit solutions/ executed (nbval skips them)"
    proc = _run([sys.executable, "-m", "pytest", "--nbval", path, "--nbval-current-env", "--nbval-sanitize-with", SANITIZE,
                 "--nbval-cell-timeout", "300", "-p", "no:cacheprovider", "-q", "-o", "addopts="], env=KERNELS[kernels])
    tail = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"nbval failed on solutions/{assignment} with {kernels} kernels {KERNELS[kernels]}:\n{tail}"
    assert f"{len(code)} passed" in proc.stdout, f"expected {len(code)} cells to pass for {assignment}:\n{tail}"


# A compared output shows at most this many significant digits: the last digits of a float are the CPU's choice.
MAX_DIGITS = 5
NUMBER = re.compile(r"(?<![\w.])-?(\d+)\.(\d+)(?:e[-+]?\d+)?(?![\w.])")
MAX_IGNORED = 7  # NBVAL_IGNORE_OUTPUT cells in the whole course: timings, live training, explorers (09 adds one)


def _compared_text(cell) -> str:
    """The text nbval compares for a code cell: streams and plain-text results (images are not compared)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "text/plain" in out.get("data", {}) and not {"image/png", "text/html"} & set(out["data"]):
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


def test_compared_outputs_hold_on_any_cpu():
    """No stored output nbval compares prints a float to more digits than float32 arithmetic keeps stable
    across CPUs, or a negative zero; outputs nbval ignores are few, and each says why."""
    problems, ignored = [], 0
    for a in ASSIGNMENTS:
        nb = nbformat.read(ROOT / "solutions" / a / f"{a}.ipynb", as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            lines = cell.source.splitlines()
            if "# NBVAL_IGNORE_OUTPUT" in lines:
                ignored += 1
                after = lines[lines.index("# NBVAL_IGNORE_OUTPUT") + 1:][:1]
                if not (after and after[0].startswith("# why: ")):
                    problems.append(f"{a} cell {i}: NBVAL_IGNORE_OUTPUT without a '# why: ...' line after it")
                continue
            text = _compared_text(cell)
            for m in NUMBER.finditer(text):
                digits = (m.group(1) + m.group(2)).lstrip("0")
                if len(digits) > MAX_DIGITS:
                    problems.append(f"{a} cell {i}: prints {m.group(0)} ({len(digits)} significant digits; round it, "
                                    f"or print an allclose verdict)")
            if re.search(r"(?<![\w.])-0\.0+(?![\d])", text):
                problems.append(f"{a} cell {i}: prints a negative zero, whose sign depends on the CPU's rounding")
    assert not problems, "\n".join(problems)
    assert ignored <= MAX_IGNORED, f"{ignored} cells ignore their output (at most {MAX_IGNORED}): compare what you can"


def test_the_sanitizer_replaces_only_what_differs_between_runs():
    sections = re.findall(r"^\[(\w+)\]", SANITIZE.read_text(), flags=re.M)
    assert sections == ["memory_addresses", "device", "timings", "tqdm_rate"], sections


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


def _is_written(cell) -> bool:
    """A check-yourself answer: a markdown cell that is both a grade and a solution cell, graded by hand."""
    return cell.cell_type == "markdown" and bool(_nbg(cell).get("grade")) and bool(_nbg(cell).get("solution"))


def test_released_notebooks_keep_the_exercise_contract():
    """Each answer cell is a stub in the release, each graded cell is locked and has its hidden tests removed;
    each written answer is released as "YOUR ANSWER HERE" without its model answer and mark scheme."""
    problems = []
    for a in ASSIGNMENTS:
        src = nbformat.read(ROOT / "solutions" / a / f"{a}.ipynb", as_version=4)
        rel = nbformat.read(ROOT / "notebooks" / a / f"{a}.ipynb", as_version=4)
        graded = [c for c in rel.cells if _nbg(c).get("grade") and not _is_written(c)]
        answers = [c for c in rel.cells if _nbg(c).get("solution") and not _is_written(c)]
        kinds = "".join("a" if c in answers else "g" for c in rel.cells if c in answers or c in graded)
        if not graded or not answers or kinds.startswith("g") or "aa" in kinds or kinds.endswith("a"):
            problems.append(f"{a}: answer (a) and graded (g) cells in order {kinds!r}: every exercise needs a test cell after it")
        for c in answers:
            if "raise NotImplementedError()" not in c.source or "BEGIN SOLUTION" in c.source:
                problems.append(f"{a} cell {_nbg(c)['grade_id']}: the released answer cell is not a stub")
        for c in graded:
            if not _nbg(c).get("locked") or "HIDDEN TESTS" in c.source or not _nbg(c)["grade_id"].endswith("_tests"):
                problems.append(f"{a} cell {_nbg(c)['grade_id']}: a graded cell must be locked, end in _tests, hide its hidden tests")
        hidden = [c for c in src.cells if _nbg(c).get("grade") and not _is_written(c) and "### BEGIN HIDDEN TESTS" not in c.source]
        problems += [f"{a} cell {_nbg(c)['grade_id']}: no hidden tests in the source" for c in hidden]
        released_written = {_nbg(c)["grade_id"]: c for c in rel.cells if _is_written(c)}
        for i, c in enumerate(src.cells):
            if not _is_written(c):
                continue
            gid, m = _nbg(c)["grade_id"], _nbg(c)
            model, _, rest = c.source.partition("=== BEGIN MARK SCHEME ===")
            if not re.fullmatch(rf"{a}_question_\d+", gid):
                problems.append(f"{a} cell {gid}: a written answer's grade_id is {a}_question_<k>")
            if m.get("points") not in (1, 2) or m.get("locked") or m.get("task"):
                problems.append(f"{a} cell {gid}: a written answer is worth 1 or 2 points, unlocked, not a task")
            if not model.strip() or "=== END MARK SCHEME ===" not in rest or not rest.partition("=== END MARK SCHEME ===")[0].strip():
                problems.append(f"{a} cell {gid}: the source needs a model answer, then a rubric between the MARK SCHEME markers")
            if i == 0 or src.cells[i - 1].cell_type != "markdown" or _nbg(src.cells[i - 1]):
                problems.append(f"{a} cell {gid}: a written answer follows its question (a plain markdown cell)")
            out = released_written.get(gid)
            if out is None or out.source.strip() != "YOUR ANSWER HERE" or out.metadata["nbgrader"].get("points") != m.get("points"):
                problems.append(f"{a} cell {gid}: released as {getattr(out, 'source', None)!r}, not a blank answer with its points")
        if any("!pip" in c.source for c in src.cells if c.cell_type == "code"):
            problems.append(f"{a}: no !pip in notebooks")
    assert not problems, "\n".join(problems)


DOC_LINKS = ("[glossary](../../docs/glossary.md)", "[references](../../docs/references.md)")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebook_follows_the_scaffold(assignment):
    """Objectives first (learn, need, time, links to the glossary and references, which exist), a recap, and a
    check-yourself section of 2-3 written questions graded by hand; every figure has a sentence after it."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    first = nb.cells[0].source
    problems = [f"the first cell lacks {what}" for what in ("**You will learn**", "**You need**", "**Time**", *DOC_LINKS)
                if what not in first]
    if not first.startswith("# "):
        problems.append("the first cell starts with the title")
    for link in re.findall(r"\]\((\.\./\.\./docs/[^)#]+)", first):
        if not (ROOT / "notebooks" / assignment / link).resolve().is_file():
            problems.append(f"{link} does not exist (relative to notebooks/{assignment}/)")
    minutes = re.search(r"\*\*Time\*\*: about (\d+) minutes", first)
    if not minutes or not 20 <= int(minutes.group(1)) <= 120:
        problems.append("**Time**: about NN minutes, an honest estimate (20 to 120)")
    headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown" and c.source]
    for heading in ("## Recap", "## Check yourself"):
        if not any(h.startswith(heading) for h in headings):
            problems.append(f"no cell starting with '{heading}'")
    written = [c for c in nb.cells if _is_written(c)]
    if not 2 <= len(written) <= 3:
        problems.append(f"{len(written)} written questions (2 or 3)")
    for i, c in enumerate(nb.cells):
        shows_figure = c.cell_type == "code" and any("image/png" in o.get("data", {}) for o in c.get("outputs", []))
        if shows_figure and "NBVAL_IGNORE_OUTPUT" not in c.source:
            after = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
            if after is None or after.cell_type != "markdown" or after.source.startswith("#"):
                problems.append(f"cell {i} draws a figure: the next cell says what it shows (a sentence, not a heading)")
    assert not problems, f"{assignment}: " + "; ".join(problems)


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


def _run_all_module():
    spec = importlib.util.spec_from_file_location("attn_run_all", ROOT / "tests" / "test_run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.exclusive  # three autogrades at once
def test_autograde_solutions_full_marks_stubs_and_wrong_answers_zero(tmp_path):
    """Throwaway courses with source = solutions/: student 'solver' submits the solutions, 'stub' the released notebooks,
    'wrong' the released notebooks with tests/test_run_all.py's wrong answers (and one right answer after a wrong one).

    One course (and gradebook) per student, so that the autogrades run side by side without sharing a database.
    """
    run_all = _run_all_module()
    courses = {"solver": ROOT / "solutions", "stub": ROOT / "notebooks", "wrong": None}
    opts = {}
    for student, origin in courses.items():
        course = tmp_path / student
        shutil.copytree(ROOT / "solutions", course / "solutions", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        for a in (ASSIGNMENTS if origin else sorted(run_all.WRONG)):
            dest = course / "submitted" / student / a
            dest.mkdir(parents=True)
            if origin:
                shutil.copy(origin / a / f"{a}.ipynb", dest / f"{a}.ipynb")
            else:
                nbformat.write(run_all.with_answers(a, run_all.WRONG[a]), dest / f"{a}.ipynb")
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

    written = {a: {_nbg(c)["grade_id"]: float(_nbg(c)["points"])
                   for c in nbformat.read(ROOT / "solutions" / a / f"{a}.ipynb", as_version=4).cells if _is_written(c)}
               for a in ASSIGNMENTS}
    problems = []
    right_after_wrong = {n for n, words in run_all.NAMED.items() if words[0].startswith("[PASS]")}
    for student in courses:
        with Gradebook(f"sqlite:///{tmp_path / student / 'gradebook.db'}") as gb:
            for a in (ASSIGNMENTS if courses[student] else sorted(run_all.WRONG)):
                for nb in gb.find_assignment(a).notebooks:
                    if not nb.grade_cells:
                        problems.append(f"{a}: no graded cell")
                    for cell in nb.grade_cells:
                        grade = gb.find_grade(cell.name, nb.name, a, student)
                        if cell.cell_type == "markdown":   # a written answer, graded by hand
                            if cell.max_score != written[a].get(cell.name):
                                problems.append(f"{a}/{cell.name}: max_score {cell.max_score}, the source gives "
                                                f"{written[a].get(cell.name)} points")
                            waits = student == "solver"      # the model answer waits for a person; a blank scores 0
                            if grade.needs_manual_grade != waits or grade.score != 0 or \
                                    (grade.auto_score is None) != waits:
                                problems.append(f"{a}/{cell.name} ({student}): needs_manual_grade "
                                                f"{grade.needs_manual_grade}, auto_score {grade.auto_score}")
                            continue
                        if student == "solver" and (grade.score != cell.max_score or grade.needs_manual_grade):
                            problems.append(f"{a}/{cell.name}: the solution scores {grade.score} of {cell.max_score}")
                        if student == "stub" and (grade.score != 0 or grade.needs_manual_grade):
                            problems.append(f"{a}/{cell.name}: the released stub scores {grade.score} (must be 0)")
                        if student == "wrong":
                            right = cell.name.removesuffix("_tests") in right_after_wrong
                            if grade.score != (cell.max_score if right else 0) or grade.needs_manual_grade:
                                problems.append(f"{a}/{cell.name}: the {'right' if right else 'wrong'} answer scores "
                                                f"{grade.score} of {cell.max_score}")
                    listed = {c.name for c in nb.grade_cells if c.cell_type == "markdown"}
                    if listed != set(written[a]):
                        problems.append(f"{a}: the gradebook lists written answers {sorted(listed)}, "
                                        f"the source has {sorted(written[a])}")
                if student == "solver":
                    sub = gb.find_submission(a, "solver")
                    if sub.code_score != sub.max_code_score or sub.max_code_score <= 0:  # written answers: by hand
                        problems.append(f"{a}: the solutions earn {sub.code_score} of {sub.max_code_score} automatic points")
    logs = "\n".join(f"--- autograde log ({s}) ---\n{log}" for s, (_, log) in auto.items())
    assert not problems, "\n".join(problems) + "\n" + logs
