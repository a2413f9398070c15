#!/usr/bin/env bash
# Usage: stacks-json.sh [STACK ...]
# The stacks as a JSON list (for a GitHub Actions matrix); stack names are [A-Za-z0-9._-] only.
set -euo pipefail
json="["
sep=""
for stack in "$@"; do
  case "$stack" in
    *[!A-Za-z0-9._-]* | "") echo "stacks-json: '$stack' is not a stack name" >&2; exit 2 ;;
  esac
  json="$json$sep\"$stack\""
  sep=","
done
echo "$json]"
