"""Each student's server, and everything it starts, inside one memory, process and CPU budget.

LocalProcessSpawner runs a server as the student's Linux user with no limit at all. ClassSpawner adds
them, in the first way this server allows (`limits = "auto"`):

  cgroup   a cgroup per student, <the hub's own cgroup>/attention-course/<user>, in cgroups v2 or v1:
           memory (no swap), processes and threads, CPU time. The server joins it before it execs, so
           every kernel, terminal and process it starts is inside, and stopping the server kills what
           is left in there. A hog meets the limit inside its own cgroup: the OOM killer picks the
           largest process there (the notebook's kernel: JupyterLab says it died and restarts it),
           fork fails with "Resource temporarily unavailable", a busy loop is throttled.
  rlimit   no writable cgroup (an unprivileged container): address space per process (RLIMIT_AS) and
           processes per user (RLIMIT_NPROC). No CPU limit; a hog's MemoryError stays in its kernel.

Where systemd runs, `spawner_class()` picks jupyterhub-systemdspawner instead (as The Littlest
JupyterHub does): a transient unit per server with MemoryMax, CPUQuota and TasksMax.
The limits themselves are the Spawner's `mem_limit` and `cpu_limit` and ClassSpawner's `tasks_limit`,
set from environment variables in jupyterhub_config.py.
"""
from __future__ import annotations

import asyncio
import os
import resource
import signal
import time
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Enum, Integer

CONTROLLERS = ("memory", "pids", "cpu")
CLASS_DIR = "attention-course"
CPU_PERIOD_US = 100_000


def _write(path: Path, value) -> None:
    path.write_text(f"{value}\n")


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per hierarchy: {"": v2 path} and {controller: v1 path} (/proc/self/cgroup)."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            own[name] = path
    return own


def _mounts() -> list[tuple[Path, str, set[str]]]:
    """(mount point, "cgroup" or "cgroup2", mount options) of every cgroup file system."""
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, where, kind, options, *_ = line.split()
        if kind in ("cgroup", "cgroup2"):
            out.append((Path(where), kind, set(options.split(","))))
    return out


class Cgroup:
    """One student's cgroup: one folder (v2) or one folder per controller (v1)."""

    def __init__(self, dirs: dict[str, Path], v2: bool):
        self.dirs, self.v2 = dirs, v2

    @classmethod
    def locate(cls, user: str) -> Cgroup:
        """Where `user`'s cgroup is or goes; OSError naming what is missing when this server has none usable."""
        own, mounts = _own_cgroups(), _mounts()
        for where, kind, _ in mounts:
            if kind == "cgroup2" and "" in own:
                available = (where / "cgroup.controllers").read_text().split()
                if set(CONTROLLERS) <= set(available):
                    user_dir = where / own[""].lstrip("/") / CLASS_DIR / user
                    return cls(dict.fromkeys(CONTROLLERS, user_dir), v2=True)
        dirs = {}
        for controller in CONTROLLERS:
            where = next((w for w, kind, opts in mounts if kind == "cgroup" and controller in opts), None)
            if where is None or controller not in own:
                raise OSError(f"no cgroup v2 with {', '.join(CONTROLLERS)} and no cgroup v1 '{controller}' "
                              f"hierarchy is mounted (see /proc/self/mounts)")
            dirs[controller] = where / own[controller].lstrip("/") / CLASS_DIR / user
        return cls(dirs, v2=False)

    @classmethod
    def create(cls, user: str, memory: int | None, cpus: float | None, tasks: int | None) -> Cgroup:
        """Make `user`'s cgroup with these limits (None or 0: no limit); OSError when the kernel refuses."""
        group = cls.locate(user)
        if group.v2:
            # Controllers reach a cgroup only when every ancestor enables them for its children.
            for parent in (group.dirs["memory"].parent.parent, group.dirs["memory"].parent):
                parent.mkdir(exist_ok=True)
                enabled = (parent / "cgroup.subtree_control").read_text().split()
                missing = [c for c in CONTROLLERS if c not in enabled]
                if missing:
                    try:
                        _write(parent / "cgroup.subtree_control", " ".join("+" + c for c in missing))
                    except OSError as e:
                        raise OSError(f"cannot enable {missing} for the children of {parent} ({e}): the hub's "
                                      "cgroup must have its controllers delegated and hold no process itself "
                                      "(systemd: Delegate=yes), or use the systemd spawner") from e
        for d in set(group.dirs.values()):
            d.mkdir(parents=True, exist_ok=True)
        m, p, c = group.dirs["memory"], group.dirs["pids"], group.dirs["cpu"]
        if memory:
            if group.v2:
                _write(m / "memory.max", memory)
                if (m / "memory.swap.max").exists():
                    _write(m / "memory.swap.max", 0)
            else:
                _write(m / "memory.limit_in_bytes", memory)
                if (m / "memory.memsw.limit_in_bytes").exists():  # memory + swap: no swap beyond the limit
                    _write(m / "memory.memsw.limit_in_bytes", memory)
        if tasks:
            _write(p / "pids.max", tasks)
        if cpus:
            quota = int(cpus * CPU_PERIOD_US)
            if group.v2:
                _write(c / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            else:
                _write(c / "cpu.cfs_period_us", CPU_PERIOD_US)
                _write(c / "cpu.cfs_quota_us", quota)
        return group

    def procs_files(self) -> list[Path]:
        return sorted({d / "cgroup.procs" for d in self.dirs.values()})

    def pids(self) -> set[int]:
        found = set()
        for f in self.procs_files():
            try:
                found.update(int(line) for line in f.read_text().split())
            except FileNotFoundError:
                pass
        return found

    def remove(self, timeout: float = 10) -> None:
        """Kill whatever is still inside (the student's leftovers), then remove the folders."""
        deadline = time.monotonic() + timeout
        while True:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                for d in set(self.dirs.values()):
                    if d.exists():
                        d.rmdir()
                return
            except OSError:  # EBUSY while the killed processes exit
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


class ClassSpawner(LocalProcessSpawner):
    """LocalProcessSpawner with per-student limits (module docstring): mem_limit, cpu_limit, tasks_limit."""

    limits = Enum(["auto", "cgroup", "rlimit", "off"], "auto", config=True,
                  help="How to hold the limits: auto = a cgroup where possible, else rlimits.")
    tasks_limit = Integer(0, config=True,
                          help="Most processes and threads of one server and all it starts (0: no limit).")
    _cgroup: Cgroup | None = None

    def _cgroup_or_none(self) -> Cgroup | None:
        if self.limits not in ("auto", "cgroup"):
            return None
        try:
            return Cgroup.create(self.user.name, self.mem_limit, self.cpu_limit, self.tasks_limit)
        except OSError as e:
            if self.limits == "cgroup":
                raise RuntimeError(f"cannot make a cgroup for {self.user.name}: {e}") from e
            self.log.warning("no cgroup for %s (%s): falling back to rlimits (memory per process, processes "
                             "per user, no CPU limit)", self.user.name, e)
            return None

    async def start(self):
        self._cgroup = self._cgroup_or_none()
        mode = "off" if self.limits == "off" else "cgroup" if self._cgroup else "rlimit"
        self.log.info("limits for %s: %s, memory %s bytes, %s CPUs, %s tasks", self.user.name, mode,
                      self.mem_limit, self.cpu_limit, self.tasks_limit)
        try:
            return await super().start()
        except BaseException:
            await self._remove_cgroup()
            raise

    def make_preexec_fn(self, name):
        become_user = super().make_preexec_fn(name)
        join = self._cgroup.procs_files() if self._cgroup else []
        rlimits = []
        if self._cgroup is None and self.limits != "off":
            rlimits = [(r, v) for r, v in ((resource.RLIMIT_AS, self.mem_limit),
                                           (resource.RLIMIT_NPROC, self.tasks_limit)) if v]

        def preexec():  # in the child, as root, before it becomes the student and execs the server
            for procs in join:
                _write(procs, os.getpid())
            for which, value in rlimits:
                resource.setrlimit(which, (value, value))
            become_user()
        return preexec

    async def stop(self, now=False):
        await super().stop(now=now)
        await self._remove_cgroup()

    async def _remove_cgroup(self):
        if self.limits not in ("auto", "cgroup"):
            return
        try:
            group = Cgroup.locate(self.user.name)
        except OSError:
            return  # no cgroups on this server: nothing to remove
        try:
            await asyncio.to_thread(group.remove)  # waits for killed processes: not on the hub's event loop
        except OSError as e:
            self.log.warning("could not remove the cgroup of %s: %s", self.user.name, e)


def spawner_class(limits: str) -> str:
    """The spawner for this server: systemd's where systemd runs (unless limits names another way)."""
    if limits == "systemd" or (limits == "auto" and Path("/run/systemd/system").is_dir()):
        return "systemdspawner.SystemdSpawner"
    return "class_spawner.ClassSpawner"
