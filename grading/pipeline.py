"""Grade a folder of submissions: SUBMISSIONS/<student>/<assignment>/*.ipynb -> gradebook, CSV, feedback.

Each submission is graded by a worker of a process pool (one per core), in
its own sandbox with the worker's own spare uid; a failing submission is
recorded with its status and never stops the batch. Only the main process
writes the gradebook and the CSV.
"""
from __future__ import annotations

import csv
import json
import multiprocessing
import os
import shutil
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import sandbox
from .assignment import AssignmentError, hidden_lines, load_spec, read_submission, rebuild
from .feedback import render, render_unreadable
from .scoring import copy_sources, judge, make_secret, reference_targets, static_reference_use

STATUSES = ("graded", "timed out", "crashed", "tampered", "unreadable")   # CSV status, worst last
_UID = None


@dataclass
class Record:
    student: str
    assignment: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "graded"
    flags: list[str] = field(default_factory=list)
    grades: dict = field(default_factory=dict)      # notebook -> {grade_id: points earned}
    seconds: float = 0.0
    written_max: float = 0.0                        # points of the written answers, graded by hand (in max_score)
    written: dict = field(default_factory=dict)     # notebook -> {grade_id: answered (bool)} of the written answers

    @property
    def written_note(self) -> str:
        """'written answers: N points, graded by hand' (empty without written answers)."""
        if not self.written_max:
            return ""
        answered = sum(v for cells in self.written.values() for v in cells.values())
        total = sum(len(cells) for cells in self.written.values())
        return (f"written answers: {self.written_max:g} points, graded by hand "
                f"({answered} of {total} answered)")

    def worsen(self, status: str) -> None:
        if STATUSES.index(status) > STATUSES.index(self.status):
            self.status = status


def _init_worker(uids) -> None:
    global _UID
    _UID = uids.get()
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    torch.set_num_threads(1)


@lru_cache(maxsize=None)
def _spec(release: str, source: str, assignment: str):
    return load_spec(Path(release), Path(source), assignment)


def grade_submission(student: str, assignment: str, sub_dir: str, release: str, source: str, out: str,
                     limits: sandbox.Limits) -> Record:
    start = time.perf_counter()
    rec = Record(student, assignment)
    try:
        specs = _spec(release, source, assignment)
        rec.written_max = sum(s.written_score for s in specs)
        rec.max_score = sum(s.max_score for s in specs) + rec.written_max  # as nbgrader's gradebook counts it
        for spec in specs:
            _grade_notebook(rec, spec, Path(sub_dir), Path(out), limits)
    except AssignmentError:
        raise
    except Exception as e:  # a bug or a surprise on one submission: record it, keep the batch going
        rec.worsen("crashed")
        rec.flags.append(f"grader error on this submission: {type(e).__name__}: {e}")
        traceback.print_exc()
    rec.score = sum(sum(g.values()) for g in rec.grades.values())
    rec.seconds = time.perf_counter() - start
    return rec


def _find_notebook(sub_dir: Path, name: str, rec: Record) -> Path | None:
    path = sub_dir / f"{name}.ipynb"
    if path.exists() or path.is_symlink():
        return path
    others = sorted(p for p in sub_dir.glob("*.ipynb") if not p.name.startswith("."))
    if len(others) == 1:
        rec.flags.append(f"{others[0].name} graded as {name}.ipynb")
        return others[0]
    return None


def _grade_notebook(rec: Record, spec, sub_dir: Path, out: Path, limits: sandbox.Limits) -> None:
    grades = rec.grades.setdefault(spec.name, {g.grade_id: 0.0 for g in spec.grade_cells})
    rec.written.setdefault(spec.name, {gid: False for gid in spec.written})
    dest = out / "feedback" / rec.student / rec.assignment / f"{spec.name}.html"
    dest.parent.mkdir(parents=True, exist_ok=True)
    path = _find_notebook(sub_dir, spec.name, rec)
    problem = None
    if path is None:
        problem = "missing"
    else:
        try:
            nb = read_submission(path)
        except ValueError as e:
            problem = str(e)
    if problem is not None:
        rec.worsen("unreadable")
        rec.flags.append(f"{spec.name}.ipynb: {problem}")
        dest.write_text(render_unreadable(f"{rec.assignment} / {spec.name}: feedback for {rec.student}",
                                          f"{spec.name}.ipynb could not be graded: {problem}.",
                                          spec.max_score + spec.written_score),
                        encoding="utf-8")
        return
    rebuilt = rebuild(spec, nb)
    rec.written[spec.name] = rebuilt.answered(spec)
    rec.flags += rebuilt.flags + rebuilt.tampered
    if rebuilt.tampered:
        rec.worsen("tampered")
    secrets_ = {name: make_secret(name) for name in spec.exercises}
    static = {}
    for gid, names in spec.answers.items():
        for name in names:
            static[name] = static_reference_use(rebuilt.answers.get(gid, ""), name)
    refs = {n: reference_targets(n) for n in spec.exercises}
    copies = {n: [(m, q) for m, q, _ in copy_sources(n)] for n in spec.exercises}
    job_dir = Path(tempfile.mkdtemp(prefix="grading-job-"))
    try:
        (job_dir / "inputs").mkdir()
        for name, secret in secrets_.items():
            (job_dir / "inputs" / f"{name}.pt").write_bytes(secret.inputs_bytes())
        job = {"uid": _UID, "env": sandbox.kernel_env(_UID), "limits": limits.as_json(), "refs": refs, "copies": copies,
               "cells": [{k: c[k] for k in ("cell_type", "source", "exercises")} for c in rebuilt.cells]}
        (job_dir / "job.json").write_text(json.dumps(job))
        raw, what = sandbox.run_job(job_dir, limits, _UID)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
    try:
        run = json.loads(raw.decode("utf-8")) if raw else None
        if not isinstance(run, dict):
            raise ValueError
    except ValueError:
        run = None
    if run is None:
        rec.worsen("timed out" if "time limit" in what else "crashed")
        rec.flags.append(f"{spec.name}: no result from the sandbox ({what[:300]})")
        run = {"cells": {}, "evals": {}, "events": []}
    if run.get("fatal"):
        rec.worsen("crashed")
        rec.flags.append(f"{spec.name}: {run['fatal']}")
    cells_run = run.get("cells") or {}
    states = [str((c or {}).get("state")) for c in cells_run.values() if isinstance(c, dict)]
    if any(s in ("timeout", "notebook-timeout") for s in states):
        rec.worsen("timed out")
        rec.flags.append("a cell ran past its time limit" if "timeout" in states else "notebook time limit reached")
    if "crashed" in states or any(str(e.get("status")) == "kernel died" for e in (run.get("evals") or {}).values()
                                  if isinstance(e, dict)):
        rec.worsen("crashed")
        rec.flags.append("the kernel died")
    if "output-limit" in states:
        rec.flags.append(f"output limit ({limits.output_bytes} bytes per cell) exceeded")
    if any("MemoryError" in json.dumps(c.get("outputs", []))[:10 ** 6] for c in cells_run.values() if isinstance(c, dict)):
        rec.flags.append("memory limit hit (MemoryError)")
    # what the student's kernel reported for each test cell (nbgrader's rule: no error output = pass)
    kernel = {}
    for i, cell in enumerate(rebuilt.cells):
        if cell["kind"] != "test":
            continue
        ran = cells_run.get(str(i))
        if not isinstance(ran, dict) or ran.get("state") not in ("ok", "error"):
            kernel[cell["grade_id"]] = "not run" if not isinstance(ran, dict) else str(ran.get("state"))
        else:
            errs = [o for o in ran.get("outputs", []) if isinstance(o, dict) and o.get("output_type") == "error"]
            kernel[cell["grade_id"]] = "failed" if errs else "passed"
    verdicts = {}
    for g in spec.grade_cells:
        if g.exercise is None:
            grades[g.grade_id] = g.points if kernel.get(g.grade_id) == "passed" else 0.0
            rec.flags.append(f"{g.grade_id}: no registered exercise, scored from the kernel (unverified)")
            continue
        v = judge(secrets_[g.exercise], (run.get("evals") or {}).get(g.exercise), static.get(g.exercise))
        grades[g.grade_id] = g.points if v.passed else 0.0
        verdicts[g.exercise] = {"passed": v.passed, "message": v.message, "points": grades[g.grade_id],
                                "max_points": g.points}
        if v.uses_reference:
            rec.flags.append(f"{g.exercise}: uses attnlib's reference ({v.uses_reference})")
        elif kernel.get(g.grade_id) == "passed" and not v.passed:
            rec.worsen("tampered")
            rec.flags.append(f"{g.grade_id}: the kernel reports a pass, the grader's inputs fail")
    summary = {"score": sum(grades.values()), "max_score": spec.max_score + spec.written_score, "status": rec.status,
               "flags": rec.flags, "written": {gid: {"points": p, "answered": rec.written[spec.name][gid]}
                                               for gid, p in spec.written.items()}}
    page = render(f"{rec.assignment} / {spec.name}: feedback for {rec.student}", rebuilt.cells, cells_run, verdicts,
                  kernel, summary, hidden_lines(spec))
    dest.write_text(page, encoding="utf-8")


def discover(submissions: Path, known: set[str]) -> tuple[list[tuple[str, str, Path]], list[Record]]:
    jobs, bad = [], []
    for sdir in sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for adir in sorted(p for p in sdir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if adir.name in known:
                jobs.append((sdir.name, adir.name, adir))
            else:
                bad.append(Record(sdir.name, adir.name, status="unreadable", flags=["unknown assignment"]))
    return jobs, bad


def write_gradebook(out: Path, release: Path, source: Path, records: list[Record]) -> None:
    import warnings
    from nbgrader.api import Gradebook, MissingEntry
    warnings.filterwarnings("ignore", message=".*not in session.*")   # nbgrader's own add_submission, harmless
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        for assignment in sorted({r.assignment for r in records if r.grades}):
            gb.update_or_create_assignment(assignment)
            for spec in _spec(str(release), str(source), assignment):
                gb.update_or_create_notebook(spec.name, assignment)
                for g in spec.grade_cells:
                    gb.update_or_create_grade_cell(g.grade_id, spec.name, assignment, max_score=g.points,
                                                   cell_type="code")
                for gid, points in spec.written.items():   # graded by hand in the formgrader
                    gb.update_or_create_grade_cell(gid, spec.name, assignment, max_score=points, cell_type="markdown")
                for gid in [*spec.answers, *spec.written]:
                    gb.update_or_create_solution_cell(gid, spec.name, assignment)
        for r in records:
            if not r.grades:
                continue
            gb.update_or_create_student(r.student)
            try:
                gb.find_submission(r.assignment, r.student)
                gb.remove_submission(r.assignment, r.student)
            except MissingEntry:
                pass
            gb.add_submission(r.assignment, r.student)
            for nb_name, cells in r.grades.items():
                for gid, points in cells.items():
                    grade = gb.find_grade(gid, nb_name, r.assignment, r.student)
                    grade.auto_score = float(points)
                    grade.needs_manual_grade = False
            for nb_name, cells in r.written.items():
                for gid, answered in cells.items():
                    # nbgrader's rule: an answer left as released scores 0 at once; a written one waits for a person
                    grade = gb.find_grade(gid, nb_name, r.assignment, r.student)
                    grade.auto_score = None if answered else 0.0
                    grade.needs_manual_grade = bool(answered)
            gb.db.commit()


def write_csv(out: Path, records: list[Record]) -> None:
    with open(out / "grades.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "assignment", "score", "max_score", "status", "flags", "by_hand"])
        for r in sorted(records, key=lambda r: (r.student, r.assignment)):
            w.writerow([r.student, r.assignment, f"{r.score:g}", f"{r.max_score:g}", r.status, "; ".join(r.flags),
                        r.written_note])


def grade_all(submissions: Path, out: Path, release: Path, source: Path, jobs: int, limits: sandbox.Limits,
              uid_base: int = 61000, log=print) -> list[Record]:
    sandbox.check_host()
    if not submissions.is_dir():
        raise FileNotFoundError(f"no submissions folder {submissions}")
    known = {p.name for p in release.iterdir() if p.is_dir()} if release.is_dir() else set()
    if not known:
        raise AssignmentError(f"no released assignments in {release} (run `make release`)")
    todo, records = discover(submissions, known)
    for assignment in sorted({a for _, a, _ in todo}):
        _spec(str(release), str(source), assignment)      # a broken release fails here, before any sandbox
    out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, min(jobs, len(todo) or 1))
    sandbox.preflight(limits)
    busy = sandbox.uids_in_use(range(uid_base, uid_base + jobs))
    if busy:
        raise sandbox.SandboxError(f"uids {sorted(busy)} already run processes (another grading run?): "
                                   f"choose other spare uids with --uid-base")
    ctx = multiprocessing.get_context("spawn")
    uids = ctx.Queue()
    for i in range(jobs):
        uids.put(uid_base + i)
    start = time.perf_counter()
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(uids,)) as pool:
        futures = {pool.submit(grade_submission, s, a, str(d), str(release), str(source), str(out), limits): (s, a)
                   for s, a, d in todo}
        for fut in as_completed(futures):
            s, a = futures[fut]
            rec = fut.result()          # AssignmentError (the instructor's files) stops the batch: exit non-zero
            log(f"{s}/{a}: {rec.score:g}/{rec.max_score:g} {rec.status} ({rec.seconds:.1f} s)"
                + (f"; {rec.written_note}" if rec.written_note else "")
                + (f" [{'; '.join(rec.flags)}]" if rec.flags else ""))
            records.append(rec)
    wall = time.perf_counter() - start
    write_gradebook(out, release, source, records)
    write_csv(out, records)
    n = len(todo)
    if n:
        log(f"graded {n} submissions in {wall:.1f} s with {jobs} workers: "
            f"{sum(r.seconds for r in records) / n:.1f} s per submission, {60 * n / wall:.1f} submissions per minute")
    return records
