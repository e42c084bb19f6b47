"""pyproject.toml and environment.yml name the same dependencies; CI pins torch."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower()


def pyproject_deps() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values() for s in extra]
    return {_name(s) for s in specs}


def conda_deps() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(s) for s in dep.get("pip", [])}
        else:
            names.add(CONDA_NAMES.get(_name(dep), _name(dep)))
    return names - {"python", "pip"}


def test_environment_yml_matches_pyproject():
    missing_in_conda = pyproject_deps() - conda_deps()
    missing_in_pyproject = conda_deps() - pyproject_deps()
    assert not missing_in_conda, f"environment.yml lacks {sorted(missing_in_conda)}"
    assert not missing_in_pyproject, f"pyproject.toml lacks {sorted(missing_in_pyproject)}"


def test_torch_is_pinned_where_ci_installs():
    assert re.search(r"^TORCH\s*:=\s*torch==2\.13\.0$", (ROOT / "Makefile").read_text(), re.M)
    assert "pytorch=2.13.0" in (ROOT / "environment.yml").read_text()
    assert "make test" in (ROOT / ".ci" / "run").read_text()
