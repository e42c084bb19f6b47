"""deploy/jupyterhub_config.py's choices, read without starting a hub: login, limits, threads."""
from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SETTINGS = ("ATTN_HUB_AUTH", "ATTN_HUB_PASSWORD", "ATTN_LIMITS", "ATTN_STUDENT_MEMORY", "ATTN_STUDENT_CPUS",
            "ATTN_STUDENT_TASKS")


@pytest.fixture
def load(tmp_path, monkeypatch):
    """load(**env): the hub's config as the hub would read it, with these settings and a two-line roster."""
    (tmp_path / "roster.txt").write_text("teacher instructor\nalice student\n")
    monkeypatch.setenv("ATTN_HUB_STATE", str(tmp_path))
    monkeypatch.setenv("ATTN_ROSTER", str(tmp_path / "roster.txt"))
    monkeypatch.syspath_prepend(str(DEPLOY))  # the config imports class_spawner from beside it

    def _load(**env):
        for key in SETTINGS:
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return PyFileConfigLoader("jupyterhub_config.py", path=str(DEPLOY)).load_config()
    return _load


def test_default_is_a_password_per_user_with_limits_and_one_thread(load):
    c = load()
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.Authenticator.allowed_users == {"teacher", "alice"}
    assert "SharedPasswordAuthenticator" not in c
    if not Path("/run/systemd/system").is_dir():
        assert c.JupyterHub.spawner_class == "class_spawner.ClassSpawner"
    assert (c.Spawner.mem_limit, c.Spawner.cpu_limit, c.ClassSpawner.tasks_limit) == ("2G", 1.0, 512)
    assert c.ClassSpawner.limits == "auto"
    assert c.SystemdSpawner.unit_extra_properties == {"TasksMax": "512"}
    env = c.Spawner.environment
    assert (env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"], env["ATTNLIB_NUM_THREADS"]) == ("1", "1", "1")


def test_shared_password_is_an_explicit_opt_in(load):
    c = load(ATTN_HUB_PASSWORD="an-old-class-password")  # set, but not asked for: ignored
    assert c.JupyterHub.authenticator_class == "pam"
    c = load(ATTN_HUB_AUTH="shared", ATTN_HUB_PASSWORD="workshop-2026")
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.SharedPasswordAuthenticator.user_password == "workshop-2026"
    with pytest.raises(ValueError, match="8\\+ characters"):
        load(ATTN_HUB_AUTH="shared", ATTN_HUB_PASSWORD="short")
    with pytest.raises(ValueError, match="expected pam or shared"):
        load(ATTN_HUB_AUTH="oauth")


def test_limits_are_set_in_one_place(load):
    c = load(ATTN_STUDENT_MEMORY="3G", ATTN_STUDENT_CPUS="0.5", ATTN_STUDENT_TASKS="200", ATTN_LIMITS="rlimit")
    assert (c.Spawner.mem_limit, c.Spawner.cpu_limit, c.ClassSpawner.tasks_limit) == ("3G", 0.5, 200)
    assert (c.ClassSpawner.limits, c.JupyterHub.spawner_class) == ("rlimit", "class_spawner.ClassSpawner")
    assert load(ATTN_LIMITS="systemd").JupyterHub.spawner_class == "systemdspawner.SystemdSpawner"
