"""JupyterHub service "grader": grades an instructor's collected submissions with the course's safe pipeline.

nbgrader's own autograde would run every student's code as the instructor, in the instructor's course
folder. This service runs instead, started by the hub as root, and for each request

1. reads, *as the instructor* (so root never follows a link an instructor or a student planted),
   ~/attention-course/submitted/<student>/<assignment>/*.ipynb and the assignment's source and release
   notebooks;
2. runs `python -m grading grade SUBMISSIONS --out DIR --source SRC --release REL` from this repository
   as root: the pipeline runs each submission as a spare uid inside bubblewrap, with no network and no
   view of the course folder;
3. writes back, *as the instructor*, the scores into the course's gradebook.db (the one the formgrader
   shows), the feedback HTML into feedback/<student>/<assignment>/ with the timestamp.txt and
   submission_secret.txt that nbgrader's "release feedback" needs, and the submitted notebook into
   autograded/<student>/<assignment>/ (where the formgrader looks for graded work).

    POST /services/grader/api/grade/<assignment>     token of an instructor (scope access:services!service=grader)
      -> {"success": true, "assignment": ..., "students": {student: {"score": s, "max_score": m}}, "seconds": t}
    GET  /services/grader/api/health                 -> {"ok": true}

From a JupyterLab terminal:  course-grade <assignment>   (deploy/course-grade, installed by setup.sh)
"""
from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyterhub.services.auth import HubAuth, HubAuthenticated
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop

REPO = Path(__file__).resolve().parent.parent
COURSE_SUBDIR = os.environ.get("ATTN_COURSE_SUBDIR", "attention-course")
GRADE_TIMEOUT = float(os.environ.get("ATTN_GRADE_TIMEOUT", "1800"))
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
LOCK = asyncio.Lock()  # one grading run at a time: the pipeline already uses every core

# Run as the instructor: print {"students": {s: {"files": {name: text}, "timestamp": t}}, "source": ..., "release": ...}
READ_AS_INSTRUCTOR = r"""
import json, os, stat, sys
course, assignment = sys.argv[1], sys.argv[2]

def notebooks(folder):
    out = {}
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return out
    for name in names:
        path = os.path.join(folder, name)
        if name.endswith(".ipynb") and stat.S_ISREG(os.lstat(path).st_mode):
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, encoding="utf-8") as f:
                out[name] = f.read()
    return out

def text(path):
    try:
        if stat.S_ISREG(os.lstat(path).st_mode):
            with open(path, encoding="utf-8") as f:
                return f.read()
    except FileNotFoundError:
        pass
    return None

students = {}
submitted = os.path.join(course, "submitted")
for student in sorted(os.listdir(submitted)) if os.path.isdir(submitted) else []:
    folder = os.path.join(submitted, student, assignment)
    if os.path.isdir(folder) and not os.path.islink(folder):
        students[student] = {"files": notebooks(folder), "timestamp": text(os.path.join(folder, "timestamp.txt"))}
json.dump({"students": students,
           "source": notebooks(os.path.join(course, "solutions", assignment)),
           "release": notebooks(os.path.join(course, "notebooks", assignment))}, sys.stdout)
"""

# Run as the instructor, with the grading results on stdin: fill gradebook.db and feedback/.
WRITE_AS_INSTRUCTOR = r"""
import json, os, shutil, sys
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.utils import parse_utc
course, assignment = sys.argv[1], sys.argv[2]
results = json.load(sys.stdin)
with Gradebook("sqlite:///" + os.path.join(course, "gradebook.db")) as gb:
    try:
        gb.find_assignment(assignment)
    except MissingEntry:
        sys.exit(f"{assignment} is not in {course}/gradebook.db: generate it in the formgrader first")
    for student, result in results.items():
        gb.update_or_create_student(student)
        kwargs = {"timestamp": parse_utc(result["timestamp"])} if result.get("timestamp") else {}
        gb.update_or_create_submission(assignment, student, **kwargs)
        for g in result["grades"]:
            grade = gb.find_grade(g["cell"], g["notebook"], assignment, student)
            grade.auto_score = g["auto_score"]
            grade.needs_manual_grade = g["needs_manual_grade"]
        gb.db.commit()
        submitted = os.path.join(course, "submitted", student, assignment)
        feedback = os.path.join(course, "feedback", student, assignment)
        os.makedirs(feedback, exist_ok=True)
        for name, html in result["feedback"].items():
            with open(os.path.join(feedback, name), "w", encoding="utf-8") as f:
                f.write(html)
        for name in ("timestamp.txt", "submission_secret.txt"):  # nbgrader release_feedback reads these
            if os.path.isfile(os.path.join(submitted, name)):
                shutil.copyfile(os.path.join(submitted, name), os.path.join(feedback, name))
        # The formgrader counts a submission as graded when autograded/<student>/<assignment>/ exists with
        # the submitted timestamp; it shows the notebook from there for manual grading and comments.
        autograded = os.path.join(course, "autograded", student, assignment)
        os.makedirs(autograded, exist_ok=True)
        for name in os.listdir(submitted):
            if (name.endswith(".ipynb") or name == "timestamp.txt") and os.path.isfile(os.path.join(submitted, name)) \
                    and not os.path.islink(os.path.join(submitted, name)):
                shutil.copyfile(os.path.join(submitted, name), os.path.join(autograded, name))
print(json.dumps({s: len(r["feedback"]) for s, r in results.items()}))
"""


def instructor_python() -> str:
    """The class environment's python (has nbgrader), else this one."""
    prefix = Path(os.environ.get("ATTN_CLASS_PREFIX", "/opt/attention-course"))
    candidate = prefix / "venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def run_as(user: pwd.struct_passwd, script: str, args: list[str], stdin: str = "") -> str:
    """Run a Python snippet as `user` (uid, gid, no supplementary groups) in their home; return stdout."""
    env = {"HOME": user.pw_dir, "USER": user.pw_name, "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    proc = subprocess.run([instructor_python(), "-c", script, *args], input=stdin, capture_output=True, text=True,
                          user=user.pw_uid, group=user.pw_gid, extra_groups=[], env=env, cwd=user.pw_dir, timeout=600)
    if proc.returncode != 0:
        raise web.HTTPError(500, f"as {user.pw_name}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def write_tree(root: Path, assignment: str, notebooks: dict[str, str]) -> None:
    (root / assignment).mkdir(parents=True, exist_ok=True)
    for name, text in notebooks.items():
        (root / assignment / name).write_text(text, encoding="utf-8")


def read_results(out: Path, assignment: str, students: dict) -> dict:
    """Scores per grade cell and feedback HTML per student from the pipeline's gradebook.db and feedback/."""
    from nbgrader.api import Gradebook, MissingEntry

    results = {}
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        for student, info in students.items():
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                continue  # the pipeline reports why in its log
            grades = [{"cell": g.name, "notebook": nb.name, "auto_score": g.auto_score,
                       "needs_manual_grade": bool(g.needs_manual_grade)}
                      for nb in submission.notebooks for g in nb.grades]
            feedback_dir = out / "feedback" / student / assignment
            feedback = {p.name: p.read_text(encoding="utf-8") for p in sorted(feedback_dir.glob("*.html"))}
            results[student] = {"grades": grades, "feedback": feedback, "timestamp": info.get("timestamp"),
                                "score": submission.score, "max_score": submission.max_score}
    return results


def grade(instructor: str, assignment: str) -> dict:
    user = pwd.getpwnam(instructor)
    course = os.path.join(user.pw_dir, COURSE_SUBDIR)
    started = time.perf_counter()
    found = json.loads(run_as(user, READ_AS_INSTRUCTOR, [course, assignment]))
    students = {s: v for s, v in found["students"].items() if NAME.match(s) and v["files"]}
    if not found["source"]:
        raise web.HTTPError(404, f"no source notebooks in {course}/solutions/{assignment}")
    if not students:
        raise web.HTTPError(409, f"nothing collected in {course}/submitted/*/{assignment}: collect first")
    with tempfile.TemporaryDirectory(prefix="grader-") as tmp:
        tmp = Path(tmp)
        for student, info in students.items():
            write_tree(tmp / "submissions" / student, assignment, info["files"])
        write_tree(tmp / "source", assignment, found["source"])
        write_tree(tmp / "release", assignment, found["release"] or found["source"])
        jobs = max(1, min(len(students), (os.cpu_count() or 2)))
        cmd = [sys.executable, "-m", "grading", "grade", str(tmp / "submissions"), "--out", str(tmp / "out"),
               "--jobs", str(jobs), "--source", str(tmp / "source"), "--release", str(tmp / "release")]
        if os.environ.get("ATTN_GRADER_UID_BASE"):  # spare uids for the sandboxes (default: the pipeline's)
            cmd += ["--uid-base", os.environ["ATTN_GRADER_UID_BASE"]]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=GRADE_TIMEOUT)
        log = (proc.stdout + proc.stderr)[-20000:]
        if not (tmp / "out" / "gradebook.db").exists():
            raise web.HTTPError(500, f"grading pipeline exited {proc.returncode} without a gradebook:\n{log}")
        results = read_results(tmp / "out", assignment, students)
    run_as(user, WRITE_AS_INSTRUCTOR, [course, assignment],
           stdin=json.dumps({s: {k: r[k] for k in ("grades", "feedback", "timestamp")} for s, r in results.items()}))
    return {"success": proc.returncode == 0 and set(results) == set(students), "assignment": assignment,
            "students": {s: {"score": r["score"], "max_score": r["max_score"]} for s, r in results.items()},
            "ungraded": sorted(set(students) - set(results)), "seconds": round(time.perf_counter() - started, 2),
            "returncode": proc.returncode, "log": log}


class GradeHandler(HubAuthenticated, web.RequestHandler):
    def initialize(self, hub_auth):
        self.hub_auth = hub_auth

    @web.authenticated
    async def post(self, assignment):
        if not NAME.match(assignment):
            raise web.HTTPError(400, f"bad assignment id {assignment!r}")
        instructor = self.current_user["name"]
        async with LOCK:
            result = await asyncio.get_running_loop().run_in_executor(None, grade, instructor, assignment)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(result))

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"success": False, "error": getattr(exc, "log_message", None) or self._reason}))


class HealthHandler(web.RequestHandler):
    def get(self):
        self.finish({"ok": True})


def main() -> None:
    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]  # /services/grader/
    url = os.environ["JUPYTERHUB_SERVICE_URL"]  # http://127.0.0.1:PORT
    hub_auth = HubAuth()
    app = web.Application([
        (prefix + r"api/grade/([^/]+)", GradeHandler, {"hub_auth": hub_auth}),
        (prefix + r"api/health", HealthHandler),
    ])
    host_port = url.split("://", 1)[1].rstrip("/")
    host, port = host_port.rsplit(":", 1)
    HTTPServer(app).listen(int(port), address=host)
    IOLoop.current().start()


if __name__ == "__main__":
    main()
