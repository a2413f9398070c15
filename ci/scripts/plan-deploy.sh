#!/usr/bin/env bash
# Usage: plan-deploy.sh BEFORE_SHA OUT
# Which stacks a push to the main branch changes: every stack is rendered (`swan render`, offline)
# at BEFORE_SHA (the branch before the push; the first parent of HEAD when empty or all zeros) and
# at HEAD, and a stack changed when its render differs (changed-stacks.sh). Only the stacks named in
# SWAN_STAGING_STACKS and SWAN_PRODUCTION_STACKS (space-separated) are deployed by CI: event stacks
# are brought up and down by `swan event reconcile` on its schedule, never on merge.
# Writes OUT/deploy.env (GitLab dotenv: SWAN_DEPLOY_STAGING, SWAN_DEPLOY_PRODUCTION, SWAN_DEPLOY_ANY)
# and prints GitHub step outputs on stdout (staging, production, staging_all: JSON lists; any).
# Exit 2, before any work, when production stacks are named but no staging stack to verify first.
set -euo pipefail
before="${1:-}"
out="${2:?usage: plan-deploy.sh BEFORE_SHA OUT}"
here="$(cd "$(dirname "$0")" && pwd)"
read -ra staging <<< "${SWAN_STAGING_STACKS:-}"
read -ra production <<< "${SWAN_PRODUCTION_STACKS:-}"

if [ "${#production[@]}" -gt 0 ] && [ "${#staging[@]}" -eq 0 ]; then
  echo "plan-deploy: SWAN_PRODUCTION_STACKS (${production[*]}) is set but SWAN_STAGING_STACKS names no staging stack to verify first" >&2
  exit 2
fi
if [ -z "$before" ] || [ -z "${before//0/}" ]; then
  before="$(git rev-parse HEAD^1)"
fi
mkdir -p "$out"
rm -rf "$out/before" "$out/renders"
git worktree add --detach "$out/before" "$before" >&2
bash "$here/render-all.sh" "$out/before" "$out/renders/before" >&2
bash "$here/render-all.sh" . "$out/renders/after" >&2
git worktree remove --force "$out/before" >&2

changed_staging=()
changed_production=()
if [ "${#staging[@]}" -gt 0 ]; then
  mapfile -t changed_staging < <(bash "$here/changed-stacks.sh" "$out/renders/before" "$out/renders/after" "${staging[@]}")
fi
if [ "${#production[@]}" -gt 0 ]; then
  mapfile -t changed_production < <(bash "$here/changed-stacks.sh" "$out/renders/before" "$out/renders/after" "${production[@]}")
fi
any=false
if [ "${#changed_staging[@]}" -gt 0 ] || [ "${#changed_production[@]}" -gt 0 ]; then any=true; fi

{
  echo "SWAN_DEPLOY_STAGING=${changed_staging[*]}"
  echo "SWAN_DEPLOY_PRODUCTION=${changed_production[*]}"
  echo "SWAN_DEPLOY_ANY=$any"
} > "$out/deploy.env"
echo "plan-deploy: staging: ${changed_staging[*]:-none}; production: ${changed_production[*]:-none}" >&2
echo "staging=$(bash "$here/stacks-json.sh" "${changed_staging[@]}")"
echo "production=$(bash "$here/stacks-json.sh" "${changed_production[@]}")"
echo "staging_all=$(bash "$here/stacks-json.sh" "${staging[@]}")"
echo "any=$any"
