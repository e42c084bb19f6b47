#!/usr/bin/env bash
# Make one Linux user per roster line (run as root), with a private home (0700): useradd's default
# here is 0755, which would let every student read the instructor's solutions/ and gradebook.db
# and each other's work. Users that exist already get their home's mode fixed. Idempotent.
#
# Every user without a usable password (new, or locked) gets a random one, set with chpasswd: the hub
# logs each user in with their own password (PAM). The new ones are appended as "username password"
# to a credentials file only root can read, for the instructor to hand out one by one; passwords
# that exist are never changed (to give someone a new one: passwd USER).
#
#   sudo deploy/add-users.sh /srv/jupyterhub/roster.txt   # credentials: /srv/jupyterhub/credentials.txt
#   ATTN_CREDENTIALS=/path/file sudo deploy/add-users.sh roster.txt
set -euo pipefail
roster="${1:?usage: add-users.sh ROSTER (lines: username instructor|student)}"
[ -r "$roster" ] || { echo "add-users: cannot read $roster" >&2; exit 1; }
credentials="${ATTN_CREDENTIALS:-$(dirname "$roster")/credentials.txt}"
( umask 077; touch "$credentials" ) && chmod 0600 "$credentials"

new_password() {  # 16 characters from 56 that cannot be confused (no 0/O, 1/l/I): about 93 bits
  local pw
  pw="$(head -c 96 /dev/urandom | base64 -w0 | tr -dc 'A-HJ-NP-Za-km-z2-9' | cut -c1-16)"
  [ "${#pw}" = 16 ] || { echo "add-users: could not make a password" >&2; exit 1; }
  echo "$pw"
}

n=0 fresh=0
while read -r name role _; do
  case "$name" in ''|\#*) continue;; esac
  case "$role" in instructor|student) ;; *) echo "add-users: $name: role must be instructor or student, got '$role'" >&2; exit 1;; esac
  [[ "$name" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || { echo "add-users: '$name' is not a valid Linux username" >&2; exit 1; }
  if ! id -u "$name" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash -K HOME_MODE=0700 "$name"
  fi
  chmod 0700 "$(getent passwd "$name" | cut -d: -f6)"
  # passwd -S: the second field is P (usable password), L (locked: useradd's default) or NP (none).
  if [ "$(passwd -S "$name" | cut -d' ' -f2)" != P ]; then
    pw="$(new_password)"
    echo "$name:$pw" | chpasswd
    echo "$name $pw" >> "$credentials"
    fresh=$((fresh + 1))
  fi
  n=$((n + 1))
done < "$roster"
echo "add-users: $n users ready; $fresh new passwords appended to $credentials (mode 0600)"
