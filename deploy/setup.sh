#!/usr/bin/env bash
# Build the class environment for a JupyterHub on one server (run as root).
#
#   sudo deploy/setup.sh            # first run ~1 min; later runs ~1 s when nothing changed
#
# Makes, under $ATTN_CLASS_PREFIX (default /opt/attention-course), readable by every user:
#   venv/                  Debian's python3 venv: torch==2.13.0 (CPU), jupyterhub with pamela (each user's
#                          own password) and jupyterhub-systemdspawner (limits where systemd runs),
#                          jupyterlab, nbgrader, ipywidgets, matplotlib and attnlib (installed from this
#                          repo, not editable)
#   etc/jupyter/common     nbgrader config shared by the class (course id, exchange root)
#   etc/jupyter/student    formgrader and "create assignment" switched off
#   etc/jupyter/instructor the course directory (~/attention-course) with solutions/ and notebooks/
# and deploy/node_modules/.bin/configurable-http-proxy (npm ci from deploy/package-lock.json).
#
# Why Debian's python3: a venv points back at the interpreter it was made from; when that interpreter
# lives in root's home (pyenv here), other users cannot execute the venv's python.
set -euo pipefail

DEPLOY="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$DEPLOY")"
PREFIX="${ATTN_CLASS_PREFIX:-/opt/attention-course}"
PY="${ATTN_CLASS_PYTHON:-/usr/bin/python3}"
VENV="$PREFIX/venv"
umask 022

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

# --- 1. Debian's python3 with venv -------------------------------------------------------------
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    die "$PY has no venv/ensurepip: install Debian's python3-venv (apt-get install -y python3-venv)"
  fi
fi
case "$(readlink -f "$PY")" in
  /root/*|/home/*) die "$PY resolves into a home folder; other users could not run it (use /usr/bin/python3)";;
esac

# --- 2. the class venv -------------------------------------------------------------------------
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
req_hash="$(hash_of "$DEPLOY/requirements.txt")"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$req_hash" ]; then
  say "building $VENV from $PY (torch==2.13.0, jupyterhub, jupyterlab, nbgrader, ...)"
  mkdir -p "$PREFIX"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -qq --upgrade pip
  # torch==2.13.0 is a local CPU wheel for cp311 on these machines (Debian 12's python3 is 3.11).
  "$VENV/bin/pip" install -qq -r "$DEPLOY/requirements.txt" \
    || die "pip could not install deploy/requirements.txt (is torch==2.13.0 available for $("$PY" -V)?)"
  echo "$req_hash" > "$VENV/.requirements"
fi

# attnlib from this repo, not editable: the repo may sit in a folder students cannot read.
lib_hash="$(cd "$REPO" && find pyproject.toml attnlib -type f ! -name '*.pyc' ! -path '*/__pycache__/*' \
            -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.attnlib" 2>/dev/null)" != "$lib_hash" ]; then
  say "installing attnlib from $REPO"
  build="$(mktemp -d)"
  trap 'rm -rf "$build"' EXIT
  # Build from a copy so no build/ or egg-info lands in the repo.
  (cd "$REPO" && cp -r pyproject.toml attnlib "$build"/ && { [ -f README.md ] && cp README.md "$build"/ || touch "$build/README.md"; })
  find "$build" -name '__pycache__' -prune -exec rm -rf {} +
  "$VENV/bin/pip" install -qq --no-deps --no-build-isolation --force-reinstall "$build" >"$build.log" 2>&1 \
    || { cat "$build.log" >&2; die "could not install attnlib from $REPO"; }
  rm -f "$build.log"
  echo "$lib_hash" > "$VENV/.attnlib"
fi

# --- 3. Jupyter configuration: shared by the class, per role --------------------------------------
mkdir -p "$PREFIX/etc"
rm -rf "$PREFIX/etc/jupyter.new"
cp -r "$DEPLOY/jupyter" "$PREFIX/etc/jupyter.new"
rm -rf "$PREFIX/etc/jupyter"
mv "$PREFIX/etc/jupyter.new" "$PREFIX/etc/jupyter"
# course-grade: instructors call the grader service from a JupyterLab terminal.
sed "1s|.*|#!$VENV/bin/python|" "$DEPLOY/course-grade" > "$VENV/bin/course-grade"
chmod 0755 "$VENV/bin/course-grade"
chmod -R a+rX "$PREFIX"

# --- 4. configurable-http-proxy (the hub's proxy) --------------------------------------------------
chp="$DEPLOY/node_modules/.bin/configurable-http-proxy"
if [ ! -x "$chp" ] || [ "$DEPLOY/package-lock.json" -nt "$DEPLOY/node_modules/.package-lock.json" ]; then
  if ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing nodejs and npm"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
      die "npm not found: apt-get install -y nodejs npm"
    fi
  fi
  say "installing configurable-http-proxy into deploy/node_modules"
  npm ci --prefix "$DEPLOY" --no-fund --no-audit --loglevel=error >/dev/null
fi

# Students need nothing from this checkout (the venv and the config are copies): keep its solutions/ private.
if [ -d "$REPO/solutions" ] && [ "$(id -u)" = 0 ]; then
  d="$REPO"
  while [ "$d" != / ]; do
    [ "$(( 0$(stat -c %a "$d") & 01 ))" = 0 ] && break   # others cannot pass through this folder
    d="$(dirname "$d")"
  done
  [ "$d" = / ] && say "warning: $REPO is readable by other users, so students could read solutions/: chmod 0700 $REPO"
fi

say "ready: $VENV ($("$VENV/bin/python" -c 'from importlib.metadata import version as v; print(*(f"{p} {v(p)}" for p in ("torch", "jupyterhub", "nbgrader", "attnlib")), sep=", ")'))"
