#!/usr/bin/env bash
# Usage: changed-stacks.sh BEFORE AFTER [STACK ...]
# Prints, one per line, the stacks (among STACK ..., default: every stack rendered in AFTER) whose
# render in AFTER differs from the one in BEFORE, or that BEFORE has no render of. BEFORE and AFTER
# are folders of `render-all.sh`: a change of code changes every stack it reaches, a change of one
# config file only that stack (and the events reading it), exactly what `pulumi up` would change.
# A stack named but rendered in neither folder is an error (a typo in SWAN_STAGING_STACKS, say).
set -euo pipefail
before="${1:?usage: changed-stacks.sh BEFORE AFTER [STACK ...]}"
after="${2:?usage: changed-stacks.sh BEFORE AFTER [STACK ...]}"
shift 2
if [ "$#" -eq 0 ]; then
  for dir in "$after"/*/; do
    [ -d "$dir" ] && set -- "$@" "$(basename "$dir")"
  done
fi
for stack in "$@"; do
  if [ ! -d "$after/$stack" ]; then
    if [ -d "$before/$stack" ]; then
      echo "changed-stacks: $stack: its config was removed; destroy it by hand (pulumi destroy -s $stack)" >&2
      continue
    fi
    echo "changed-stacks: $stack: no such stack (no render in $after)" >&2
    exit 2
  fi
  if [ ! -d "$before/$stack" ] || ! diff -rq "$before/$stack" "$after/$stack" >/dev/null; then
    echo "$stack"
  fi
done
