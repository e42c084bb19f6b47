"""Build step pyproject.toml cannot express: the course's files go into the wheel as package data.

notebooks/, docs/ and lab/ live at the repository root (make release writes notebooks/), outside
any package; build_py copies what attention_course.layout.shipped_files lists into
attention_course/course/ of the build, so `pip install` of the wheel or of a git URL carries them.
An editable install skips the copy: the CLI then reads them from the repository.
"""
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from attention_course.layout import shipped_files  # noqa: E402


class build_py_with_course(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        files = shipped_files(HERE)
        if not any(f.startswith("notebooks/") for f in files):
            raise SystemExit("no student notebook in notebooks/: run `make release` before building the wheel")
        target = Path(self.build_lib) / "attention_course" / "course"
        shutil.rmtree(target, ignore_errors=True)   # build/ persists between builds: no stale notebook may ride along
        for rel in files:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / rel, target / rel)


setup(cmdclass={"build_py": build_py_with_course})
