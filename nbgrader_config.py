"""nbgrader configuration of the attention course (nbgrader 0.9).

solutions/<assignment>/<assignment>.ipynb is the source of the course (with
solutions and hidden tests); `make release` (tools/release.py) runs
`nbgrader generate_assignment` to write the learners' copies into notebooks/.
Run nbgrader from the repository root, with .venv/bin first on PATH (nbgrader
shells out to `alembic`).
"""
import os

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "attention-course"
c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
# Never pick up editor or notebook-server leftovers as part of an assignment.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store"]

# The stub that replaces `### BEGIN SOLUTION ... ### END SOLUTION` in the released notebooks.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Per-cell time limit when nbgrader executes a notebook (autograde, validate); the kernel is
# interrupted after it. Our notebooks run in well under a minute in total.
c.Execute.timeout = 120
# Released notebooks carry no outputs and no execution counts, so regenerating them
# from the same solutions gives byte-identical files (no timestamps are written into them).
c.ClearOutput.remove_metadata_fields = ["collapsed", "scrolled", "execution", "ExecuteTime"]
