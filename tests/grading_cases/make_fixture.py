"""Write the small fixture assignment `demo` (source + nbgrader release) used until 02_alignment_scores exists.

    .venv/bin/python tests/grading_cases/make_fixture.py

Same structure as the course's notebooks: one setup cell, then per exercise an
answer cell (nbgrader solution), a visible check cell, a locked graded test
cell `<function>_tests` with hidden tests, and `fn = implemented(fn)`.
The release is made by nbgrader itself (generate_assignment), not by hand.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent / "course"
EXERCISES = [  # name, points, solution body, visible assert
    ("dot_score", 1, "return torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)",
     "assert dot_score(torch.randn(2, 3, 4), torch.randn(2, 5, 4)).shape == (2, 3, 5)", "query, keys"),
    ("general_score", 2, "return torch.bmm(query, (keys @ W.T).transpose(1, 2))  # (B, T, S)",
     "assert general_score(torch.randn(2, 3, 4), torch.randn(2, 5, 6), torch.randn(4, 6)).shape == (2, 3, 5)",
     "query, keys, W"),
    ("additive_score", 2,
     "return torch.tanh((query @ W_q.T)[:, :, None] + (keys @ W_k.T)[:, None]) @ v  # (B, T, S)",
     "assert additive_score(torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(3, 4), torch.randn(3, 4), torch.randn(3)).shape == (2, 3, 5)",
     "query, keys, W_q, W_k, v"),
]


def meta(**kw):
    return {"nbgrader": {"schema_version": 3, "locked": False, "solution": False, "grade": False, **kw}}


def source_notebook():
    cells = [nbformat.v4.new_markdown_cell("# Demo: alignment scores\n\nA fixture for the grader's tests."),
             nbformat.v4.new_code_cell("import torch\nfrom attnlib.checks import check, implemented, results\n"
                                       "torch.manual_seed(0)", metadata=meta(grade_id="setup", locked=True))]
    for name, points, body, visible, args in EXERCISES:
        cells += [
            nbformat.v4.new_markdown_cell(f"## `{name}`"),
            nbformat.v4.new_code_cell(f"def {name}({args}):\n    ### BEGIN SOLUTION\n    {body}\n    ### END SOLUTION",
                                      metadata=meta(solution=True, grade_id=name)),
            nbformat.v4.new_code_cell(f"check({name})"),
            nbformat.v4.new_code_cell(f"{visible}\n### BEGIN HIDDEN TESTS\n"
                                      f"assert all(results({name}, {name!r}, seeds=(101, 202)))\n### END HIDDEN TESTS",
                                      metadata=meta(grade=True, locked=True, grade_id=f"{name}_tests", points=points)),
            nbformat.v4.new_code_cell(f"{name} = implemented({name})"),
        ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def main():
    src = HERE / "solutions" / "demo" / "demo.ipynb"
    src.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(), src)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "demo", "--force",
                        f"--CourseDirectory.root={HERE}", "--CourseDirectory.source_directory=solutions",
                        "--CourseDirectory.release_directory=notebooks", f"--CourseDirectory.db_url=sqlite:///{tmp}/gb.db",
                        "--ClearOutput.enabled=True"], check=True, env=env, cwd=tmp)
    print("wrote", src, "and", HERE / "notebooks" / "demo" / "demo.ipynb")


if __name__ == "__main__":
    main()
