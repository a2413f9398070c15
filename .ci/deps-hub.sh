#!/usr/bin/env bash
# What the `hub` tests (a real JupyterHub on 127.0.0.1, tests/verify) need on a fresh machine:
# Node.js + configurable-http-proxy (the hub's proxy, from npm). The single-user side of a
# session (jupyter-server, ipykernel) comes with the project's [test] extras.
# Idempotent; run as root after apt-get update.
set -euo pipefail
cd "$(dirname "$0")/.."

CHP_VERSION=5.1.0          # the proxy the swan chart 2.3.73 runs (jupyterhub.proxy.chp.image.tag); Node >= 18

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi

if [ "$(configurable-http-proxy --version 2>/dev/null || true)" != "$CHP_VERSION" ]; then
  npm install -g --no-fund --no-audit "configurable-http-proxy@${CHP_VERSION}"
fi
