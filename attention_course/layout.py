"""Which files make up the course a learner gets, relative to a course root.

One list for both the build (setup.py copies these into the wheel) and the CLI
(`attention-course fetch` copies the learner's part into DIR). Globs, not names:
a new notebooks/<id>/ or docs/<name>.md is picked up without editing this file.

    notebooks/<id>/<any file>      the student notebooks (made by `make release`) and their files
    docs/*.md                      the learners' docs the notebooks link to (../../docs/glossary.md),
                                   not the instructors' (INSTRUCTOR_DOCS)
    lab/jupyter_lab_config.py      the JupyterLab settings of `make lab` and `attention-course lab`
    lab/settings/overrides.json    JupyterLab setting overrides (no news popup), read through LabApp.app_settings_dir
"""
from __future__ import annotations

from pathlib import Path

INSTRUCTOR_DOCS = {"teaching.md"}
LAB_FILES = ("lab/jupyter_lab_config.py", "lab/settings/overrides.json")


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in rel.parts)


def learner_files(root: Path) -> list[str]:
    """Paths (posix, relative to root) a learner gets in DIR: the notebooks' folders and the learners' docs."""
    root = Path(root)
    found = [p for p in root.glob("notebooks/*/**/*") if p.is_file()]
    found += [p for p in root.glob("docs/*.md") if p.is_file() and p.name not in INSTRUCTOR_DOCS]
    rels = (p.relative_to(root) for p in found)
    return sorted(r.as_posix() for r in rels if not _hidden(r))


def shipped_files(root: Path) -> list[str]:
    """Everything the wheel carries under attention_course/course/: learner_files plus the lab settings."""
    return learner_files(root) + [f for f in LAB_FILES if (Path(root) / f).is_file()]
