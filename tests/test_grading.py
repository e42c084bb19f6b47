"""The grader against a corpus of honest and hostile submissions, graded in ONE batch by the real CLI.

The corpus is generated here from the RELEASED notebook of 02_alignment_scores
(or, where that assignment is absent, from the small fixture in
tests/grading_cases/course/): answer cells filled with the solutions' code
or with hostile code. Every expected score is computed from the release's
points, never written down. Needs root and bubblewrap (as `.ci/run` installs).
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "grading_cases" / "course"
REAL = "02_alignment_scores"

pytestmark = [pytest.mark.slow, pytest.mark.exclusive]  # two grading jobs at once, and time limits


def course():
    """(release dir, source dir, assignment): the real fastest assignment if released, else the fixture."""
    if (REPO / "notebooks" / REAL / f"{REAL}.ipynb").is_file() and (REPO / "solutions" / REAL / f"{REAL}.ipynb").is_file():
        return REPO / "notebooks", REPO / "solutions", REAL
    return FIXTURE / "notebooks", FIXTURE / "solutions", "demo"


RELEASE, SOURCE, ASSIGNMENT = course()


def nbg(cell):
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


# ---------------------------------------------------------------- corpus builders

class Corpus:
    def __init__(self, root: Path, secrets_probe: list[str], port: int):
        from grading.assignment import load_spec
        self.root = root
        self.spec = load_spec(RELEASE, SOURCE, ASSIGNMENT)[0]
        self.release = nbformat.read(RELEASE / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        source = nbformat.read(SOURCE / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        self.honest = {nbg(c)["grade_id"]: c.source for c in source.cells if nbg(c).get("solution")}
        self.answer_of = {e: gid for gid, names in self.spec.answers.items() for e in names}
        self.E = list(self.spec.exercises)
        assert len(self.E) >= 3, f"{ASSIGNMENT} needs at least 3 exercises for this corpus, has {self.E}"
        self.points = {g.exercise: g.points for g in self.spec.grade_cells}
        self.max = self.spec.max_score                    # automatic points (code tests)
        self.total = self.max + self.spec.written_score   # with the written answers, graded by hand
        self.probe = secrets_probe
        self.port = port
        self.expected = {}

    def minus(self, *exercises):
        return self.max - sum(self.points[e] for e in exercises)

    def src(self, e):
        return self.honest[self.answer_of[e]]

    def wrong(self, e):
        """The honest answer with every output shifted by one: wrong on any input."""
        return (self.src(e).replace(f"def {e}(", f"def _honest_{e}(", 1)
                + f"\n\ndef {e}(*args, **kwargs):\n    out = _honest_{e}(*args, **kwargs)\n"
                  f"    return tuple(o + 1 for o in out) if isinstance(out, tuple) else out + 1\n")

    def wrapped(self, e, body):
        """The honest answer renamed, and `e` defined as `body` (which may call _honest)."""
        return (self.src(e).replace(f"def {e}(", f"def _honest_{e}(", 1)
                + f"\n\ndef {e}(*args, **kwargs):\n    _honest = _honest_{e}\n"
                + "".join(f"    {line}\n" for line in body.splitlines()))

    def notebook(self, answers: dict | None = None, edit=None, written: bool = False):
        """The release with answer cells replaced (exercise -> source; missing = the release's stub);
        written=True also answers the written questions (graded by hand)."""
        nb = nbformat.from_dict(json.loads(json.dumps(self.release)))
        answers = {e: self.src(e) for e in self.E} if answers is None else answers
        for cell in nb.cells:
            gid = nbg(cell).get("grade_id")
            if written and gid in self.spec.written:
                cell.source = f"My answer to {gid}: the scores compare the decoder state with each encoder state."
            for e, code in answers.items():
                if gid == self.answer_of[e]:
                    cell.source = code
        if edit:
            edit(nb)
        return nb

    def add(self, name, nb, score, status="graded", flag=None, no_flags=False):
        path = self.root / name / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        path.parent.mkdir(parents=True)
        if isinstance(nb, str):
            path.write_text(nb)
        else:
            nbformat.write(nb, path)
        self.expected[name] = {"score": score, "status": status, "flag": flag, "no_flags": no_flags}


def build(c: Corpus):
    e0, e1, e2 = c.E[:3]
    honest = {e: c.src(e) for e in c.E}
    # honest students, spread among the hostile ones (sorted names)
    c.add("honest_a", c.notebook(written=True), c.max, no_flags=True)
    c.add("honest_m", c.notebook(), c.max, no_flags=True)
    c.add("honest_z", c.notebook(), c.max, no_flags=True)
    def drop_answer(nb):
        nb.cells = [cell for cell in nb.cells if nbg(cell).get("grade_id") != c.answer_of[e2]]
    c.add("partial", c.notebook({e0: c.src(e0), e1: c.wrong(e1)}, drop_answer), c.points[e0],
          flag=f"missing answer cell {c.answer_of[e2]}")
    c.add("blank", c.notebook({}), 0)
    c.add("exception", c.notebook({**honest, e1: c.wrapped(e1, "raise ValueError('my bug')"),
                                   e2: "raise RuntimeError('boom before the def')\n" + c.src(e2)}), c.minus(e1, e2))
    c.add("infinite_loop", c.notebook({**honest, e0: "while True:\n    pass\n" + c.src(e0)}), c.minus(e0), "timed out")
    c.add("memory_blowup", c.notebook({**honest, e2: "_hog = []\nwhile True:\n    _hog.append(b'x' * 2 ** 27)\n" + c.src(e2)}),
          c.minus(e2), flag="memory limit")
    c.add("kernel_death", c.notebook({**honest, e1: c.src(e1) + "\nimport os\nos._exit(1)\n"}), c.minus(e1), "crashed")
    c.add("output_flood", c.notebook({**honest, e0: c.src(e0) + "\nwhile True:\n    print('x' * 10000)\n"}), c.max,
          flag="output limit")

    def edit_test(nb):
        for cell in nb.cells:
            if nbg(cell).get("grade_id") == f"{e1}_tests":
                cell.source = "pass"
    c.add("edited_test_cell", c.notebook({**honest, e1: c.wrong(e1)}, edit_test), c.minus(e1), "tampered",
          f"edited locked cell {e1}_tests")

    def delete_test(nb):
        nb.cells = [cell for cell in nb.cells if nbg(cell).get("grade_id") != f"{e0}_tests"]
    c.add("deleted_test_cell", c.notebook(None, delete_test), c.max, "tampered", f"deleted locked cell {e0}_tests")

    def duplicate(nb):
        i = next(i for i, cell in enumerate(nb.cells) if nbg(cell).get("grade_id") == f"{e0}_tests")
        dup = nbformat.from_dict(json.loads(json.dumps(nb.cells[i])))
        dup.source, dup.metadata["nbgrader"]["points"] = "pass", 100
        nb.cells.insert(i + 1, dup)
    c.add("duplicated_grade_id", c.notebook(None, duplicate), c.max, "tampered", f"duplicated grade id {e0}_tests")
    c.add("showtraceback", c.notebook({**honest, e0: c.src(e0) + "\nget_ipython().showtraceback = lambda *a, **k: None\n",
                                       e1: c.wrong(e1)}), c.minus(e1), "tampered", "kernel reports a pass")
    c.add("always_equal", c.notebook({**honest,
                                      e1: c.wrapped(e1, "class _Eq:\n    def __eq__(self, other):\n        return True\n"
                                                        "    def __ne__(self, other):\n        return False\nreturn _Eq()"),
                                      e2: c.wrapped(e2, "import torch\nclass _T(torch.Tensor):\n"
                                                        "    def __eq__(self, other):\n        return torch.ones((), dtype=torch.bool)\n"
                                                        "out = _honest(*args, **kwargs)\nreturn out.as_subclass(_T)")}),
          c.minus(e1, e2))
    transformer = ("\ndef _skip(lines):\n    text = ''.join(lines)\n"
                   "    return ['pass\\n'] if ('assert' in text or 'results(' in text or 'check(' in text) else lines\n"
                   "get_ipython().input_transformers_cleanup.append(_skip)\n")
    c.add("input_transformer", c.notebook({**honest, e0: c.src(e0) + transformer, e1: c.wrong(e1)}), c.minus(e1),
          "tampered", "kernel reports a pass")
    patch = ("\nimport torch, attnlib.checks.core as _core\ntorch.allclose = lambda *a, **k: True\n"
             "torch.testing.assert_close = lambda *a, **k: None\n_core.compare = lambda *a, **k: None\n")
    c.add("monkeypatch", c.notebook({**honest, e0: c.src(e0) + patch, e1: c.wrong(e1)}), c.minus(e1), "tampered",
          "kernel reports a pass")
    strip_asserts = ("\nimport ast\nclass _NoAssert(ast.NodeTransformer):\n    def visit_Assert(self, node):\n"
                     "        return ast.Pass()\nget_ipython().ast_transformers.append(_NoAssert())\n")
    c.add("assert_stripped", c.notebook({**honest, e0: c.src(e0) + strip_asserts + patch, e1: c.wrong(e1)}),
          c.minus(e1), "tampered", "kernel reports a pass")
    # the attack succeeds only if the sandbox lets it read what it must not: then it earns the points
    probe = (f"import os\n_paths = {c.probe!r}\n"
             "def _readable(p):\n    try:\n        if os.path.isdir(p):\n            return bool(os.listdir(p))\n"
             "        with open(p, 'rb') as f:\n            return bool(f.read(1))\n    except OSError:\n        return False\n"
             "_seen = [p for p in _paths if _readable(p)]\nprint('seen:', _seen)\n")
    c.add("read_secrets", c.notebook({**honest, e0: probe + c.wrapped(e0, "return _honest(*args, **kwargs) + (0 if _seen else 1)")}),
          c.minus(e0))
    writes = (f"import os, sqlite3\nfor _p in {[str(Path(p) / 'PWNED') for p in c.probe if not p.endswith('.db')]!r}:\n"
              "    try:\n        open(_p, 'w').write('x')\n    except OSError as e:\n        print('blocked', _p, type(e).__name__)\n"
              f"for _db in {[p for p in c.probe if p.endswith('.db')]!r}:\n    try:\n"
              "        _con = sqlite3.connect(_db); _con.execute('create table if not exists pwned (x)'); _con.commit()\n"
              "    except Exception as e:\n        print('blocked', _db, type(e).__name__)\n")
    c.add("write_gradebook", c.notebook({**honest, e0: c.src(e0) + "\n" + writes}), c.max)
    net = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {c.port}), timeout=2).sendall(b'leak')\n"
           "    _online = True\nexcept OSError:\n    _online = False\n"
           "try:\n    socket.create_connection(('pypi.org', 443), timeout=2)\n    _online = True\nexcept OSError:\n    pass\n")
    c.add("network", c.notebook({**honest, e0: net + c.wrapped(e0, "return _honest(*args, **kwargs) + (0 if _online else 1)")}),
          c.minus(e0))
    c.add("fork_bomb", c.notebook({**honest, e0: "import os\nwhile True:\n    try:\n        os.fork()\n"
                                                 "    except OSError:\n        pass\n" + c.src(e0)}), c.minus(e0),
          # the cell runs past its time limit; whether its kernel dies first under the task limit is a race
          ("timed out", "crashed"))
    fill = ("\nimport os\n_n = 0\nfor _d in ('.', os.path.expanduser('~'), '/tmp', '/scratch', '/dev/shm'):\n"
            "    for _i in range(100000):\n        try:\n            with open(os.path.join(_d, f'fill{_i}'), 'wb') as _f:\n"
            "                _f.write(b'0' * 2 ** 24)\n            _n += 1\n        except OSError:\n            break\n"
            "print('files written', _n)\n")
    c.add("fill_disk", c.notebook({**honest, e0: c.src(e0) + fill}), c.max)
    detect = ("import os\n_GRADING = bool(os.environ.get('NBGRADER_EXECUTION'))\nif _GRADING:\n"
              + strip_asserts.replace("\n", "\n    ") + patch.replace("\n", "\n    ") + "\n"
              + c.wrapped(e1, "return _honest(*args, **kwargs) + (1 if _GRADING else 0)"))
    c.add("nbgrader_execution", c.notebook({**honest, e1: detect}), c.minus(e1), "tampered", "kernel reports a pass")
    c.add("nan_and_shape", c.notebook({**honest, e0: c.wrapped(e0, "return _honest(*args, **kwargs) * float('nan')"),
                                       e1: c.wrapped(e1, "return _honest(*args, **kwargs).transpose(1, 2)")}),
          c.minus(e0, e1))
    c.add("cuda_only", c.notebook({**honest, e0: c.wrapped(e0, "return _honest(*args, **kwargs).to('cuda')")}), c.minus(e0))
    c.add("corrupted", '{"cells": [ {"cell_type": "code", "source": "oops"', 0, "unreadable")
    import importlib

    from attnlib.checks import REGISTRY
    ref = REGISTRY[e0].reference
    c.add("uses_reference_static", c.notebook({**honest, e0: f"from {ref.__module__} import {ref.__name__} as _ref\n"
                                                             f"def {e0}(*args, **kwargs):\n    return _ref(*args, **kwargs)\n"}),
          c.minus(e0), flag=f"{e0}: uses attnlib's reference")
    half = len(ref.__name__) // 2
    c.add("uses_reference_dynamic", c.notebook({**honest, e0: f"import importlib\n_m = importlib.import_module({ref.__module__!r})\n"
                                                              f"_f = getattr(_m, {ref.__name__[:half]!r} + {ref.__name__[half:]!r})\n"
                                                              f"def {e0}(*args, **kwargs):\n    return _f(*args, **kwargs)\n"}),
          c.minus(e0), flag="called attnlib's reference while being graded")
    # attnlib's code itself, pasted or read at run time: no points, flagged (the corpus's first two exercises
    # are attnlib functions with validation, so a copy cannot be an honest answer)
    import inspect
    fn0 = getattr(importlib.import_module(ref.__module__), e0)
    helpers = sorted({n for n in fn0.__code__.co_names if n.startswith("_check")})
    paste = (f"from {fn0.__module__} import {', '.join(helpers)}\n" if helpers else "") + "import torch\n" + inspect.getsource(fn0)
    c.add("pastes_reference", c.notebook({**honest, e0: paste}), c.minus(e0), flag=f"{e0}: uses attnlib's reference (its code is attnlib's")
    fn1 = getattr(importlib.import_module(REGISTRY[e1].reference.__module__), e1, None) or REGISTRY[e1].reference
    half = len(e1) // 2
    sneaky = (f"import importlib\n_m = importlib.import_module({fn1.__module__!r})\n"
              "_read = getattr(importlib.import_module('ins' + 'pect'), 'get' + 'sou' + 'rce')\n"
              f"_ns = dict(vars(_m))\nexec(_read(getattr(_m, {e1[:half]!r} + {e1[half:]!r})), _ns)\n"
              f"{e1} = _ns[{e1[:half]!r} + {e1[half:]!r}]\n")
    c.add("exec_reference_source", c.notebook({**honest, e1: sneaky}), c.minus(e1),
          flag=f"{e1}: uses attnlib's reference (runs a copy of attnlib's code")


# ---------------------------------------------------------------- the batch

SKIP = {".git", ".venv", "__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


def tree_digest(root: Path) -> dict:
    """sha256 of every file under root (the repo: without .git, .venv and caches), and who owns it."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP]
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_file() and not p.is_symlink():
                out[str(p.relative_to(root))] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_uid)
    return out


def sandbox_owned(root: Path, uid_base: int) -> list[str]:
    """Files or folders under root owned by a sandbox uid (what a student's code would have created)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            try:
                if uid_base <= p.lstat().st_uid < uid_base + 64:
                    found.append(str(p))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    assert os.geteuid() == 0 and shutil.which("bwrap"), \
        "grading needs root and bubblewrap (apt-get install bubblewrap; `.ci/run` does it)"
    tmp = tmp_path_factory.mktemp("grading")
    subs, out, grader_tmp = tmp / "submissions", tmp / "out", tmp / "grader-tmp"
    grader_tmp.mkdir()
    connections = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(server.accept())
            except OSError:
                pass
    threading.Thread(target=accept, daemon=True).start()
    probe = [str(SOURCE), str(SOURCE / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), str(RELEASE), str(REPO / "grading"),
             str(REPO / "tests"), str(subs), str(out), str(out / "gradebook.db"), str(grader_tmp), "/job/job.json",
             "/job/inputs", "/root", str(REPO)]
    corpus = Corpus(subs, probe, server.getsockname()[1])
    build(corpus)
    # Hashed: the submissions and every course file a student would want to change. The rest of the repo is
    # checked by owner (nothing may belong to a sandbox uid) and for the hostile cases' markers: other tests and
    # tools write there while this one runs (artifacts/, checkpoints), so a whole-tree hash would be flaky.
    watched = {"submissions": subs, "release": RELEASE / ASSIGNMENT, "source": SOURCE / ASSIGNMENT, "grading": REPO / "grading",
               "cases": REPO / "tests" / "grading_cases"}
    before = {k: tree_digest(v) for k, v in watched.items()}
    env = {**os.environ, "TMPDIR": str(grader_tmp), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "grading", "grade", str(subs), "--out", str(out), "--jobs", "2",
                           "--release", str(RELEASE), "--source", str(SOURCE), "--cell-timeout", "15",
                           "--eval-timeout", "20", "--notebook-timeout", "240", "--memory-mb", "2048",
                           "--output-kb", "256", "--scratch-mb", "128"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    stop.set()
    server.close()
    print(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-2000:])   # the timing line
    after = {k: tree_digest(v) for k, v in watched.items()}
    rows = {}
    if (out / "grades.csv").exists():
        with open(out / "grades.csv") as f:
            rows = {r["student"]: r for r in csv.DictReader(f)}
    return {"proc": proc, "rows": rows, "corpus": corpus, "out": out, "before": before, "after": after,
            "connections": connections, "grader_tmp": grader_tmp, "subs": subs}


def test_batch_completed(batch):
    proc = batch["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert set(batch["rows"]) == set(batch["corpus"].expected), "every submission has a row in grades.csv"


CASES = ["honest_a", "honest_m", "honest_z", "partial", "blank", "exception", "infinite_loop", "memory_blowup",
         "kernel_death", "output_flood", "edited_test_cell", "deleted_test_cell", "duplicated_grade_id", "showtraceback",
         "always_equal", "input_transformer", "monkeypatch", "assert_stripped", "read_secrets", "write_gradebook",
         "network", "fork_bomb", "fill_disk", "nbgrader_execution", "nan_and_shape", "cuda_only", "corrupted",
         "uses_reference_static", "uses_reference_dynamic", "pastes_reference", "exec_reference_source"]


@pytest.mark.parametrize("case", CASES)
def test_case_outcome(batch, case):
    want = batch["corpus"].expected[case]
    row = batch["rows"].get(case)
    assert row is not None, f"{case}: no row in grades.csv\n{batch['proc'].stdout[-2000:]}"
    statuses = want["status"] if isinstance(want["status"], tuple) else (want["status"],)
    assert float(row["score"]) == want["score"] and row["status"] in statuses, f"{case}: {row}, expected {want}"
    assert float(row["max_score"]) == batch["corpus"].total
    if batch["corpus"].spec.written_score:
        assert row["by_hand"].startswith(f"written answers: {batch['corpus'].spec.written_score:g} points, graded by hand")
    if want["flag"]:
        assert want["flag"] in row["flags"], f"{case}: flags {row['flags']!r} lack {want['flag']!r}"
    if want["no_flags"]:
        assert row["flags"] == "", f"{case}: an honest submission got flags {row['flags']!r}"


def test_gradebook_matches_csv(batch):
    """nbgrader's Gradebook holds the same totals, per grade cell; a student's SQL never reached it.
    Written answers are grade cells with their points; a written one waits for a person, a blank one scores 0."""
    from nbgrader.api import Gradebook
    rows = batch["rows"]
    db = batch["out"] / "gradebook.db"
    written = batch["corpus"].spec.written
    with Gradebook(f"sqlite:///{db}") as gb:
        for gid, points in written.items():
            for student, answered in (("honest_a", True), ("honest_m", False)):
                grade = gb.find_grade(gid, ASSIGNMENT, ASSIGNMENT, student)
                assert grade.max_score == points and grade.needs_manual_grade == answered, (student, gid)
                assert grade.auto_score == (None if answered else 0.0), (student, gid, grade.auto_score)
        for student, row in rows.items():
            if row["status"] == "unreadable":
                continue
            sub = gb.find_submission(ASSIGNMENT, student)
            assert sub.score == pytest.approx(float(row["score"])), student
            assert sub.max_score == pytest.approx(float(row["max_score"])), student
    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master")}
    assert "pwned" not in tables


def test_nothing_outside_the_scratch_changed(batch):
    for what in batch["before"]:
        before, after = batch["before"][what], batch["after"][what]
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert not changed, f"{what}: files changed during grading: {changed[:20]}"
    for root in (REPO, batch["subs"], batch["out"]):   # REPO includes .venv
        assert not sandbox_owned(root, 61000), f"files created by a sandbox uid under {root}"
    leftovers = [p for p in Path("/").glob("PWNED")] + list(REPO.rglob("PWNED")) + list(batch["subs"].rglob("fill[0-9]*"))
    assert not leftovers, leftovers
    assert not list(batch["grader_tmp"].iterdir()), "the grader left job folders behind"
    assert not batch["connections"], "a submission reached a socket on the host"
    out = batch["out"]
    assert sorted(p.name for p in out.iterdir()) == ["feedback", "gradebook.db", "grades.csv"]


def test_feedback_hides_hidden_tests(batch):
    from grading.assignment import hidden_lines
    spec = batch["corpus"].spec
    hidden = hidden_lines(spec)
    assert hidden, "the assignment has hidden tests to hide"
    pages = list((batch["out"] / "feedback").rglob("*.html"))
    assert len(pages) == len(batch["rows"]), "one feedback page per submission, unreadable ones included"
    for page in pages:
        text = page.read_text()
        assert "BEGIN HIDDEN TESTS" not in text, page
        for line in hidden:
            assert line not in text, (page, line)
    flood = (batch["out"] / "feedback" / "output_flood" / ASSIGNMENT / f"{ASSIGNMENT}.html").stat().st_size
    assert flood < 2 * 256 * 1024 + 200_000, "the output limit applies to the feedback too"
    honest = (batch["out"] / "feedback" / "honest_a" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert f"{batch['corpus'].max:g} / {batch['corpus'].total:g}" in honest
    if batch["corpus"].spec.written_score:
        assert f"Written answers: {batch['corpus'].spec.written_score:g} points, graded by hand" in honest


def test_the_probes_ran(batch):
    """The hostile probes executed (so their failure to read or connect is the sandbox's doing)."""
    page = (batch["out"] / "feedback" / "read_secrets" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "seen: []" in page
    page = (batch["out"] / "feedback" / "write_gradebook" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert page.count("blocked") >= len([p for p in batch["corpus"].probe])
    page = (batch["out"] / "feedback" / "fill_disk" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "files written" in page


def test_cli_fails_only_on_grader_errors(tmp_path):
    """Exit 2 with a message naming the problem when the grader cannot work; never a traceback."""
    def grade(*args):
        return subprocess.run([sys.executable, "-m", "grading", "grade", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=300)
    missing = grade(str(tmp_path / "nowhere"), "--release", str(RELEASE), "--source", str(SOURCE))
    assert missing.returncode == 2 and "no submissions folder" in missing.stderr, missing.stderr
    (tmp_path / "subs").mkdir()
    (tmp_path / "empty").mkdir()
    no_release = grade(str(tmp_path / "subs"), "--release", str(tmp_path / "empty"), "--source", str(SOURCE))
    assert no_release.returncode == 2 and "no released assignments" in no_release.stderr, no_release.stderr
    empty_arg = grade("")
    assert empty_arg.returncode == 2 and "SUBMISSIONS" in empty_arg.stderr


# ---------------------------------------------------------------- attnlib's code, pasted: the static part, without a sandbox

def test_a_pasted_reference_is_flagged_and_an_honest_one_line_answer_is_not():
    import ast
    import inspect

    from attnlib import attention
    from grading.scoring import static_reference_use
    pasted = "import torch\n" + inspect.getsource(attention.context_vector)
    tree = ast.parse(pasted)
    for node in ast.walk(tree):   # the arguments renamed everywhere they are used, strings left alone
        if isinstance(node, ast.Name) and node.id in ("weights", "values"):
            node.id = node.id[0]
        elif isinstance(node, ast.arg) and node.arg in ("weights", "values"):
            node.arg = node.arg[0]
    renamed = ast.unparse(tree)
    honest = "def context_vector(weights, values):\n    return torch.bmm(weights, values)  # (B, T, H)\n"
    honest_einsum = "def context_vector(w, v):\n    return torch.einsum('bts,bsh->bth', w, v)\n"
    assert "its code is attnlib's attnlib.attention.context_vector" in static_reference_use(pasted, "context_vector")
    assert static_reference_use(renamed, "context_vector"), "renaming the variables does not hide a copy"
    assert static_reference_use(honest, "context_vector") is None, "the one-line bmm is the honest answer"
    assert static_reference_use(honest_einsum, "context_vector") is None
    read = "import inspect, attnlib.scores as s\nexec(inspect.getsource(getattr(s, 'dot_' + 'score')))\n"
    assert "reads source code at run time" in static_reference_use(read, "dot_score")
    assert "calls softmax" in static_reference_use("def stable_softmax(scores):\n    return scores.softmax(-1)\n",
                                                   "stable_softmax")


def test_the_solutions_are_never_flagged():
    """Every answer cell of solutions/ is honest: no static flag, whatever its length."""
    from attnlib.checks import REGISTRY
    from grading.assignment import is_answer, nbg
    from grading.scoring import static_reference_use
    flagged = []
    for path in sorted((REPO / "solutions").glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            gid = nbg(cell).get("grade_id")
            if is_answer(cell) and gid in REGISTRY and static_reference_use(cell.source, gid):
                flagged.append((path.name, gid, static_reference_use(cell.source, gid)))
    assert not flagged, flagged


# ---------------------------------------------------------------- written answers, graded by hand (no sandbox needed)

def test_written_answers_are_graded_by_hand(tmp_path):
    """The markdown answer cells of the check-yourself questions: known to the spec with their points, the student's
    text kept, no automatic points, and in the gradebook as grade cells that need a manual grade once written."""
    from nbgrader.api import Gradebook
    from grading.assignment import load_spec, rebuild
    from grading.feedback import render
    from grading.pipeline import Record, write_gradebook, write_csv
    spec = load_spec(RELEASE, SOURCE, ASSIGNMENT)[0]
    release = nbformat.read(RELEASE / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    source = nbformat.read(SOURCE / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    expected = {nbg(c)["grade_id"]: float(nbg(c)["points"]) for c in source.cells
                if c.cell_type == "markdown" and nbg(c).get("grade") and nbg(c).get("solution")}
    assert expected, f"{ASSIGNMENT} has no written answer cells"
    assert spec.written == expected and spec.written_score == sum(expected.values())
    assert not set(expected) & {g.grade_id for g in spec.grade_cells}, "written answers earn no automatic points"
    for gid in expected:   # the release hides the model answer and the mark scheme
        stub = spec.written_stubs[gid]
        assert "MARK SCHEME" not in stub and "YOUR ANSWER HERE" in stub, stub

    blank = rebuild(spec, release)
    filled = nbformat.from_dict(json.loads(json.dumps(release)))
    first = next(iter(expected))
    for cell in filled.cells:
        if nbg(cell).get("grade_id") == first:
            cell.source = "Because the decoder state changes at every step."
    answered = rebuild(spec, filled)
    assert not blank.flags and not blank.tampered and not any(blank.answered(spec).values())
    assert answered.answered(spec) == {gid: gid == first for gid in expected}
    assert answered.written[first] == "Because the decoder state changes at every step."

    records = []
    for student, rebuilt in (("writer", answered), ("silent", blank)):
        r = Record(student, ASSIGNMENT, max_score=spec.max_score + spec.written_score, written_max=spec.written_score)
        r.grades = {spec.name: {g.grade_id: g.points for g in spec.grade_cells}}
        r.written = {spec.name: rebuilt.answered(spec)}
        r.score = spec.max_score
        records.append(r)
    write_gradebook(tmp_path, RELEASE, SOURCE, records)
    write_csv(tmp_path, records)
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        cells = {c.name: c for c in gb.find_notebook(spec.name, ASSIGNMENT).grade_cells}
        for gid, points in expected.items():
            assert cells[gid].max_score == points and cells[gid].cell_type == "markdown"
            w, s = (gb.find_grade(gid, spec.name, ASSIGNMENT, who) for who in ("writer", "silent"))
            assert w.needs_manual_grade == (gid == first) and w.auto_score == (None if gid == first else 0.0)
            assert not s.needs_manual_grade and s.score == 0
        sub = gb.find_submission(ASSIGNMENT, "writer")
        assert sub.max_score == pytest.approx(spec.max_score + spec.written_score) and sub.score == spec.max_score
        assert sub.needs_manual_grade
    with open(tmp_path / "grades.csv") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert rows["writer"]["by_hand"] == (f"written answers: {spec.written_score:g} points, graded by hand "
                                         f"(1 of {len(expected)} answered)")
    page = render("t", answered.cells, {}, {}, {}, {"score": 1, "max_score": 2, "status": "graded", "flags": [],
                                                     "written": {g: {"points": p, "answered": g == first}
                                                                 for g, p in expected.items()}}, [])
    assert f"Written answers: {spec.written_score:g} points, graded by hand" in page
    assert "Because the decoder state changes at every step." in page
