"""Runs ONE rebuilt notebook inside the sandbox; started by grading.sandbox, never imported by it.

This file is copied into the job folder and executed by the sandbox's Python
as root-in-the-sandbox (bubblewrap keeps only CAP_KILL, CAP_SETUID,
CAP_SETGID, CAP_SETPCAP, CAP_CHOWN). It reads /job/job.json and /job/inputs/
(mode 0700, unreadable by the student's uid), starts an IPython kernel as the
unprivileged uid with rlimits, executes the cells one at a time with a per-cell
timeout and an output-size limit applied while the cell runs, and right after
each answer cell asks the kernel to call the exercise's function on the
grader's secret inputs. The only channel back to the grader is this process's
stdout: one JSON document (tensors as base64 of torch.save bytes, which the
grader loads with weights_only=True).

Standard library and jupyter_client only: nothing here trusts the kernel.
"""
import base64
import json
import os
import queue
import signal
import subprocess
import sys
import time

JOB = "/job"
SCRATCH = "/scratch"
HOME = SCRATCH + "/home"
IO = "/io"                        # tmpfs the student cannot write: connection files, grader scripts, inputs
EVAL = IO + "/eval"               # inputs are copied here only while their exercise runs
EVAL_OUT = "/io-out"              # tmpfs owned by the student uid: the kernel writes its outputs here
MAX_EVAL_BYTES = 32 * 2 ** 20

EVAL_SCRIPT = r'''
import json, sys, torch
g = sys.modules.get("_grading_guard")
NAME, IN, OUT = _GRADING_ARGS
fn = _GRADING_FN
meta = {"errors": [], "kinds": []}
guarded = g.refs.get(NAME, []) if g is not None else []
tripped = []
if guarded:
    g.armed = NAME
    g.hits.clear()
    for ref, code in guarded:
        try:
            ref.__code__ = g.trip_code
        except Exception as e:
            meta["errors"].append("tripwire: " + repr(e)[:200])
cases = torch.load(IN, weights_only=True)["cases"]
outs = []
try:
    for kw in cases:
        try:
            got = fn(**kw)
        except BaseException as e:
            meta["errors"].append(f"{type(e).__name__}: {str(e)[:300]}")
            meta["kinds"].append("error")
            outs.append([])
            continue
        vals = list(got) if isinstance(got, (tuple, list)) else [got]
        plain = []
        for v in vals:
            if type(v) is torch.Tensor or type(v) is torch.nn.Parameter:
                plain.append(torch.Tensor.detach(v).to("cpu").clone())
            else:
                plain.append(None)
        meta["kinds"].append(",".join("tensor" if p is not None else type(v).__name__[:40] for p, v in zip(plain, vals)))
        meta["errors"].append("")
        outs.append([p if p is not None else torch.zeros(0) for p in plain])
finally:
    if guarded:
        for ref, code in guarded:
            ref.__code__ = code
        tripped = sorted(g.hits)
        g.armed = None
meta["tripped"] = tripped
# a function in the kernel whose bytecode is a distinctive reference's: attnlib's code, copied (e.g. exec of its source)
copies = g.copies.get(NAME, []) if g is not None else []
if copies:
    import types as _t
    ns = __import__("IPython").get_ipython().user_ns
    originals = [ref for ref, _ in g.refs.get(NAME, [])]
    for value in [fn, *list(ns.values())]:
        code = getattr(value, "__code__", None)
        if isinstance(value, _t.FunctionType) and not any(value is r for r in originals) and code is not None \
                and g.signature(code) in copies:
            meta["copied"] = True
            break
torch.save({"outputs": outs}, OUT + ".pt")
with open(OUT + ".json", "w") as f:
    json.dump(meta, f)
RESULT = "done"
'''

# Before any student code: remember each exercise's reference function and its code object, so that
# the tripwire can be armed on the original object even if the student rebinds module attributes.
GUARD_SCRIPT = r'''
import sys, types, importlib
g = types.ModuleType("_grading_guard")
g.refs, g.hits, g.armed, g.copies = {}, set(), None, {}
def _trip(*args, **kwargs):
    gg = __import__("sys").modules.get("_grading_guard")
    if gg is not None and gg.armed:
        gg.hits.add(gg.armed)
    raise RuntimeError("attnlib's reference for this exercise is not available while grading")
g.trip_code = _trip.__code__
def _signature(code):
    # what a copy of a function's source keeps, whatever compiled it: the names it uses, its local names and
    # its constants (a reference's validation messages among them), the docstring and None left out
    consts = tuple(c.co_name if hasattr(c, "co_name") else c for c in code.co_consts[1:] if c is not None)
    first = code.co_consts[0] if code.co_consts else None
    if first is not None and not isinstance(first, str):
        consts = (first,) + consts
    return (code.co_names, code.co_varnames, consts)
g.signature = _signature
for name, targets in _GRADING_REFS.items():
    g.refs[name] = []
    for mod, qual in targets:
        try:
            obj = importlib.import_module(mod)
            for part in qual.split("."):
                obj = getattr(obj, part)
            code = getattr(obj, "__code__", None)
            if code is not None and not code.co_freevars:
                g.refs[name].append((obj, code))
                if (mod, qual) in [tuple(x) for x in _GRADING_COPIES.get(name, [])]:
                    g.copies.setdefault(name, []).append(g.signature(code))
        except Exception:
            pass
sys.modules["_grading_guard"] = g
RESULT = "ready"
'''


def now():
    return time.monotonic()


class Runner:
    def __init__(self, job):
        self.job = job
        self.uid = job["uid"]
        self.limits = job["limits"]
        self.deadline = now() + self.limits["notebook_timeout"]
        self.kernel = None
        self.client = None
        self.events = []            # what happened, in order (plain strings)
        self.restarts = 0
        self.done_cells = []        # indices of cells that completed, for a replay after a kernel death
        self.bad_cells = set()      # cells that killed, hung or flooded: never replayed

    # ---- kernel lifecycle -------------------------------------------------
    def start_kernel(self):
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.connect import write_connection_file
        os.makedirs(IO + "/conn", exist_ok=True)
        conn = IO + f"/conn/kernel-{self.restarts}.json"
        write_connection_file(conn, ip="127.0.0.1", transport="tcp")
        os.chmod(conn, 0o644)
        lim = self.limits
        cmd = ["prlimit", f"--as={lim['memory_bytes']}", f"--nproc={lim['nproc']}", f"--fsize={lim['file_bytes']}",
               "--core=0", "--",
               "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--no-new-privs",
               "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--",
               sys.executable, "-m", "ipykernel_launcher", "-f", conn, "--HistoryManager.enabled=False"]
        log = open(SCRATCH + f"/kernel-{self.restarts}.log", "wb")
        self.kernel = subprocess.Popen(cmd, cwd=HOME, env=self.job["env"], stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        client = BlockingKernelClient()
        client.load_connection_file(conn)
        client.start_channels(hb=False)   # liveness is the kernel process itself, not a heartbeat under load
        self.client = client
        self.wait_ready(timeout=max(5, min(120, self.deadline - now())))
        status, _ = self.expression(GUARD_SCRIPT, {"_GRADING_REFS": self.job["refs"],
                                                   "_GRADING_COPIES": self.job.get("copies", {})}, timeout=60)
        if status != "ready":
            self.events.append(f"grader guard not installed: {status}")

    def wait_ready(self, timeout):
        end = now() + timeout
        while now() < end:
            if not self.kernel_alive():
                raise RuntimeError(f"kernel exited with {self.kernel.returncode} before it was ready")
            msg_id = self.client.kernel_info()
            t = now() + 2
            while now() < t:
                try:
                    reply = self.client.get_shell_msg(timeout=0.5)
                except queue.Empty:
                    continue
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    while True:   # drain the iopub messages of the start-up
                        try:
                            self.client.get_iopub_msg(timeout=0.2)
                        except queue.Empty:
                            return
        raise RuntimeError(f"kernel not ready after {timeout:.0f} s")

    def kernel_alive(self):
        return self.kernel is not None and self.kernel.poll() is None

    def kill_strays(self, keep_kernel=True):
        """SIGKILL every process of the student's uid except the kernel itself (fork bombs, daemons)."""
        keep = self.kernel.pid if (keep_kernel and self.kernel_alive()) else None
        for _ in range(50):
            found = False
            for entry in os.listdir("/proc"):
                if not entry.isdigit() or int(entry) == keep:
                    continue
                try:
                    with open(f"/proc/{entry}/status") as f:
                        fields = dict(l.split(":", 1) for l in f if ":" in l)
                    uid, state = int(fields["Uid"].split()[1]), fields["State"].split()[0]
                except (OSError, KeyError, ValueError, IndexError):
                    continue
                if uid == self.uid and state != "Z":   # zombies are already dead; init reaps them
                    found = True
                    try:
                        os.kill(int(entry), signal.SIGKILL)
                    except OSError:
                        pass
            if not found:
                return
            time.sleep(0.02)

    def kill_kernel(self):
        if self.kernel is not None:
            try:
                os.killpg(self.kernel.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.kernel.kill()
                self.kernel.wait(5)
            except Exception:
                pass
        self.kill_strays(keep_kernel=False)
        if self.client is not None:
            try:
                self.client.stop_channels()
            except Exception:
                pass
        self.kernel = self.client = None

    def interrupt(self):
        try:
            os.killpg(self.kernel.pid, signal.SIGINT)
        except OSError:
            pass

    # ---- execution ------------------------------------------------------
    def run_code(self, code, timeout, collect=True, user_expressions=None, silent=False):
        """Execute code; return (state, outputs, reply) with state ok|error|timeout|output-limit|dead."""
        client = self.client
        msg_id = client.execute(code, silent=silent, store_history=not silent, allow_stdin=False,
                                user_expressions=user_expressions or {})
        outputs, used, state = [], 0, None
        limit = self.limits["output_bytes"]
        end = now() + max(0.1, min(timeout, self.deadline - now()))
        grace_end = None
        idle = False
        while not idle:
            t = now()
            if not self.kernel_alive():
                state = "dead"
                break
            if grace_end is None and t > end:
                state = state or "timeout"
                self.interrupt()
                grace_end = t + self.limits["interrupt_grace"]
            if grace_end is not None and t > grace_end:
                self.kill_kernel()
                return state or "timeout", outputs, None
            try:
                msg = client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                idle = True
                continue
            if kind not in ("stream", "display_data", "execute_result", "error", "update_display_data"):
                continue
            size = len(json.dumps(content))
            used += size
            if state == "output-limit":
                continue
            if used > limit:
                state = "output-limit"
                outputs.append({"output_type": "stream", "name": "stderr",
                                "text": f"[grader: output stopped after {limit} bytes; the cell was interrupted]\n"})
                self.interrupt()
                grace_end = now() + self.limits["interrupt_grace"]
                continue
            if not collect:
                continue
            if kind == "stream":
                if outputs and outputs[-1]["output_type"] == "stream" and outputs[-1]["name"] == content["name"]:
                    outputs[-1]["text"] += content["text"]
                else:
                    outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
            elif kind == "error":
                outputs.append({"output_type": "error", "ename": str(content.get("ename", ""))[:200],
                                "evalue": str(content.get("evalue", ""))[:2000],
                                "traceback": [str(x)[:5000] for x in content.get("traceback", [])][:100]})
            elif kind in ("display_data", "execute_result", "update_display_data"):
                out = {"output_type": "display_data" if kind != "execute_result" else "execute_result",
                       "data": content.get("data", {}), "metadata": content.get("metadata", {})}
                if kind == "execute_result":
                    out["execution_count"] = content.get("execution_count")
                outputs.append(out)
        if state == "dead":
            return state, outputs, None
        reply = None
        try:
            while True:
                r = client.get_shell_msg(timeout=max(0.5, min(5, self.deadline - now())))
                if r.get("parent_header", {}).get("msg_id") == msg_id:
                    reply = r["content"]
                    break
        except queue.Empty:
            pass
        if state is None:
            state = "ok" if reply is not None and reply.get("status") == "ok" else "error"
        return state, outputs, reply

    def expression(self, script, args, timeout):
        """Run grader code in the kernel through user_expressions: no input or AST transformers apply."""
        os.makedirs(EVAL, exist_ok=True)
        path = EVAL + f"/script-{abs(hash(script))}.py"
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(script)
            os.chmod(path, 0o644)
        expr = (f"__import__('runpy').run_path({path!r}, init_globals={{**{args!r}, "
                f"'_GRADING_FN': __import__('IPython').get_ipython().user_ns.get({args.get('_GRADING_ARGS', [''])[0]!r})}})['RESULT']")
        state, _, reply = self.run_code("", timeout, collect=False, user_expressions={"r": expr}, silent=True)
        if reply is None:
            return state, None
        r = (reply.get("user_expressions") or {}).get("r") or {}
        if r.get("status") != "ok":
            return f"{state}: {r.get('ename', 'no result')}: {str(r.get('evalue', ''))[:300]}", None
        return r.get("data", {}).get("text/plain", "").strip("'\""), None

    def evaluate(self, name):
        src = f"{JOB}/inputs/{name}.pt"
        dst = f"{EVAL}/{name}-in.pt"
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
        os.chmod(dst, 0o644)
        out = f"{EVAL_OUT}/{name}"
        for ext in (".pt", ".json"):
            if os.path.lexists(out + ext):
                os.unlink(out + ext)
        status, _ = self.expression(EVAL_SCRIPT, {"_GRADING_ARGS": [name, dst, out]}, self.limits["eval_timeout"])
        os.unlink(dst)
        result = {"status": status}
        if not self.kernel_alive():
            result["status"] = "kernel died"
            return result
        self.kill_strays()
        payload = read_capped(out + ".pt", MAX_EVAL_BYTES)
        meta = read_capped(out + ".json", 2 ** 20)
        if payload is not None:
            result["payload"] = base64.b64encode(payload).decode()
        if meta is not None:
            result["meta"] = meta.decode("utf-8", "replace")
        return result

    def replay(self):
        """After a kernel death: start a new kernel and rerun the cells that completed, quietly."""
        self.restarts += 1
        self.events.append(f"kernel restarted ({self.restarts})")
        self.start_kernel()
        for i in self.done_cells:
            if not self.kernel_alive() or now() > self.deadline:
                return
            self.run_code(self.job["cells"][i]["source"], self.limits["cell_timeout"], collect=False)

    def run(self):
        result = {"cells": {}, "evals": {}, "events": self.events}
        try:
            try:
                self.start_kernel()
            except Exception as e:
                self.events.append(f"kernel start failed once: {type(e).__name__}: {e}")
                self.kill_kernel()
                self.start_kernel()
        except Exception as e:
            self.events.append(f"kernel did not start: {type(e).__name__}: {e}")
            log = read_capped(SCRATCH + "/kernel-0.log", 1 << 20) or b""
            result["fatal"] = f"kernel did not start ({type(e).__name__}: {e}) {log[-1500:].decode('utf-8', 'replace')}"
            return result
        for i, cell in enumerate(self.job["cells"]):
            if cell.get("cell_type") != "code":
                continue
            if now() > self.deadline:
                result["cells"][i] = {"state": "notebook-timeout", "outputs": []}
                continue
            if not self.kernel_alive():
                if self.restarts >= self.limits["max_restarts"]:
                    result["cells"][i] = {"state": "not run (kernel died)", "outputs": []}
                    continue
                try:
                    self.replay()
                except Exception as e:
                    self.events.append(f"restart failed: {type(e).__name__}: {e}")
                    result["cells"][i] = {"state": "not run (kernel died)", "outputs": []}
                    continue
            state, outputs, reply = self.run_code(cell["source"], self.limits["cell_timeout"])
            if self.kernel_alive():
                self.kill_strays()
            if state == "dead":
                state = "crashed"
            result["cells"][i] = {"state": state, "outputs": outputs,
                                  "execution_count": (reply or {}).get("execution_count")}
            if state in ("ok", "error"):
                self.done_cells.append(i)
            else:
                self.bad_cells.add(i)
                self.events.append(f"cell {i}: {state}")
            for name in cell.get("exercises", []):
                if not self.kernel_alive() or now() > self.deadline:
                    result["evals"][name] = {"status": "not evaluated (kernel dead or out of time)"}
                    continue
                try:
                    result["evals"][name] = self.evaluate(name)
                except Exception as e:   # e.g. the student filled a disk we share: lose this exercise only
                    result["evals"][name] = {"status": f"grader step failed: {type(e).__name__}: {str(e)[:200]}"}
        self.kill_kernel()
        return result


def read_capped(path, cap):
    """A regular file's bytes (no symlinks, at most cap bytes), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        import stat
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > cap:
            return None
        return os.read(fd, cap + 1)[:cap]
    finally:
        os.close(fd)


def main():
    with open(JOB + "/job.json") as f:
        job = json.load(f)
    uid = job["uid"]
    for d, owner, mode in ((HOME, uid, 0o755), (EVAL, 0, 0o755), (EVAL_OUT, uid, 0o755), (IO + "/conn", 0, 0o755)):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, mode)
        os.chown(d, owner, owner)
    os.chmod("/tmp", 0o1777)
    result = Runner(job).run()
    out = sys.stdout.buffer
    out.write(json.dumps(result).encode())
    out.flush()


if __name__ == "__main__":
    main()
