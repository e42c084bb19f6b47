"""A class on JupyterHub, end to end: deploy/ on 127.0.0.1 with real Linux users, driven over HTTP.

The hub (deploy/jupyterhub_config.py, configurable-http-proxy from npm, the class environment from
deploy/setup.sh) starts on free loopback ports; an instructor and ATTN_HUB_STUDENTS students (default 2)
are temporary Linux users. Everything goes through the proxy with the endpoints the JupyterLab UI uses:
the formgrader's REST API (generate, release, collect, scores, release feedback), the assignment list's
(fetch, submit, fetch feedback), the contents API (edit notebooks) and terminals (what a student can
read). Everyone logs in with their own password (PAM), which deploy/add-users.sh set. Grading is the
hub's "grader" service, which runs the course's safe pipeline (python -m grading).
Every process, user, cgroup and folder the test made is removed at the end, also when it fails.
tests/test_hub_security.py uses the same class for the login matrix and the limits per student.

Needs root (it creates Linux users); prints its measurements (servers' memory, spawn and grading time)
with -s. ATTN_HUB_STUDENTS=N for a bigger class (docs/teaching.md's capacity figures);
ATTN_HUB_ASSIGNMENT=fixture drives tests/hub_fixture's two-exercise assignment instead of
solutions/02_alignment_scores.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
PREFIX = Path(os.environ.get("ATTN_CLASS_PREFIX", "/opt/attention-course"))
VENV = PREFIX / "venv"
COURSE = "attention-course"
N_STUDENTS = int(os.environ.get("ATTN_HUB_STUDENTS", "2"))

IS_ROOT = os.name == "posix" and os.geteuid() == 0
# A developer's machine without root skips it; CI must run it, so there a missing root fails (klass fixture).
NEEDS_ROOT = pytest.mark.skipif(not IS_ROOT and not os.environ.get("CI"),
                                reason="needs root: the class test creates temporary Linux users")
pytestmark = [pytest.mark.slow, pytest.mark.exclusive, NEEDS_ROOT]  # CPU shares, limits: alone


# --- helpers --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, predicate, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def pick_assignment() -> tuple[str, Path]:
    """The course's 02_alignment_scores if it is there (ATTN_HUB_ASSIGNMENT=fixture: the small fixture)."""
    real = REPO / "solutions" / "02_alignment_scores"
    if os.environ.get("ATTN_HUB_ASSIGNMENT") != "fixture" and (real / "02_alignment_scores.ipynb").is_file():
        return "02_alignment_scores", real
    return "00_hub_check", REPO / "tests" / "hub_fixture" / "solutions" / "00_hub_check"


SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION[^\n]*\n?", re.S | re.M)


def answers_from_source(source_nb: dict) -> dict[str, str]:
    """{grade_id: the solution cell with the BEGIN/END SOLUTION markers removed} for every answer cell."""
    out = {}
    for cell in source_nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution") and not meta.get("grade"):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            out[meta["grade_id"]] = SOLUTION.sub(lambda m: m.group(1), src)
    return out


def break_answer(src: str) -> str:
    """A wrong answer: the solution with its function's result negated (a plausible sign mistake)."""
    name = re.search(r"^def (\w+)\(", src, re.M).group(1)
    return (src + f"\n\n_correct_{name} = {name}\n\ndef {name}(*args, **kwargs):\n"
            f"    out = _correct_{name}(*args, **kwargs)\n"
            f"    return tuple(-o for o in out) if isinstance(out, tuple) else -out\n")


def proc_children(root_pid: int) -> set[int]:
    """root_pid and every descendant (from /proc)."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    found, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parent.items() if pp == pid and p not in found]
        found.update(kids)
        frontier.extend(kids)
    return found


def identity(pid: int) -> str | None:
    """pid's start time (a pid reused by another process has another), or None once it has ended (or is a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in "ZX" else fields[19]


def identities(pids) -> dict[int, str]:
    return {p: i for p in pids if (i := identity(p)) is not None}


def pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def socket_inodes(pids) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            pass
    return inodes


def listening_sockets() -> list[dict]:
    """Every TCP socket in LISTEN state: address, port, owner uid, inode (from /proc/net/tcp{,6})."""
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                local, state, uid, inode = fields[1], fields[3], int(fields[7]), fields[9]
                if state != "0A":
                    continue
                addr_hex, port_hex = local.split(":")
                raw = bytes.fromhex(addr_hex)
                if v6:
                    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
                    packed = b"".join(words)
                    address = socket.inet_ntop(socket.AF_INET6, packed)
                else:
                    address = socket.inet_ntop(socket.AF_INET, raw[::-1])
                out.append({"address": address, "port": int(port_hex, 16), "uid": uid, "inode": inode})
    return out


def is_loopback(address: str) -> bool:
    return address.startswith("127.") or address in ("::1", "::ffff:127.0.0.1") or address.startswith("::ffff:127.")


def cgroup_dirs(pid) -> dict[str, Path]:
    """{controller: folder} of pid's cgroup for memory, pids and cpu (v2: one folder; v1: one each)."""
    mounts = [line.split()[1:4] for line in Path("/proc/self/mounts").read_text().splitlines()]
    own = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            own[name] = path.lstrip("/")
    out = {}
    for controller in ("memory", "pids", "cpu"):
        for where, kind, options in mounts:
            if kind == "cgroup" and controller in options.split(",") and controller in own:
                out[controller] = Path(where) / own[controller]
            elif kind == "cgroup2" and "" in own:
                if controller in (Path(where) / "cgroup.controllers").read_text().split():
                    out[controller] = Path(where) / own[""]
    return out


def memory_kib(pids, field: str = "Pss") -> int:
    """Sum of a /proc/<pid>/smaps_rollup field (kB) over pids: PSS shares common pages fairly."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# --- the hub and its users ------------------------------------------------------------------------
class Class:
    """Temporary users, folders and a running hub; teardown() undoes all of it, in any state."""

    def __init__(self):
        self.suffix = secrets.token_hex(3)
        self.instructor = f"atti{self.suffix}"
        self.students = [f"atts{i}{self.suffix}" for i in range(1, N_STUDENTS + 1)]
        self.users: list[str] = []
        self.tmp: Path | None = None
        self.hub: subprocess.Popen | None = None
        self.hub_procs: dict[int, str] = {}  # {pid: identity} of the hub and everything it started
        self.password = secrets.token_urlsafe(12)  # an old class password: the hub must ignore it
        self.passwords: dict[str, str] = {}  # each user's own, from add-users.sh's credentials file
        self.cgroups: set[Path] = set()  # the student cgroups this class may have made
        self.service_token = secrets.token_hex(32)
        self.ports = {k: free_port() for k in ("proxy", "api", "hub", "grader")}
        self.base = f"http://127.0.0.1:{self.ports['proxy']}"
        self.tokens: dict[str, str] = {}
        self.server_pids: dict[str, int] = {}
        self.measured: dict[str, float] = {}
        self._torn_down = False
        atexit.register(self.teardown)

    # setup
    def make_users(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="attn-hub-"))
        os.chmod(self.tmp, 0o711)  # the exchange inside must be reachable by every user
        (self.tmp / "state").mkdir(mode=0o700)
        exchange = self.tmp / "exchange"
        exchange.mkdir()
        os.chmod(exchange, 0o1777)
        roster = self.tmp / "state" / "roster.txt"
        roster.write_text(f"{self.instructor} instructor\n" + "".join(f"{s} student\n" for s in self.students))
        self.users = [self.instructor, *self.students]  # recorded before useradd: teardown removes what exists
        subprocess.run([str(DEPLOY / "add-users.sh"), str(roster)], check=True, capture_output=True, text=True)
        own = cgroup_dirs(os.getpid())  # the hub's cgroups are this process's: the students' go below
        self.cgroups = {d / "attention-course" / name for d in own.values() for name in self.users}
        for name in self.users:
            assert os.stat(pwd.getpwnam(name).pw_dir).st_mode & 0o777 == 0o700, f"{name}'s home is not 0700"
        credentials = self.tmp / "state" / "credentials.txt"
        assert credentials.stat().st_mode & 0o777 == 0o600, f"{credentials} is not 0600"
        self.passwords = dict(line.split() for line in credentials.read_text().splitlines())
        assert set(self.passwords) == set(self.users), f"credentials for {sorted(self.passwords)}, not {self.users}"

    def make_course(self, assignment: str, source: Path):
        """The instructor's course folder: a copy of the repo's course parts in ~/attention-course."""
        user = pwd.getpwnam(self.instructor)
        course = Path(user.pw_dir) / COURSE
        shutil.copytree(source, course / "solutions" / assignment)
        if (REPO / "nbgrader_config.py").is_file():
            shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(course)], check=True)
        return course

    def start_hub(self):
        config = self.tmp / "state" / "test_config.py"
        config.write_text(
            f"load_subconfig({str(DEPLOY / 'jupyterhub_config.py')!r})\n"
            f"c.JupyterHub.hub_port = {self.ports['hub']}\n"
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{self.ports['api']}'\n"
            "c.JupyterHub.services.append({'name': 'attn-test', 'api_token': %r})\n"
            "c.JupyterHub.load_roles.append({'name': 'attn-test', 'services': ['attn-test'],\n"
            "    'scopes': ['admin:users', 'admin:servers', 'admin:server_state', 'tokens', 'access:servers',\n"
            "               'list:users', 'read:users']})\n"
            % self.service_token)
        env = {**os.environ,
               "ATTN_CLASS_PREFIX": str(PREFIX), "ATTN_HUB_STATE": str(self.tmp / "state"),
               "ATTN_ROSTER": str(self.tmp / "state" / "roster.txt"), "ATTN_HUB_PASSWORD": self.password,
               "ATTN_HUB_BIND_URL": self.base, "ATTN_EXCHANGE_ROOT": str(self.tmp / "exchange"),
               "ATTN_GRADER_PORT": str(self.ports["grader"]),
               # spare uids of its own, so that a grading run elsewhere on this machine cannot collide
               "ATTN_GRADER_UID_BASE": str(62000 + 8 * secrets.randbelow(300))}
        self.log = open(self.tmp / "state" / "hub.log", "w")
        self.hub = subprocess.Popen([str(VENV / "bin" / "jupyterhub"), "-f", str(config)], cwd=self.tmp / "state",
                                    env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

        def up():
            if self.hub.poll() is not None:
                raise RuntimeError(f"the hub exited {self.hub.returncode}:\n{self.hub_log()}")
            try:
                return requests.get(f"{self.base}/hub/api/", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False
        wait_for("the hub behind the proxy", up, 60)

    def hub_log(self) -> str:
        try:
            return (self.tmp / "state" / "hub.log").read_text()[-6000:]
        except OSError:
            return ""

    # HTTP
    def login(self, name: str, password: str) -> int:
        """Log in through the hub's login form: 302 (logged in) or 403 (refused)."""
        s = requests.Session()
        s.get(f"{self.base}/hub/login", timeout=10)
        r = s.post(f"{self.base}/hub/login", data={"username": name, "password": password,
                                                    "_xsrf": s.cookies.get("_xsrf")}, allow_redirects=False, timeout=30)
        assert r.status_code == 403 or "jupyterhub-session-id" in s.cookies, f"{name}: {r.status_code}, no session"
        return r.status_code

    def api(self, method: str, path: str, **kw):
        return requests.request(method, f"{self.base}/hub/api{path}", timeout=30,
                                headers={"Authorization": f"token {self.service_token}"}, **kw)

    def user(self, name: str, method: str, path: str, token: str | None = None, **kw):
        token = token or self.tokens[name]
        kw.setdefault("timeout", 120)
        return requests.request(method, f"{self.base}/user/{name}/{path.lstrip('/')}",
                                headers={"Authorization": f"token {token}"}, allow_redirects=False, **kw)

    def ok(self, name: str, method: str, path: str, **kw):
        r = self.user(name, method, path, **kw)
        assert r.status_code < 300, f"{name}: {method} {path} -> {r.status_code}: {r.text[:2000]}"
        body = r.json() if r.content else None
        if isinstance(body, dict) and body.get("success") is False:
            raise AssertionError(f"{name}: {method} {path} failed: {json.dumps(body)[:4000]}")
        return body

    def terminal(self, name: str, command: str, timeout: float = 60) -> tuple[int, str]:
        """Run a shell command in a JupyterLab terminal of `name`'s server: (exit status, output)."""
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        term = self.ok(name, "POST", "api/terminals")["name"]
        marker = secrets.token_hex(4)
        url = f"ws://127.0.0.1:{self.ports['proxy']}/user/{name}/terminals/websocket/{term}"

        async def talk():
            ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {self.tokens[name]}"}))
            ws.write_message(json.dumps(["stdin", f"{command}; echo END{marker}=$?\r"]))
            text, deadline = "", time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = await asyncio.wait_for(ws.read_message(), deadline - time.monotonic())
                if msg is None:
                    break
                kind, *rest = json.loads(msg)
                if kind == "stdout":
                    text += rest[0]
                    m = re.search(rf"END{marker}=(\d+)", text)
                    if m:
                        ws.close()
                        return int(m.group(1)), text[:m.start()]
            raise TimeoutError(f"terminal of {name}: no end marker; got {text[-2000:]!r}")
        try:
            return asyncio.run(talk())
        finally:
            self.user(name, "DELETE", f"api/terminals/{term}")

    def run_cell(self, name: str, kernel_id: str, code: str, timeout: float = 120) -> tuple[str, str]:
        """Run code in a kernel of name's server over its websocket, as a notebook does: (status, output).

        status is the reply's ("ok", "error"), or "restarting" / "dead" when the kernel died meanwhile
        (what JupyterLab shows as "Kernel Restarting")."""
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = f"ws://127.0.0.1:{self.ports['proxy']}/user/{name}/api/kernels/{kernel_id}/channels"
        msg_id, session = secrets.token_hex(8), secrets.token_hex(8)
        request = {"header": {"msg_id": msg_id, "session": session, "username": name, "msg_type": "execute_request",
                              "version": "5.3", "date": ""},
                   "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                   "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                               "allow_stdin": False, "stop_on_error": True}}

        async def talk():
            ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {self.tokens[name]}"}))
            ws.write_message(json.dumps(request))
            out, deadline, reply, idle = "", time.monotonic() + timeout, None, False
            try:
                # Done when both the reply (shell) and the idle status (iopub) have come: the two channels are not
                # ordered, so a stream output can arrive after the reply on a busy machine.
                while reply is None or not idle:
                    raw = await asyncio.wait_for(ws.read_message(), deadline - time.monotonic())
                    if raw is None:
                        raise ConnectionError(f"{name}'s kernel websocket closed; output so far: {out[-2000:]}")
                    if isinstance(raw, bytes):  # a message with binary buffers (widgets): not ours
                        continue
                    msg = json.loads(raw)
                    kind, content = msg["header"]["msg_type"], msg["content"]
                    if kind == "status" and content["execution_state"] in ("restarting", "dead"):
                        return content["execution_state"], out
                    if msg.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    if kind == "stream":
                        out += content["text"]
                    elif kind == "error":
                        out += "\n".join(content["traceback"])
                    elif kind == "execute_reply":
                        reply = content["status"]
                    elif kind == "status" and content["execution_state"] == "idle":
                        idle = True
                return reply, out
            finally:
                ws.close()
        return asyncio.run(talk())

    def wait_restarted(self, name: str, kernel_id: str, timeout: float = 90) -> None:
        """After a kernel died, wait until the server's restart is done and the kernel answers a cell.

        A kernel that dies in its first seconds is restarted on new random ports, and the server says
        "restarting" before the new kernel has them: a websocket opened in between sends to the old ports
        and never hears back. So ask in short attempts, each on a new websocket, as a reloaded page would."""
        last = []  # what the latest attempt got, for the failure message

        def answers():
            try:
                last[:] = [self.run_cell(name, kernel_id, "print(1 + 1)", timeout=10)]
                return last[0] == ("ok", "2\n")
            except (TimeoutError, ConnectionError) as e:  # connected during the switch of ports: connect again
                last[:] = [repr(e)]
                return False
        try:
            wait_for(f"{name}'s restarted kernel to answer", answers, timeout, 1)
        except TimeoutError as e:
            raise TimeoutError(f"{e}; the last attempt got {last[0] if last else 'nothing'}") from None

    def execute(self, name: str, kernel_id: str, code: str, timeout: float = 120) -> str:
        """Run code in a kernel of name's server (run_cell) and expect it to succeed: its output."""
        status, out = self.run_cell(name, kernel_id, code, timeout)
        assert status == "ok", f"{name}'s kernel: {status}: {out[-3000:]}"
        return out

    # teardown
    def teardown(self):
        if self._torn_down:
            return
        self._torn_down = True
        if self.hub is not None:
            self.hub_procs.update(identities(proc_children(self.hub.pid)))
            if self.hub.poll() is None:
                self.hub.send_signal(signal.SIGTERM)  # the hub stops the servers, the service and the proxy
                try:
                    self.hub.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.hub.kill()
                    self.hub.wait(timeout=10)
            self.log.close()
        leftovers = set()
        leftovers.update(p for p, ident in self.hub_procs.items() if identity(p) == ident)
        for name in self.users:
            try:
                leftovers.update(pids_of_uid(pwd.getpwnam(name).pw_uid))
            except KeyError:
                pass
        for group in self.cgroups:  # normally the spawner removed them when the hub stopped the servers
            with contextlib.suppress(OSError):
                leftovers.update(int(p) for p in (group / "cgroup.procs").read_text().split())
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for group in self.cgroups:
            for _ in range(50):  # rmdir is refused until the killed processes have left
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
        for name in self.users:
            try:
                pwd.getpwnam(name)
            except KeyError:
                continue
            subprocess.run(["userdel", "--remove", name], capture_output=True)
            try:
                pwd.getpwnam(name)
                subprocess.run(["userdel", "--force", "--remove", name], capture_output=True)
            except KeyError:
                pass
        if self.tmp is not None:
            print(f"--- end of the hub's log ---\n{self.hub_log()}")  # pytest shows it when the test fails
            shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def running_class():
    """A Class (deploy/setup.sh run first); afterwards, checks that its users, folders, processes and
    cgroups are gone."""
    assert IS_ROOT, "CI is set but the tests do not run as root: the class test must create Linux users"
    setup = subprocess.run([str(DEPLOY / "setup.sh")], capture_output=True, text=True, timeout=900)
    assert setup.returncode == 0, f"deploy/setup.sh failed:\n{setup.stdout}\n{setup.stderr}"
    k = Class()
    try:
        yield k
    finally:
        k.teardown()
        for name in k.users:
            with pytest.raises(KeyError):
                pwd.getpwnam(name)
        assert k.tmp is None or not k.tmp.exists(), f"{k.tmp} was not removed"
        def stray():
            return [p for p, ident in k.hub_procs.items() if identity(p) == ident]
        with contextlib.suppress(TimeoutError):  # killed processes take a moment to go
            wait_for("the class's processes to end", lambda: not stray(), 10)
        assert not stray(), f"processes left running: {stray()}"
        left = [str(g) for g in k.cgroups if g.exists()]
        assert not left, f"cgroups left behind: {left}"


@pytest.fixture
def klass():
    with running_class() as k:
        yield k


# What a student's kernel holds while working through a notebook (for the memory figure).
KERNEL_WORK = """
import torch, matplotlib.pyplot as plt
from attnlib.seq2seq import ModelConfig, build_model
torch.manual_seed(0)
model = build_model(ModelConfig(variant="bahdanau"), 64, 64)
src, lengths, tgt = torch.randint(4, 64, (128, 30)), torch.full((128,), 30), torch.randint(4, 64, (128, 12))
logits, weights = model(src, lengths, tgt)
logits.logsumexp(-1).mean().backward()
print("ok", tuple(logits.shape))
"""


# --- the test -------------------------------------------------------------------------------------
def test_class_workflow_on_jupyterhub(klass):
    k = klass
    assignment, source_dir = pick_assignment()
    nb_name = f"{assignment}.ipynb"
    source_nb = json.loads((source_dir / nb_name).read_text())
    answers = answers_from_source(source_nb)
    assert answers, f"{source_dir / nb_name} has no answer cells"
    first = next(iter(answers))

    t_start = time.perf_counter()
    k.make_users()
    course = k.make_course(assignment, source_dir)
    k.start_hub()
    k.measured["hub_start_s"] = time.perf_counter() - t_start
    everyone = [k.instructor, *k.students]

    # Everyone logs in with their own password (the login form); test_hub_security.py checks the refusals.
    for name in everyone:
        assert k.login(name, k.passwords[name]) == 302, f"{name} could not log in with their password"

    # Start every server at once (as a class does at 9:00) and time it.
    t0 = time.perf_counter()
    for name in everyone:
        r = k.api("POST", f"/users/{name}/server")
        assert r.status_code in (201, 202), f"spawn {name}: {r.status_code} {r.text}"

    def all_ready():
        models = [k.api("GET", f"/users/{n}").json() for n in everyone]
        return all(m.get("servers", {}).get("", {}).get("ready") for m in models) and models
    models = wait_for("every server to be ready", all_ready, 240, 0.5)
    k.measured["servers"] = len(everyone)
    k.measured["spawn_all_s"] = time.perf_counter() - t0
    for name in everyone:
        r = k.api("POST", f"/users/{name}/tokens", json={"note": "attn-test", "expires_in": 3600})
        assert r.status_code in (200, 201), r.text
        k.tokens[name] = r.json()["token"]
    k.hub_procs = identities(proc_children(k.hub.pid))

    # Each server runs as its own Linux user: the pid the hub spawned, and the socket it serves on.
    listening = listening_sockets()
    for model in models:
        name, uid = model["name"], pwd.getpwnam(model["name"]).pw_uid
        pid = k.server_pids[name] = model["servers"][""]["state"]["pid"]
        assert os.stat(f"/proc/{pid}").st_uid == uid, f"{name}'s server (pid {pid}) is not run by {name}"
        inodes = socket_inodes(proc_children(pid))
        owners = {s["uid"] for s in listening if s["inode"] in inodes}
        assert owners == {uid}, f"{name}'s server listens as uids {owners}"

    # Roles: students have no formgrader (server extension off, lab plugin disabled); the instructor has.
    student_lab = k.user(k.students[0], "GET", "lab")
    assert student_lab.status_code == 200, student_lab.status_code
    assert "@jupyter/nbgrader:formgrader" in _page_config(student_lab.text).get("disabledExtensions", {})
    assert k.user(k.students[0], "GET", "formgrader/api/status").status_code == 404
    assert "@jupyter/nbgrader:formgrader" not in _page_config(k.user(k.instructor, "GET", "lab").text).get(
        "disabledExtensions", {})
    k.ok(k.instructor, "GET", "formgrader/api/status")

    # Instructor: generate the student version and release it (formgrader's Manage Assignments buttons).
    k.ok(k.instructor, "POST", f"formgrader/api/assignment/{assignment}/assign")
    k.ok(k.instructor, "POST", f"formgrader/api/assignment/{assignment}/release")

    # Students: list, fetch, edit (the first correct; the others right on the first exercise only), submit.
    for i, student in enumerate(k.students):
        listed = k.ok(student, "GET", "assignments", params={"course_id": COURSE})
        assert any(a["assignment_id"] == assignment and a["status"] == "released" for a in listed["value"]), listed
        k.ok(student, "POST", "assignments/fetch", data={"course_id": COURSE, "assignment_id": assignment})
        model = k.ok(student, "GET", f"api/contents/{assignment}/{nb_name}", params={"content": 1})
        nb = model["content"]
        for cell in nb["cells"]:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in answers:
                assert "NotImplementedError" in cell["source"], f"released {gid} still holds the solution"
                right = i == 0 or gid == first
                cell["source"] = answers[gid] if right else break_answer(answers[gid])
        k.ok(student, "PUT", f"api/contents/{assignment}/{nb_name}",
             json={"type": "notebook", "format": "json", "content": nb})
        owner = os.stat(Path(pwd.getpwnam(student).pw_dir) / assignment / nb_name).st_uid
        assert owner == pwd.getpwnam(student).pw_uid, f"{student}'s notebook was written by uid {owner}"
        k.ok(student, "POST", "assignments/submit", data={"course_id": COURSE, "assignment_id": assignment})

    k.measured["release_fetch_submit_s"] = time.perf_counter() - t0 - k.measured["spawn_all_s"]

    # Memory of each running server (no kernel open: what an idle logged-in student costs).
    per_server = [memory_kib(proc_children(k.server_pids[n])) for n in k.students]
    k.measured["server_pss_mib"] = sum(per_server) / len(per_server) / 1024
    # ... and a student at work: a kernel with torch, matplotlib and a seq2seq model's forward/backward.
    a = k.students[0]
    kernel = k.ok(a, "POST", "api/kernels", json={"name": "python3"})["id"]
    printed = k.execute(a, kernel, KERNEL_WORK)
    assert "ok (128, 12, 64)" in printed, printed
    k.measured["server_with_kernel_pss_mib"] = memory_kib(proc_children(k.server_pids[a])) / 1024
    k.user(a, "DELETE", f"api/kernels/{kernel}")

    # Instructor: collect, then grade with the safe pipeline: `course-grade` in a JupyterLab terminal
    # calls the hub's grader service with the server's own token.
    k.ok(k.instructor, "POST", f"formgrader/api/assignment/{assignment}/collect")
    for student in k.students:
        assert (course / "submitted" / student / assignment / nb_name).is_file(), f"{student}'s work not collected"
    t0 = time.perf_counter()
    rc, graded_log = k.terminal(k.instructor, f"course-grade {assignment}", timeout=900)
    k.measured["grading_s"] = time.perf_counter() - t0
    k.measured["grading_s_per_student"] = k.measured["grading_s"] / len(k.students)
    assert rc == 0, f"course-grade exited {rc}:\n{graded_log[-4000:]}"
    # Students may not use the grader.
    r = requests.post(f"{k.base}/services/grader/api/grade/{assignment}", timeout=30,
                      headers={"Authorization": f"token {k.tokens[k.students[0]]}"})
    assert r.status_code == 403, f"a student reached the grader: {r.status_code}"

    # Scores, as the formgrader shows them.
    subs = {s["student"]: s for s in k.ok(k.instructor, "GET", f"formgrader/api/submissions/{assignment}")}
    max_score = subs[k.students[0]]["max_score"]
    assert max_score > 0, f"formgrader: {subs}; course-grade:\n{graded_log[-3000:]}"
    # written answers (check-yourself questions) count in max_score and are graded by hand: blank here, so 0
    written = sum(float(c["metadata"]["nbgrader"]["points"]) for c in source_nb["cells"]
                  if c["cell_type"] == "markdown" and c.get("metadata", {}).get("nbgrader", {}).get("grade"))
    assert subs[k.students[0]]["score"] == pytest.approx(max_score - written), \
        f"{k.students[0]} (all right): {subs[k.students[0]]}; course-grade:\n{graded_log[-3000:]}"
    tests_of_first = _points_of(source_nb, f"{first}_tests")
    for student in k.students[1:]:
        assert subs[student]["score"] == pytest.approx(tests_of_first), \
            f"{student} (only {first} right) scored {subs[student]['score']}, expected {tests_of_first}/{max_score}; " \
            f"course-grade:\n{graded_log[-3000:]}"

    # Release feedback; each student fetches their own.
    k.ok(k.instructor, "POST", f"formgrader/api/assignment/{assignment}/release_feedback")
    pages = {}
    for student in k.students:
        k.ok(student, "POST", "assignments/fetch_feedback", data={"course_id": COURSE, "assignment_id": assignment})
        listing = k.ok(student, "GET", f"api/contents/{assignment}/feedback")["content"]
        assert len(listing) == 1, f"{student}: feedback folder {listing}"
        html = k.ok(student, "GET", f"api/contents/{listing[0]['path']}/{assignment}.html", params={"content": 1})
        pages[student] = html["content"]
        assert "<html" in pages[student].lower() and len(pages[student]) > 1000
    assert pages[k.students[0]] != pages[k.students[1]]

    # One student's token cannot reach another's server, nor the instructor's formgrader.
    a, b = k.students[0], k.students[1]
    r = k.user(b, "GET", "api/contents", token=k.tokens[a])
    assert r.status_code == 403, f"{a}'s token on {b}'s server: {r.status_code}"
    r = k.user(k.instructor, "GET", f"formgrader/api/submissions/{assignment}", token=k.tokens[a])
    assert r.status_code == 403, f"{a}'s token on the instructor's server: {r.status_code}"

    # From a student's terminal: their own work is readable; solutions, gradebook, others' homes and
    # others' submissions in the exchange are not.
    inst_home = pwd.getpwnam(k.instructor).pw_dir
    rc, out = k.terminal(a, f"head -c 20 ~/{assignment}/{nb_name}")
    assert rc == 0 and "cells" in out, out
    for path in (f"{inst_home}/{COURSE}/solutions/{assignment}/{nb_name}", f"{inst_home}/{COURSE}/gradebook.db",
                 pwd.getpwnam(b).pw_dir, f"{k.tmp}/exchange/{COURSE}/inbound"):
        rc, out = k.terminal(a, f"ls -l {path} && head -c 100 {path}")
        assert rc != 0 and "Permission denied" in out, f"{a} could read {path}: {out[-500:]}"

    # Nothing of this class listens beyond loopback (hub, proxy, service, servers, kernels).
    ours = socket_inodes(proc_children(k.hub.pid))
    uids = {pwd.getpwnam(n).pw_uid for n in everyone}
    mine = [s for s in listening_sockets() if s["inode"] in ours or s["uid"] in uids]
    assert any(s["port"] == k.ports["proxy"] for s in mine), "the proxy's socket was not found"
    assert len(mine) >= len(everyone) + 3, mine
    exposed = [s for s in mine if not is_loopback(s["address"])]
    assert not exposed, f"listening beyond loopback: {exposed}"

    k.measured["workflow_s"] = time.perf_counter() - t_start
    print("\nclass measurements: " + json.dumps({key: round(v, 2) for key, v in k.measured.items()}))


def _points_of(nb: dict, grade_id: str) -> float:
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") == grade_id:
            return float(meta["points"])
    raise AssertionError(f"no graded cell {grade_id}")


def _page_config(html: str) -> dict:
    """JupyterLab's page config, embedded in /lab as <script id="jupyter-config-data">."""
    m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)
    assert m, "no jupyter-config-data in the lab page"
    config = json.loads(m.group(1))
    disabled = config.get("disabledExtensions", {})
    if isinstance(disabled, list):  # some versions send a list of names
        config["disabledExtensions"] = dict.fromkeys(disabled, True)
    return config
