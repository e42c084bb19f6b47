"""An assignment as the grader sees it, and rebuilding a submission from the release.

The rebuilt notebook takes every cell from the RELEASED notebook
(notebooks/<a>/<a>.ipynb), except:
- answer cells (nbgrader solution cells): the student's cell with the same
  grade_id (the last one if duplicated; a missing one is a blank answer);
- graded test cells: the SOURCE cell (solutions/<a>/<a>.ipynb) with the
  same grade_id, hidden tests included;
- written answers (markdown cells nbgrader marks both grade and solution,
  graded by hand in the formgrader): the student's cell with the same
  grade_id, shown in the feedback; they earn no automatic points.
Anything else the student changed is ignored and, where it touches grading
(a locked cell edited, a test cell deleted, a grade id duplicated), recorded
as a flag.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from attnlib.checks import REGISTRY

MAX_NOTEBOOK_BYTES = 32 * 2 ** 20
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)


class AssignmentError(ValueError):
    """The instructor's release or source notebook is not usable (a grader failure, not a student's)."""


def nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_answer(cell) -> bool:
    m = nbg(cell)
    return bool(m.get("solution")) and not m.get("grade")


def is_written(cell) -> bool:
    """A manually graded written answer: a markdown cell that is both a grade cell and a solution cell."""
    m = nbg(cell)
    return bool(m.get("grade")) and bool(m.get("solution")) and cell.get("cell_type") == "markdown"


def is_test(cell) -> bool:
    m = nbg(cell)
    return bool(m.get("grade")) and not m.get("solution") and cell.get("cell_type") == "code"


def defined_names(source: str) -> set[str]:
    """Top-level names a cell defines (def, class, assignment)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


@dataclass
class GradeCell:
    grade_id: str
    points: float
    exercise: str | None        # the REGISTRY exercise this test cell grades, if any


@dataclass
class NotebookSpec:
    assignment: str
    name: str                   # notebook file stem
    release: nbformat.NotebookNode
    source: nbformat.NotebookNode
    answers: dict[str, list[str]] = field(default_factory=dict)   # answer grade_id -> exercises it defines
    grade_cells: list[GradeCell] = field(default_factory=list)
    source_tests: dict[str, str] = field(default_factory=dict)    # grade_id -> source with hidden tests
    locked: dict[str, str] = field(default_factory=dict)          # grade_id -> released source of locked cells
    written: dict[str, float] = field(default_factory=dict)       # written answer grade_id -> points (by hand)
    written_stubs: dict[str, str] = field(default_factory=dict)   # written answer grade_id -> released stub text

    @property
    def max_score(self) -> float:
        """Points graded automatically (the code tests)."""
        return sum(g.points for g in self.grade_cells)

    @property
    def written_score(self) -> float:
        """Points of the written answers, graded by hand in the formgrader."""
        return sum(self.written.values())

    @property
    def exercises(self) -> list[str]:
        return [e for names in self.answers.values() for e in names]


def load_spec(release_dir: Path, source_dir: Path, assignment: str) -> list[NotebookSpec]:
    rdir, sdir = release_dir / assignment, source_dir / assignment
    if not rdir.is_dir():
        raise AssignmentError(f"no released assignment {rdir} (run `make release`)")
    specs = []
    for rpath in sorted(rdir.glob("*.ipynb")):
        spath = sdir / rpath.name
        if not spath.is_file():
            raise AssignmentError(f"released {rpath} has no source {spath}")
        release, source = nbformat.read(rpath, as_version=4), nbformat.read(spath, as_version=4)
        spec = NotebookSpec(assignment, rpath.stem, release, source)
        src_by_id = {nbg(c)["grade_id"]: c for c in source.cells if nbg(c).get("grade_id")}
        for cell in release.cells:
            gid = nbg(cell).get("grade_id")
            if not gid:
                continue
            if gid not in src_by_id:
                raise AssignmentError(f"{rpath}: cell {gid!r} is not in the source {spath}: run `make release`")
            if is_written(cell):
                spec.written[gid] = float(nbg(cell).get("points", 0))
                spec.written_stubs[gid] = cell.source
            elif is_answer(cell):
                spec.answers[gid] = sorted(n for n in defined_names(src_by_id[gid].source) if n in REGISTRY)
            elif is_test(cell):
                exercise = gid[: -len("_tests")] if gid.endswith("_tests") else gid
                spec.grade_cells.append(GradeCell(gid, float(nbg(cell).get("points", 0)),
                                                  exercise if exercise in REGISTRY else None))
                spec.source_tests[gid] = src_by_id[gid].source
            if nbg(cell).get("locked"):
                spec.locked[gid] = cell.source
        graded = {g.exercise for g in spec.grade_cells}
        for gid, names in spec.answers.items():
            for name in names:
                if name not in graded:
                    raise AssignmentError(f"{rpath}: answer cell {gid!r} defines {name} but no test cell "
                                          f"{name}_tests grades it")
        specs.append(spec)
    if not specs:
        raise AssignmentError(f"{rdir} has no notebook")
    return specs


def read_submission(path: Path) -> nbformat.NotebookNode:
    """Parse a submitted notebook; raise ValueError with the reason when it cannot be read."""
    if path.is_symlink() or not path.is_file():
        raise ValueError("not a regular file")
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"larger than {MAX_NOTEBOOK_BYTES} bytes")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        nb = nbformat.from_dict(data)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no cell list")
        nb = nbformat.convert(nb, 4) if nb.get("nbformat", 4) != 4 else nb
        for c in nb.cells:
            if not isinstance(c, dict) or "cell_type" not in c:
                raise ValueError("a cell without a type")
            src = c.get("source", "")
            c["source"] = "".join(src) if isinstance(src, list) else str(src)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"not a notebook (JSON): {e}") from None
    except ValueError:
        raise
    except Exception as e:
        raise ValueError(f"not a notebook: {type(e).__name__}: {e}") from None
    return nb


@dataclass
class Rebuilt:
    cells: list[dict]           # {"source", "kind": answer|test|written|other, "grade_id", "exercises", "cell_type"}
    answers: dict[str, str]     # answer grade_id -> the student's source used
    flags: list[str]
    tampered: list[str]
    written: dict[str, str] = field(default_factory=dict)   # written answer grade_id -> the student's text

    def answered(self, spec: "NotebookSpec") -> dict[str, bool]:
        """Written answer grade_id -> whether the student wrote something (not the released stub, not blank)."""
        return {gid: bool(self.written.get(gid, "").strip())
                and self.written[gid].strip() != spec.written_stubs.get(gid, "").strip() for gid in spec.written}


def rebuild(spec: NotebookSpec, submission: nbformat.NotebookNode) -> Rebuilt:
    flags, tampered = [], []
    by_id: dict[str, list] = {}
    for cell in submission.cells:
        gid = nbg(cell).get("grade_id")
        if gid:
            by_id.setdefault(str(gid), []).append(cell)
    for gid, cells in by_id.items():
        if len(cells) > 1:
            (tampered if gid not in spec.answers else flags).append(f"duplicated grade id {gid}")
        if gid not in spec.answers and gid not in spec.locked and gid not in spec.source_tests \
                and gid not in spec.written:
            if nbg(cells[0]).get("grade") or nbg(cells[0]).get("locked"):
                tampered.append(f"unknown graded/locked cell {gid}")
    for gid, released in spec.locked.items():
        got = by_id.get(gid)
        if not got:
            (tampered if gid in spec.source_tests else flags).append(f"deleted locked cell {gid}")
        elif any(c.get("source", "").rstrip() != released.rstrip() for c in got):
            (tampered if gid in spec.source_tests else flags).append(f"edited locked cell {gid}")
        elif any(nbg(c).get("points") != nbg_points(spec, gid) for c in got if gid in spec.source_tests):
            tampered.append(f"changed points of {gid}")
    for gid in spec.written:
        if any(nbg(c).get("points") != nbg_points(spec, gid) for c in by_id.get(gid, [])):
            flags.append(f"changed points of {gid} (the release's points are used)")
    answers, written, cells = {}, {}, []
    for cell in spec.release.cells:
        gid = nbg(cell).get("grade_id")
        entry = {"cell_type": cell.cell_type, "grade_id": gid, "kind": "other", "exercises": [],
                 "source": cell.source}
        if gid in spec.answers:
            mine = [c for c in by_id.get(gid, []) if c.get("cell_type") == cell.cell_type]
            if mine:
                entry["source"] = mine[-1]["source"]
            else:
                flags.append(f"missing answer cell {gid} (graded as blank)")
            answers[gid] = entry["source"]
            entry["kind"], entry["exercises"] = "answer", spec.answers[gid]
        elif gid in spec.source_tests:
            entry["kind"], entry["source"] = "test", spec.source_tests[gid]
        elif gid in spec.written:
            mine = [c for c in by_id.get(gid, []) if c.get("cell_type") == "markdown"]
            entry["kind"] = "written"
            entry["source"] = str(mine[-1].get("source", "")) if mine else ""
            if not mine:
                flags.append(f"missing written answer {gid} (graded as blank)")
            written[gid] = entry["source"]
        cells.append(entry)
    return Rebuilt(cells, answers, flags, tampered, written)


def nbg_points(spec: NotebookSpec, gid: str):
    for cell in spec.release.cells:
        if nbg(cell).get("grade_id") == gid:
            return nbg(cell).get("points")
    return None


def visible_test_source(source: str) -> str:
    """A test cell as students may see it: hidden tests removed."""
    return HIDDEN.sub("", source)


def hidden_lines(spec: NotebookSpec) -> list[str]:
    """Lines only the hidden tests contain (scrubbed from any output a student's code printed)."""
    public = {l.strip() for c in spec.release.cells for l in c.source.splitlines()}
    lines = []
    for src in spec.source_tests.values():
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", src, re.S):
            lines += [l.strip() for l in block.splitlines() if len(l.strip()) >= 8 and l.strip() not in public]
    return lines
