#!/usr/bin/env bash
# Usage: render-diff.sh BEFORE AFTER COMMENT.md [MAX_CHARS]
# `swan diff` of every stack's render in BEFORE (the target branch) against AFTER (this branch),
# assembled into one Markdown comment for the merge request; longer than MAX_CHARS (default
# 60000, under GitHub's 65536 limit) it is cut and points at the job's artifact.
set -euo pipefail
before="${1:?usage: render-diff.sh BEFORE AFTER COMMENT.md [MAX_CHARS]}"
after="${2:?usage: render-diff.sh BEFORE AFTER COMMENT.md [MAX_CHARS]}"
comment="${3:?usage: render-diff.sh BEFORE AFTER COMMENT.md [MAX_CHARS]}"
max="${4:-60000}"
python="${PYTHON:-$PWD/.venv/bin/python}"

swan() { "$python" -m stacks.cli.main "$@"; }

full="$comment.full"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
{
  echo "## swan diff: what this change does to each stack"
  echo
  echo "Renders of every stack (\`swan render\`, offline) on the target branch and on this branch."
  echo
} > "$full"
changed=0
for dir in "$after"/*/ "$before"/*/; do
  [ -d "$dir" ] || continue
  stack="$(basename "$dir")"
  [ -e "$work/$stack.done" ] && continue
  touch "$work/$stack.done"
  if [ ! -d "$before/$stack" ]; then
    printf '### %s\n\nNew stack: nothing to compare with.\n\n' "$stack" >> "$full"
    changed=$((changed + 1))
  elif [ ! -d "$after/$stack" ]; then
    # shellcheck disable=SC2016  # the backticks are Markdown
    printf '### %s\n\nStack removed on this branch: its resources stay until `pulumi destroy -s %s`.\n\n' \
      "$stack" "$stack" >> "$full"
    changed=$((changed + 1))
  elif ! diff -rq "$before/$stack" "$after/$stack" >/dev/null; then
    swan diff "$before/$stack" "$after/$stack" --markdown "$work/$stack.md"
    { printf '### %s\n\n' "$stack"; cat "$work/$stack.md"; echo; } >> "$full"
    changed=$((changed + 1))
  fi
done
[ "$changed" -gt 0 ] || echo "No stack renders differently." >> "$full"
if [ "$(wc -c < "$full")" -gt "$max" ]; then
  head -c "$max" "$full" > "$comment"
  # shellcheck disable=SC2016  # the backticks are Markdown
  printf '\n\n… cut here: the whole diff is in the job artifact `%s`.\n' "$full" >> "$comment"
else
  cp "$full" "$comment"
fi
echo "render-diff: $changed stack(s) changed; comment in $comment"
