"""Start JupyterLab in a throwaway home and drive it with Playwright (Debian's Chromium).

Used by tests/test_browser.py. Everything waits on conditions (an HTTP status,
a DOM state), never on fixed sleeps; every process started here is stopped by
its own process group id.

    with isolated_env(tmp) as env:                      # fresh HOME, Jupyter dirs, lab settings
        server = LabServer.start([python, "-m", "jupyter", "lab", ...], env, cwd)
        with browser() as b:
            page = b.open(server.url("lab/tree/x.ipynb"))
            run_all(page); ...
        server.stop()
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STDERR_MIME = "application/vnd.jupyter.stderr"
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"  # the notebook on show (others may sit in hidden tabs)

# JupyterLab user settings (JUPYTERLAB_SETTINGS_DIR): every cell stays in the DOM (no
# windowing), nothing is autosaved, nothing is fetched from the network.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_config(port: int, token: str) -> str:
    """jupyter_lab_config.py for the test server: loopback, a known token, no popups, no network."""
    return "\n".join([
        "c = get_config()  # noqa",
        "c.ServerApp.ip = '127.0.0.1'",
        f"c.ServerApp.port = {port}",
        "c.ServerApp.port_retries = 0",
        "c.ServerApp.open_browser = False",
        f"c.IdentityProvider.token = {token!r}",
        "c.LabApp.news_url = None",
        f"c.ServerApp.allow_root = {os.geteuid() == 0}  # CI containers run as root",
        "c.LabApp.check_for_updates_class = 'jupyterlab.NeverCheckForUpdate'",
        "",
    ])


def isolated_env(tmp: Path, port: int, token: str, extra: dict | None = None) -> dict:
    """Environment with a fresh HOME and Jupyter/IPython/matplotlib dirs under ``tmp``; the venv first on PATH."""
    dirs = {name: tmp / name for name in ("home", "config", "data", "runtime", "settings", "workspaces", "ipython", "mpl")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    (dirs["config"] / "jupyter_lab_config.py").write_text(server_config(port, token))
    for rel, value in LAB_SETTINGS.items():
        f = dirs["settings"] / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON", "MPL"))}
    env.update({
        "HOME": str(dirs["home"]), "JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]), "IPYTHONDIR": str(dirs["ipython"]),
        "MPLCONFIGDIR": str(dirs["mpl"]), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


class LabServer:
    """A Jupyter server process (group) and how to reach it."""

    def __init__(self, proc: subprocess.Popen, port: int, token: str, log: Path, runtime: Path):
        self.proc, self.port, self.token, self.log, self.runtime = proc, port, token, log, runtime

    @classmethod
    def start(cls, argv: list[str], env: dict, cwd: Path, port: int, token: str, log: Path, timeout: float = 120.0):
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "wb")
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        server = cls(proc, port, token, log, Path(env["JUPYTER_RUNTIME_DIR"]))
        try:
            server.wait_ready(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str, timeout: float = 5.0):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/{path.lstrip('/')}",
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read().decode())

    def shutdown_kernels(self):
        for k in self.api("api/kernels"):
            req = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/kernels/{k['id']}", method="DELETE",
                                         headers={"Authorization": f"token {self.token}"})
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(req, timeout=30).close()

    def wait_ready(self, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.proc.returncode} before it was ready:\n{self.tail()}")
            try:
                self.api("api/status", timeout=2.0)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"JupyterLab did not answer on port {self.port} within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.2)  # poll interval, not a wait standing in for a condition

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def server_files(self) -> list[Path]:
        return sorted(self.runtime.glob("jpserver-*.json"))

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM to the whole process group (the server shuts its kernels down); SIGKILL if it hangs.

        Returns True when it stopped on SIGTERM within ``timeout``.
        """
        if self.proc.poll() is not None:
            return True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
            clean = True
        except subprocess.TimeoutExpired:
            clean = False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # any leftover of the group (kernels, make's child)
        if not clean:
            self.proc.wait(10)
        return clean


# --------------------------------------------------------------------------- browser


@contextlib.contextmanager
def browser(viewport=(1400, 1000)):
    """A headless Chromium page factory: ``b.new_page()``; closes everything on exit."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it in CI)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            ctx = b.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            ctx.set_default_timeout(60_000)
            yield ctx
        finally:
            b.close()


def screenshot(page, name: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / (re.sub(r"[^\w.-]+", "_", name).strip("_") + ".png")))


def open_notebook(ctx, server: LabServer, relpath: str, timeout: float = 120.0):
    """Open a notebook in JupyterLab; wait until its cells are shown and its kernel is connected and idle."""
    page = ctx.new_page()
    page.goto(server.url(f"lab/tree/{relpath}?reset"))  # reset: a fresh workspace, no tabs of earlier tests
    page.locator(f"{NOTEBOOK} .jp-Cell").first.wait_for(state="visible", timeout=timeout * 1000)
    # the status bar says "Python 3 (ipykernel) | Idle" once the kernel is connected, not merely starting
    page.locator(".jp-StatusBar-Item", has_text=re.compile(r"\|\s*Idle\s*$")).first.wait_for(
        state="visible", timeout=timeout * 1000)
    return page


def run_menu(page, item: str, attempts: int = 3):
    """Click Run > ``item`` in the menu bar (e.g. 'Run All Cells') and check that a cell started.

    A click that lands while JupyterLab is still wiring the kernel to the notebook
    can be dropped silently; it is repeated (at most ``attempts`` times) until some
    code cell's prompt changes.
    """
    before = [c["prompt"] for c in cells(page)]
    for _ in range(attempts):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()
        try:
            page.wait_for_function(
                "([js, before]) => eval(js)().some((c, i) => c.code && c.prompt !== before[i])",
                arg=[_CELLS_JS, before], timeout=15_000, polling=100)
            return
        except Exception as e:  # playwright TimeoutError: nothing started
            last = e
    raise AssertionError(f"Run > {item} started no cell after {attempts} clicks") from last


# JS: the state of the open notebook's cells, for waits and assertions.
_CELLS_JS = """
() => {
  const cells = [...document.querySelectorAll('%s .jp-Cell')];
  return cells.map(c => ({
    code: c.classList.contains('jp-CodeCell'),
    prompt: (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
    errors: [...c.querySelectorAll('.jp-OutputArea-output')]
      .filter(o => o.getAttribute('data-mime-type') === '%s' || /Error displaying widget/.test(o.textContent))
      .map(o => o.textContent)
      .filter(t => /Traceback|Error|Exception/.test(t)),
  }));
}
""" % (NOTEBOOK, STDERR_MIME)


def cells(page) -> list[dict]:
    return page.evaluate(_CELLS_JS)


def errors(page) -> list[str]:
    """Texts of error outputs (tracebacks, stderr with an Error) anywhere in the open notebook."""
    return [f"cell {i}: {e[:1500]}" for i, c in enumerate(cells(page)) for e in c["errors"]]


def wait_executed(page, upto: int | None = None, timeout: float = 180.0):
    """Wait until every code cell before index ``upto`` (all if None) shows an execution count, or an error shows."""
    page.wait_for_function(
        """([js, upto]) => {
            const cells = eval(js)();
            const part = upto === null ? cells : cells.slice(0, upto);
            if (cells.some(c => c.errors.length)) return true;
            return part.filter(c => c.code).every(c => /^\\[\\d+\\]:$/.test(c.prompt.trim()));
        }""",
        arg=[_CELLS_JS, upto], timeout=timeout * 1000, polling=200)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
        state="attached", timeout=timeout * 1000)
