#!/usr/bin/env bash
# System packages for the hub database tests (tests/stack/test_hub_database_backup.py): a PostgreSQL
# server and client, sqlite3 and rclone, the tools the backup scripts run in their image.
# Run as root after `apt-get update`; idempotent. Starts nothing: Debian's postgresql-common would
# create and start a `main` cluster on install, so cluster creation is switched off first and no
# service is started (policy-rc.d); the tests run their own server with initdb/pg_ctl as the
# `postgres` user in a temp dir on a free loopback port, and remove it afterwards.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/swan-iac-no-main.conf
policy=/usr/sbin/policy-rc.d
created_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; created_policy=1
fi
trap '[ -z "$created_policy" ] || rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-client-15 sqlite3 rclone >/dev/null
bin=/usr/lib/postgresql/15/bin
for tool in "$bin/initdb" "$bin/pg_ctl" "$bin/postgres" pg_dump pg_restore psql sqlite3 rclone; do
  command -v "$tool" >/dev/null || { echo "deps-postgres: $tool missing after install" >&2; exit 1; }
done
id postgres >/dev/null || { echo "deps-postgres: no postgres user" >&2; exit 1; }
echo "deps-postgres: PostgreSQL 15 ($bin), sqlite3, rclone ready"
