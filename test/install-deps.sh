#!/usr/bin/env bash
# Everything the test suite needs beyond `npm ci`, on Debian 12, as root (or with sudo):
# etcd for the etcd-source tests, the real Ganeti 3.0 confd and Python client (unpacked into
# .cache/ganeti, not installed) for the interop tests, systemd's tools for the unit-file and
# readiness checks, Prometheus' Python parser for the metrics test, and libfaketime for the
# replay memory's clock-step tests. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

# systemd: systemd-analyze verify/security and systemd-notify for the unit and readiness
# tests; python3-prometheus-client: the reference parser the metrics test checks its text with;
# faketime (libfaketime): steps a test daemon's wall clock for the replay-memory clock tests.
if ! command -v systemd-analyze >/dev/null 2>&1 || ! /usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 || ! command -v faketime >/dev/null 2>&1; then
  apt-cache show systemd python3-prometheus-client faketime >/dev/null 2>&1 || $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends systemd python3 python3-prometheus-client faketime >/dev/null
fi
bash "$here/etcd/install-etcd.sh"
bash "$here/ganeti/fetch-ganeti.sh"
