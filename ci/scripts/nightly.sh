#!/usr/bin/env bash
# Usage: nightly.sh OUT STACK ...
# The nightly run of each deployed stack: drift (`pulumi preview --refresh --expect-no-changes`:
# --refresh reads the clouds first, so a change made outside Pulumi shows; without it preview
# compares only the program with the state), then `swan verify` (verify.sh: JUnit, Markdown and
# metrics in OUT/). Every stack is checked; exit 1 when any drifted or failed verification.
set -uo pipefail
out="${1:?usage: nightly.sh OUT STACK ...}"
shift
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
status=0
for stack in "$@"; do
  echo "== drift: pulumi preview --expect-no-changes -s $stack"
  if ! pulumi preview --refresh --expect-no-changes --diff --suppress-progress -s "$stack"; then
    echo "nightly: $stack has drifted from its config (or preview failed)" >&2
    echo "$stack" >> "$out/drifted.txt"
    status=1
  fi
  bash "$here/verify.sh" "$out" "$stack" || status=1
done
exit "$status"
