#!/usr/bin/env bash
# Idempotent install of the test authorization servers.
#   - Authlib server: Python venv at tests/servers/.venv from requirements.txt
#   - oidc-provider:  npm ci in tests/servers/oidc-provider (package-lock.json)
#   - Glewlwyd:       Debian package `glewlwyd` (apt-get, only when missing)
# Needs python3 (3.11) with the venv module, node 20 + npm. Network: PyPI, npm
# registry (and Debian's archive when python3-venv is missing and we are root).
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}

# --- Python / Authlib -------------------------------------------------------
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
  rm -rf .venv
  if ! "$PY" -m venv .venv 2>/dev/null; then
    # Debian/Ubuntu ship ensurepip separately (python3-venv / python3.X-venv).
    rm -rf .venv
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      ver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv "python${ver}-venv" >/dev/null 2>&1 \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$PY" -m venv .venv
    else
      echo "install.sh: '$PY -m venv' failed; install python3-venv" >&2
      exit 1
    fi
  fi
fi
# pip skips what is already installed at the pinned version: cheap when re-run.
.venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
.venv/bin/python -c 'import authlib, flask; print("authlib", authlib.__version__, "/ flask", flask.__version__ if hasattr(flask, "__version__") else "")' 2>/dev/null \
  || .venv/bin/python -c 'import authlib; print("authlib", authlib.__version__)'

# --- Node / oidc-provider ---------------------------------------------------
cd oidc-provider
want=$(node -p 'require("./package.json").dependencies["oidc-provider"]')
have=$(node -p 'try { require("./node_modules/oidc-provider/package.json").version } catch { "" }')
if [ "$want" != "$have" ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "oidc-provider $(node -p 'require("./node_modules/oidc-provider/package.json").version')"

# --- Glewlwyd (Debian package, C) --------------------------------------------
# Debian 12 ships glewlwyd 2.7.5. Answer the package's debconf question with
# "No configuration" (its "Personalized" default wants a database server via
# dbconfig-common and fails without one) and pick dbconfig-no-thanks; the test
# launcher (glewlwyd/server.py) writes its own config + SQLite db per run.
# The package enables a glewlwyd.service; where systemd runs we stop/disable it.
cd ..
if ! command -v glewlwyd >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo 'glewlwyd glewlwyd/config_type select No configuration' | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      glewlwyd dbconfig-no-thanks openssl >/dev/null
    if [ -d /run/systemd/system ]; then
      systemctl disable --now glewlwyd.service >/dev/null 2>&1 || true
    fi
  else
    echo "install.sh: glewlwyd missing; as root: apt-get install glewlwyd dbconfig-no-thanks" >&2
    exit 1
  fi
fi
echo "glewlwyd $(glewlwyd --version 2>/dev/null | tail -n1)"
