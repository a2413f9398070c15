#!/usr/bin/env bash
# ShellCheck for tests/ci (the CI scripts in ci/scripts/, and actionlint's check of every `run:`
# step of the GitHub workflows). From Debian; idempotent; run as root.
set -euo pipefail
if command -v shellcheck >/dev/null; then
  echo "deps-ci: $(shellcheck --version | sed -n 2p) already installed"
  exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck
echo "deps-ci: $(shellcheck --version | sed -n 2p)"
