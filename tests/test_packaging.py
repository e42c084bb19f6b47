"""pyproject.toml and environment.yml name the same dependencies; CI pins torch."""
import json
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


def test_conda_uses_conda_forge_only():
    """The `pytorch` channel is no longer published to: pytorch comes from conda-forge."""
    for path in ("environment.yml", "binder/environment.yml"):
        env = yaml.safe_load((ROOT / path).read_text())
        assert env["channels"] == ["conda-forge"], f"{path}: {env['channels']}"


def test_license_is_an_spdx_string():
    """A TOML table for project.license makes setuptools >= 77 print a deprecation warning at every build."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    assert any(re.match(r"setuptools>=(7[7-9]|[89]\d)", r) for r in pyproject["build-system"]["requires"])


def test_the_package_data_takes_every_notebook_folder_and_the_learners_docs():
    """attention_course/layout.py globs: a new notebooks/<id>/ or docs/<name>.md needs no edit to be shipped."""
    import sys
    sys.path.insert(0, str(ROOT))
    from attention_course.layout import INSTRUCTOR_DOCS, shipped_files
    files = shipped_files(ROOT)
    for nb in ROOT.glob("notebooks/*/*.ipynb"):
        assert nb.relative_to(ROOT).as_posix() in files, nb
    for doc in ROOT.glob("docs/*.md"):
        assert (doc.relative_to(ROOT).as_posix() in files) == (doc.name not in INSTRUCTOR_DOCS), doc
    assert "lab/jupyter_lab_config.py" in files and "lab/settings/overrides.json" in files


def test_make_lab_resolves_the_no_news_override():
    """`make lab` passes lab/jupyter_lab_config.py, whose app_settings_dir holds overrides.json with fetchNews "false"
    (tests/test_browser.py and tests/test_install.py read the setting back from running servers)."""
    from traitlets.config.loader import PyFileConfigLoader

    assert re.search(r"^\t\$\(BIN\)/jupyter lab --config=lab/jupyter_lab_config\.py ", (ROOT / "Makefile").read_text(), re.M)
    config = PyFileConfigLoader("jupyter_lab_config.py", path=str(ROOT / "lab")).load_config()
    settings_dir = Path(config.LabApp.app_settings_dir)
    overrides = json.loads((settings_dir / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert config.LabApp.news_url is None and config.LabApp.default_url == "/lab/tree/notebooks"
