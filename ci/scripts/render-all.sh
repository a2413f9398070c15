#!/usr/bin/env bash
# Usage: render-all.sh CHECKOUT OUT
# `swan render` of every stack in CHECKOUT/config (with CHECKOUT's own code, so a target branch's
# renders show what that branch deploys) into OUT/<stack>/. The renders are offline (Pulumi's mock engine,
# no credentials) with the charts it pins (`swan charts pull`); a release whose chart or helm is
# missing fails the job (--require-charts).
set -euo pipefail
checkout="$(cd "${1:?usage: render-all.sh CHECKOUT OUT}" && pwd)"
mkdir -p "${2:?usage: render-all.sh CHECKOUT OUT}"
out="$(cd "$2" && pwd)"
python="${PYTHON:-$PWD/.venv/bin/python}"

swan() { (cd "$checkout" && PYTHONPATH="$checkout" SWAN_PROJECT_DIR="$checkout" "$python" -m stacks.cli.main "$@"); }

# the charts CHECKOUT pins (a target branch may pin other versions), into the chart cache
# ($SWAN_CHARTS, else ~/.cache/swan-iac/charts); charts already there are not fetched again
if [ -n "${SWAN_CHARTS:-}" ]; then mkdir -p "${SWAN_CHARTS%%:*}"; fi
swan charts pull

shopt -s nullglob
for file in "$checkout"/config/Pulumi.*.yaml; do
  stack="${file##*/Pulumi.}"
  stack="${stack%.yaml}"
  echo "== swan render $stack ($checkout)"
  swan render "$stack" --out "$out/$stack" --require-charts
done
