#!/usr/bin/env bash
# System packages for the disposable-host harness (tests/hosts, tests/roles, bench/roles.py).
# Run as root after `apt-get update`; idempotent. systemd-nspawn is NOT installed here:
# Debian's systemd-container may pull a newer systemd onto the machine, so the harness
# unpacks it (apt-get download + dpkg -x) into /var/cache/swan-iac/systemd-container.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# tinyproxy-bin is the proxy binary alone (the `tinyproxy` package would also start a
# system-wide service listening on every address).
apt-get install -y -qq --no-install-recommends \
  debootstrap tinyproxy-bin openssh-client iproute2 ca-certificates >/dev/null
for tool in debootstrap tinyproxy ssh ssh-keygen ip ss; do
  command -v "$tool" >/dev/null || { echo "deps-hosts: $tool missing after install" >&2; exit 1; }
done
grep -qw overlay /proc/filesystems || modprobe overlay || { echo "deps-hosts: no overlayfs in this kernel" >&2; exit 1; }
echo "deps-hosts: debootstrap, tinyproxy, ssh, iproute2 ready"
