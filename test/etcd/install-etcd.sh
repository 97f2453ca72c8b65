#!/usr/bin/env bash
# Install etcd (server + etcdctl) from Debian's archive for the etcd integration tests.
#
# Idempotent: safe to run repeatedly (CI runs it on every job). Debian 12 ships 3.4.23.
# Tests start their OWN etcd processes on free loopback ports with temp data dirs
# (see testkit/etcd/cluster.ts); the distribution's systemd service (etcd.service, which
# listens on 127.0.0.1:2379/2380) is stopped, disabled and masked so it never answers in
# place of a test cluster and never holds ports.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

need_install=0
for bin in etcd etcdctl; do
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/bin/$bin" ]; then
    need_install=1
  fi
done

if [ "$need_install" -eq 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d returning 101 stops the maintainer scripts from starting the service
  # during installation (matters on hosts that run systemd/sysvinit).
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
  fi
  cleanup() { if [ "$created_policy" -eq 1 ]; then $SUDO rm -f "$policy"; fi; }
  trap cleanup EXIT
  # A new machine may have no (or stale) package lists: update and retry once on failure.
  install() { $SUDO apt-get install -y -qq --no-install-recommends etcd-server etcd-client >/dev/null; }
  if ! apt-cache show etcd-server >/dev/null 2>&1; then
    $SUDO apt-get update -qq
  fi
  if ! install; then
    $SUDO apt-get update -qq
    install
  fi
fi

# Make sure the packaged service is not running and will not start (tests use their own).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl stop etcd.service >/dev/null 2>&1 || true
  $SUDO systemctl disable etcd.service >/dev/null 2>&1 || true
  $SUDO systemctl mask etcd.service >/dev/null 2>&1 || true
else
  # No systemd as PID 1 (containers): the package could not have started it, but stop a
  # sysvinit-started one if present.
  if [ -x /etc/init.d/etcd ]; then
    $SUDO /etc/init.d/etcd stop >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null 2>&1 && [ -e /etc/init.d/etcd ]; then
    $SUDO update-rc.d etcd disable >/dev/null 2>&1 || true
  fi
fi

etcd --version
ETCDCTL_API=3 etcdctl version
