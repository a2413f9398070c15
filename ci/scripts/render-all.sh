#!/usr/bin/env bash
# Usage: render-all.sh CHECKOUT OUT
# `swan render` of every stack in CHECKOUT/config (with CHECKOUT's own code, so a target branch's
# renders show what that branch deploys) into OUT/<stack>/. Fully offline (Pulumi's mock engine,
# no credentials); a release whose chart or helm is missing fails the job (--require-charts).
set -euo pipefail
checkout="$(cd "${1:?usage: render-all.sh CHECKOUT OUT}" && pwd)"
mkdir -p "${2:?usage: render-all.sh CHECKOUT OUT}"
out="$(cd "$2" && pwd)"
python="${PYTHON:-$PWD/.venv/bin/python}"

swan() { (cd "$checkout" && PYTHONPATH="$checkout" SWAN_PROJECT_DIR="$checkout" "$python" -m stacks.cli.main "$@"); }

shopt -s nullglob
for file in "$checkout"/config/Pulumi.*.yaml; do
  stack="${file##*/Pulumi.}"
  stack="${stack%.yaml}"
  echo "== swan render $stack ($checkout)"
  swan render "$stack" --out "$out/$stack" --require-charts
done
