#!/usr/bin/env bash
# Fetch the real Ganeti 3.0 confd daemon, Python library and testsuite data from the Debian
# archive, for interop/differential tests (see test/ganeti/README.md).
#
# Usage (as root, Debian 12): bash test/ganeti/fetch-ganeti.sh [CACHE_DIR]
#   CACHE_DIR defaults to $QCONF_GANETI_CACHE, else <repo>/.cache/ganeti.
#
# The packages are only unpacked (dpkg -x) into CACHE_DIR/root, never installed: their
# maintainer scripts expect a real cluster. Only the runtime libraries and Python modules they
# depend on are installed with apt. Idempotent: the download/unpack step is skipped when its
# stamp file exists, and the apt step installs only what is missing.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${1:-${QCONF_GANETI_CACHE:-$REPO/.cache/ganeti}}
VERSION=3.0.2-3
PACKAGES=(ganeti-haskell-3.0 ganeti-3.0 ganeti-testsuite)
# ganeti-haskell-3.0's library Depends, and the Python modules ganeti-3.0 imports (its Depends,
# minus the cluster tools such as lvm2, ssh and socat that the tests never run).
RUNTIME_DEPS=(
  libpcre3 libcurl3-gnutls libffi8 libgmp10 zlib1g
  python3 python3-bitarray python3-simplejson python3-pyparsing python3-openssl
  python3-pyinotify python3-pycurl python3-psutil python3-paramiko
)

ROOT=$CACHE/root
CONFD=$ROOT/usr/lib/ganeti/3.0/usr/sbin/ganeti-confd
PYLIB=$ROOT/usr/share/ganeti/3.0
TESTDATA=$ROOT/usr/share/ganeti/testsuite/test/data
STAMP=$CACHE/.unpacked-$VERSION
# Debian's interpreter: the Python modules above are installed for it, and a python3 found
# earlier on PATH (pyenv, venv) would not see them.
PYTHON=/usr/bin/python3

log() { printf 'fetch-ganeti: %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  log "must run as root (apt-get install)"
  exit 1
fi

# Waits for a concurrent apt/dpkg run instead of failing on its lock.
APT=(apt-get -q -o DPkg::Lock::Timeout=600)

ensure_apt_lists() {
  # A fresh machine may have empty package lists; update only when the pinned version is unknown.
  if ! apt-cache show "ganeti-haskell-3.0=$VERSION" >/dev/null 2>&1; then
    log "apt-get update"
    "${APT[@]}" update >&2
  fi
}

if [[ ! -e $STAMP ]]; then
  ensure_apt_lists
  mkdir -p "$CACHE/debs"
  rm -rf "$ROOT"
  log "downloading ${PACKAGES[*]} ($VERSION) into $CACHE/debs"
  # Sandbox user root: the _apt user may not be able to write into the repo's cache dir.
  (cd "$CACHE/debs" && "${APT[@]}" -o APT::Sandbox::User=root download \
    "${PACKAGES[@]/%/=$VERSION}" >&2)
  for pkg in "${PACKAGES[@]}"; do
    deb=$(ls "$CACHE/debs/${pkg}_${VERSION}_"*.deb)
    log "unpacking $(basename "$deb")"
    dpkg -x "$deb" "$ROOT"
  done
  touch "$STAMP"
else
  log "already unpacked ($STAMP)"
fi

missing=()
for dep in "${RUNTIME_DEPS[@]}"; do
  if [[ $(dpkg-query -W -f='${db:Status-Status}' "$dep" 2>/dev/null) != installed ]]; then
    missing+=("$dep")
  fi
done
if ((${#missing[@]})); then
  ensure_apt_lists
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y --no-install-recommends "${missing[@]}" >&2
fi

# Verify rather than trust the lists above: every shared library resolves, the daemon runs,
# and the Python client imports.
if ldd "$CONFD" | grep -q 'not found'; then
  log "ganeti-confd still misses shared libraries:"
  ldd "$CONFD" | grep 'not found' >&2
  exit 1
fi
"$CONFD" --version >/dev/null
PYTHONPATH=$PYLIB "$PYTHON" -c 'import ganeti.confd.client' >&2

cat <<EOF
GANETI_ROOT=$ROOT
GANETI_CONFD=$CONFD
GANETI_PYTHONPATH=$PYLIB
GANETI_PYTHON=$PYTHON
GANETI_TESTDATA=$TESTDATA
EOF
