#!/usr/bin/env bash
# promtool for the alert-rule tests (`promtool check rules`, `promtool test rules`).
# It comes from Debian's `prometheus` package, but the package is only downloaded and unpacked
# (`apt-get download` + `dpkg -x`), never installed: installing it would create a service user
# and start a Prometheus server, and the tests need only the promtool binary (a static Go program).
# Idempotent; run as root. PROMTOOL=/path/to/promtool makes the tests use another one.
set -euo pipefail

TARGET=/usr/local/bin/promtool

if [ -x "$TARGET" ] && "$TARGET" --version >/dev/null 2>&1; then
  echo "deps-prometheus: $("$TARGET" --version 2>&1 | head -1) at ${TARGET}"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q prometheus >/dev/null && dpkg -x prometheus_*.deb root)
install -m 0755 "$work/root/usr/bin/promtool" "$TARGET"
echo "deps-prometheus: $("$TARGET" --version 2>&1 | head -1) at ${TARGET}"
