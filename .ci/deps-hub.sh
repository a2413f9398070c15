#!/usr/bin/env bash
# What the `hub` tests (a real JupyterHub on 127.0.0.1, tests/verify) need on a fresh machine:
# Node.js + configurable-http-proxy (the hub's proxy, from npm), and the single-user side of
# a session in .venv: jupyter-server (jupyterhub-singleuser) and ipykernel (the kernel that
# hub.execute talks to). Idempotent; run as root after apt-get update.
set -euo pipefail
cd "$(dirname "$0")/.."

CHP_VERSION=4.6.3          # the proxy Zero-to-JupyterHub 3.1 ships; runs on Node >= 10
JUPYTER_SERVER=2.21.1
IPYKERNEL=7.4.0

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi

if [ "$(configurable-http-proxy --version 2>/dev/null || true)" != "$CHP_VERSION" ]; then
  npm install -g --no-fund --no-audit "configurable-http-proxy@${CHP_VERSION}"
fi

# The project venv: `make test` creates it the same way if this script did not.
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
  fi
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q "jupyter-server==${JUPYTER_SERVER}" "ipykernel==${IPYKERNEL}"
