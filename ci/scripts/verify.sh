#!/usr/bin/env bash
# Usage: verify.sh OUT STACK ...
# `swan verify STACK` of each stack (hub, cluster and node checks from the stack's outputs; needs
# the pulumi CLI and the backend), with JUnit, Markdown and JSON reports in OUT/ and, when
# SWAN_PUSHGATEWAY_URL is set, metrics pushed with the label source=ci (so they do not replace the
# in-cluster CronJob's). The hub token is read from HUB_TOKEN_<STACK> (upper case, '-' as '_'),
# else HUB_TOKEN; SWAN_VERIFY_ONLY picks the groups (default hub,cluster,nodes; `hub,cluster` when
# the runner cannot reach the nodes over ssh). Every stack is verified; exit 1 if any failed, 2 on
# bad input.
set -uo pipefail
out="${1:?usage: verify.sh OUT STACK ...}"
shift
mkdir -p "$out"
python="${PYTHON:-$PWD/.venv/bin/python}"

swan() { "$python" -m stacks.cli.main "$@"; }

[ "$#" -gt 0 ] || { echo "verify: no stack to verify"; exit 0; }
status=0
for stack in "$@"; do
  token_env="HUB_TOKEN_$(printf '%s' "$stack" | tr 'a-z.-' 'A-Z__')"
  [ -n "${!token_env:-}" ] || token_env=HUB_TOKEN
  echo "== swan verify $stack (token from \$$token_env)"
  swan verify "$stack" --token-env "$token_env" --only "${SWAN_VERIFY_ONLY:-hub,cluster,nodes}" \
    --junit "$out/$stack.xml" --markdown "$out/$stack.md" --json "$out/$stack.json" \
    ${SWAN_PUSHGATEWAY_URL:+--pushgateway "$SWAN_PUSHGATEWAY_URL" --metrics-label source=ci}
  rc=$?
  if [ "$rc" -gt "$status" ]; then status=$rc; fi
done
exit "$status"
