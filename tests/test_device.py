"""The course's thread policy (attnlib.device.configure_threads) and the CPUs it sees."""
import os

import pytest
import torch

from attnlib import device as dev


@pytest.fixture(autouse=True)
def keep_threads(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv(dev.THREADS_ENV, raising=False)
    yield
    torch.set_num_threads(before)


def test_policy_default_is_one_thread_per_learner():
    assert dev.configure_threads() == dev.COURSE_THREADS == torch.get_num_threads() == 1


def test_environment_overrides_and_all_means_every_usable_cpu(monkeypatch):
    monkeypatch.setattr(dev, "available_cpus", lambda: 3)
    monkeypatch.setenv(dev.THREADS_ENV, "2")
    assert dev.configure_threads() == 2 == torch.get_num_threads()
    monkeypatch.setenv(dev.THREADS_ENV, "all")
    assert dev.configure_threads() == 3 == torch.get_num_threads()
    assert dev.configure_threads(1) == 1  # an explicit argument wins over the environment


def test_never_more_threads_than_usable_cpus(monkeypatch):
    monkeypatch.setattr(dev, "available_cpus", lambda: 1)
    assert dev.configure_threads(8) == 1 == torch.get_num_threads()


@pytest.mark.parametrize("bad", ["zero", "0", "-2", "1.5"])
def test_a_bad_setting_names_the_variable_and_its_value(monkeypatch, bad):
    monkeypatch.setenv(dev.THREADS_ENV, bad)
    with pytest.raises(ValueError, match=rf"\$ATTNLIB_NUM_THREADS is '{bad}'"):
        dev.configure_threads()


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_cgroup_quota_v2_and_v1_the_smallest_along_the_path(tmp_path):
    own = tmp_path / "self_cgroup"
    own.write_text("0::/hub/attention-course/alice\n")
    assert dev.cgroup_cpu_quota(str(tmp_path / "v2"), str(own)) is None  # no cpu.max anywhere: no quota
    _write(tmp_path / "v2" / "cpu.max", "max 100000\n")
    _write(tmp_path / "v2" / "hub" / "cpu.max", "150000 100000\n")
    assert dev.cgroup_cpu_quota(str(tmp_path / "v2"), str(own)) == 1.5  # an ancestor's quota binds its children
    _write(tmp_path / "v2" / "hub" / "attention-course" / "alice" / "cpu.max", "50000 100000\n")
    assert dev.cgroup_cpu_quota(str(tmp_path / "v2"), str(own)) == 0.5
    own.write_text("4:cpu,cpuacct:/hub/bob\n3:memory:/hub/bob\n")
    _write(tmp_path / "v1" / "cpu" / "hub" / "bob" / "cpu.cfs_quota_us", "-1\n")
    _write(tmp_path / "v1" / "cpu" / "hub" / "bob" / "cpu.cfs_period_us", "100000\n")
    assert dev.cgroup_cpu_quota(str(tmp_path / "v1"), str(own)) is None  # -1: no quota
    _write(tmp_path / "v1" / "cpu" / "hub" / "bob" / "cpu.cfs_quota_us", "200000\n")
    assert dev.cgroup_cpu_quota(str(tmp_path / "v1"), str(own)) == 2.0
    assert dev.cgroup_cpu_quota(str(tmp_path / "v1"), str(tmp_path / "no-proc")) is None  # the root has none


def test_available_cpus_respects_a_quota(monkeypatch):
    cpus = len(os.sched_getaffinity(0))
    monkeypatch.setattr(dev, "cgroup_cpu_quota", lambda root="": 0.5)
    assert dev.available_cpus() == 1  # half a CPU still runs one thread
    monkeypatch.setattr(dev, "cgroup_cpu_quota", lambda root="": None)
    assert dev.available_cpus() == cpus
