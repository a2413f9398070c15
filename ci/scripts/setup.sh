#!/usr/bin/env bash
# Prepare a CI job to run `swan` and `pulumi` on this checkout: the project in .venv (where
# Pulumi.yaml's `virtualenv: .venv` expects it) and the pinned helm (.ci/deps-helm.sh) that
# `swan render` templates every release with (render-all.sh pulls the charts). Root or sudo for helm.
set -euo pipefail
cd "$(dirname "$0")/../.."

python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e .

if [ "$(id -u)" = 0 ]; then
  # .ci/deps-helm.sh installs npm and unzip when missing: a fresh container needs the package lists
  if ! command -v npm >/dev/null || ! command -v unzip >/dev/null; then apt-get update -qq; fi
  bash .ci/deps-helm.sh
else
  sudo bash .ci/deps-helm.sh
fi
