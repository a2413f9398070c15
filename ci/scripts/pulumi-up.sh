#!/usr/bin/env bash
# Usage: pulumi-up.sh STACK ...
# `pulumi up` of each stack in turn, stopping at the first failure. The stacks must exist in the
# backend (created once by an operator with the team's secrets provider: CI never creates a stack,
# which would get the passphrase provider by default). Provider plugins install on demand.
set -euo pipefail
[ "$#" -gt 0 ] || { echo "pulumi-up: no stack changed; nothing to deploy"; exit 0; }
for stack in "$@"; do
  echo "== pulumi up -s $stack"
  pulumi up --yes --diff --suppress-progress -s "$stack"
done
