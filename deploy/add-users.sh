#!/usr/bin/env bash
# Make one Linux user per roster line (run as root), with a private home (0700): useradd's default
# here is 0755, which would let every student read the instructor's solutions/ and gradebook.db
# and each other's work. Users that exist already get their home's mode fixed. Idempotent.
#
#   sudo deploy/add-users.sh /srv/jupyterhub/roster.txt
set -euo pipefail
roster="${1:?usage: add-users.sh ROSTER (lines: username instructor|student)}"
[ -r "$roster" ] || { echo "add-users: cannot read $roster" >&2; exit 1; }
n=0
while read -r name role _; do
  case "$name" in ''|\#*) continue;; esac
  case "$role" in instructor|student) ;; *) echo "add-users: $name: role must be instructor or student, got '$role'" >&2; exit 1;; esac
  [[ "$name" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || { echo "add-users: '$name' is not a valid Linux username" >&2; exit 1; }
  if ! id -u "$name" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash -K HOME_MODE=0700 "$name"
  fi
  chmod 0700 "$(getent passwd "$name" | cut -d: -f6)"
  n=$((n + 1))
done < "$roster"
echo "add-users: $n users ready"
