#!/usr/bin/env bash
# Everything the test suite needs beyond `npm ci`, on Debian 12, as root (or with sudo):
# etcd for the etcd-source tests, the real Ganeti 3.0 confd and Python client (unpacked into
# .cache/ganeti, not installed) for the interop tests, and systemd's analysis tools for the
# unit-file checks. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

if ! command -v systemd-analyze >/dev/null 2>&1; then
  apt-cache show systemd >/dev/null 2>&1 || $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
bash "$here/etcd/install-etcd.sh"
bash "$here/ganeti/fetch-ganeti.sh"
