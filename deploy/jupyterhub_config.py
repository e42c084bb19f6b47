# JupyterHub for one class on one server: one real Linux user per student with their own password, the
# class environment built by deploy/setup.sh as every single-user server, limits per student, and
# nbgrader's folder exchange between them.
#
#   sudo deploy/setup.sh
#   sudo deploy/add-users.sh roster.txt          # Linux users, homes 0700, a password each (credentials.txt)
#   sudo /opt/attention-course/venv/bin/jupyterhub -f deploy/jupyterhub_config.py
#
# Settings a deployment changes are environment variables (defaults in brackets):
#   ATTN_CLASS_PREFIX   where setup.sh put the venv and the Jupyter config [/opt/attention-course]
#   ATTN_HUB_STATE      the hub's database and cookie secret [/srv/jupyterhub]
#   ATTN_ROSTER         "username role" per line, role = instructor | student [$ATTN_HUB_STATE/roster.txt]
#   ATTN_HUB_AUTH       who may log in [pam]: pam = each user's own Linux password (add-users.sh sets them);
#                       shared = one class password for everybody (a workshop only: anyone can log in as
#                       anyone). An institution's login: see docs/teaching.md ("Logging in").
#   ATTN_HUB_PASSWORD   with ATTN_HUB_AUTH=shared only: the class password, 8+ characters
#                       [read from $ATTN_HUB_STATE/password]
#   ATTN_LIMITS         how the limits per student hold [auto]: auto = systemd units where systemd runs,
#                       else a cgroup per student, else rlimits; or systemd | cgroup | rlimit | off
#   ATTN_STUDENT_MEMORY memory of one server and all it starts, no swap [2G]
#   ATTN_STUDENT_CPUS   CPU time of one server and all it starts, in cores [1]
#   ATTN_STUDENT_TASKS  processes and threads of one server and all it starts [512]
#   ATTN_HUB_BIND_URL   where the proxy listens [http://127.0.0.1:8000]: put a TLS reverse proxy
#                       (Caddy, nginx) in front, or set https://... with c.JupyterHub.ssl_key/ssl_cert
#   ATTN_EXCHANGE_ROOT  nbgrader's exchange (mode 1777) [/srv/nbgrader/exchange]
#   ATTN_GRADER_PORT    loopback port of the grader service [8002]
# See docs/teaching.md for the whole procedure, the security model and the sizing of the limits.
import os
import pathlib
import sys

c = get_config()  # noqa: F821 (provided by traitlets)

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # class_spawner
from class_spawner import spawner_class  # noqa: E402
PREFIX = pathlib.Path(os.environ.get("ATTN_CLASS_PREFIX", "/opt/attention-course"))
VENV = PREFIX / "venv"
JUPYTER_ETC = PREFIX / "etc" / "jupyter"
STATE = pathlib.Path(os.environ.get("ATTN_HUB_STATE", "/srv/jupyterhub"))
ROSTER = pathlib.Path(os.environ.get("ATTN_ROSTER", str(STATE / "roster.txt")))
EXCHANGE = os.environ.get("ATTN_EXCHANGE_ROOT", "/srv/nbgrader/exchange")


def read_roster(path):
    """{username: role} from lines 'username role' ('#' comments; role instructor or student)."""
    roles = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("instructor", "student"):
            raise ValueError(f"{path}:{number}: expected 'username instructor|student', got {line!r}")
        roles[parts[0]] = parts[1]
    if not roles:
        raise ValueError(f"{path}: the roster names nobody")
    return roles


if not ROSTER.is_file():
    raise FileNotFoundError(f"roster {ROSTER} not found (set ATTN_ROSTER; see deploy/roster.example.txt)")
ROLES = read_roster(ROSTER)
INSTRUCTORS = {name for name, role in ROLES.items() if role == "instructor"}

# --- the hub ------------------------------------------------------------------------------------
c.JupyterHub.bind_url = os.environ.get("ATTN_HUB_BIND_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8001"
# Start servers in parallel: the spawn request returns at once and the hub follows up
# (a whole class logging in at 9:00 otherwise queues behind the slow first spawns).
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}

# --- who may log in -------------------------------------------------------------------------------
# Each user with their own Linux password, checked by PAM (JupyterHub's default authenticator; the
# hub runs as root, so pam_unix reads /etc/shadow). add-users.sh sets a random one per user.
AUTH = os.environ.get("ATTN_HUB_AUTH", "pam")
if AUTH == "pam":
    c.JupyterHub.authenticator_class = "pam"
elif AUTH == "shared":  # a workshop: one password for the class, so anyone can log in as anyone
    password = os.environ.get("ATTN_HUB_PASSWORD")
    if password is None and (STATE / "password").is_file():
        password = (STATE / "password").read_text().strip()
    if not password or len(password) < 8:
        raise ValueError("ATTN_HUB_AUTH=shared: set ATTN_HUB_PASSWORD (8+ characters) or write it to "
                         "$ATTN_HUB_STATE/password")
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = password
else:
    raise ValueError(f"ATTN_HUB_AUTH={AUTH!r}: expected pam or shared (an institution's login: docs/teaching.md)")
c.Authenticator.allowed_users = set(ROLES)

# --- one Linux user per student -------------------------------------------------------------------
# nbgrader's submit and fetch_feedback take the student id from the Linux user running the server,
# so every student must be a distinct Linux user (deploy/add-users.sh makes them, homes 0700).
# Limits per student (deploy/class_spawner.py): memory without swap, processes and CPU for the server
# and everything it starts, so one hog meets its own limit and not the neighbours' kernels.
LIMITS = os.environ.get("ATTN_LIMITS", "auto")
c.JupyterHub.spawner_class = spawner_class(LIMITS)
c.Spawner.mem_limit = os.environ.get("ATTN_STUDENT_MEMORY", "2G")
c.Spawner.cpu_limit = float(os.environ.get("ATTN_STUDENT_CPUS", "1"))
TASKS = int(os.environ.get("ATTN_STUDENT_TASKS", "512"))
c.ClassSpawner.tasks_limit = TASKS
c.ClassSpawner.limits = LIMITS if LIMITS in ("cgroup", "rlimit", "off") else "auto"
c.SystemdSpawner.unit_extra_properties = {"TasksMax": str(TASKS)}
c.Spawner.cmd = [str(VENV / "bin" / "jupyterhub-singleuser")]
c.Spawner.ip = "127.0.0.1"
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90


def jupyter_config_path(spawner):
    """Class config for everyone, plus the role's: instructors get the formgrader and the course dir."""
    role = "instructor" if spawner.user.name in INSTRUCTORS else "student"
    return os.pathsep.join([str(JUPYTER_ETC / role), str(JUPYTER_ETC / "common")])


# LocalProcessSpawner passes on only a few variables: set what the servers need here.
c.Spawner.environment = {
    "PATH": f"{VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",  # nbgrader shells out to alembic
    "JUPYTER_CONFIG_PATH": jupyter_config_path,
    "ATTN_EXCHANGE_ROOT": EXCHANGE,
    # One thread per kernel: torch's default (one per core) piles up when a class trains at once.
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "ATTNLIB_NUM_THREADS": "1",
}

# --- grading: the course's safe pipeline, as a hub service -------------------------------------------
# nbgrader's autograde would run student code as the instructor. The "grader" service (run by the hub
# as root) grades collected submissions with `python -m grading` (each submission as a spare uid in
# bubblewrap) and writes scores and feedback back into the instructor's course folder.
GRADER_PORT = int(os.environ.get("ATTN_GRADER_PORT", "8002"))
GRADER_URL = f"http://127.0.0.1:{GRADER_PORT}"
c.JupyterHub.services = [{
    "name": "grader",
    "url": GRADER_URL,
    "command": [str(VENV / "bin" / "python"), str(HERE / "grading_service.py")],
    "cwd": str(HERE.parent),
    "environment": {"ATTN_CLASS_PREFIX": str(PREFIX), "PATH": f"{VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"},
    "display": False,
}]
# Optional: ATTN_GRADER_UID_BASE (first spare uid of the sandboxes, default 61000), ATTN_GRADE_TIMEOUT (s).
for key in ("ATTN_GRADER_UID_BASE", "ATTN_GRADE_TIMEOUT"):
    if key in os.environ:
        c.JupyterHub.services[0]["environment"][key] = os.environ[key]
c.JupyterHub.load_roles = [{
    "name": "instructor",
    "description": "Grades the class through the grader service",
    "scopes": ["access:services!service=grader", "self"],
    "users": sorted(INSTRUCTORS),
}]


def server_token_scopes(spawner):
    """$JUPYTERHUB_API_TOKEN of an instructor's server may also call the grader (course-grade)."""
    scopes = ["users:activity!user", "access:servers!server"]
    if spawner.user.name in INSTRUCTORS:
        scopes.append("access:services!service=grader")
    return scopes


c.Spawner.server_token_scopes = server_token_scopes
c.Spawner.environment["ATTN_GRADER_URL"] = f"{GRADER_URL}/services/grader/"
