#!/bin/sh
# Back up the hub's PostgreSQL database with pg_dump (custom format: compressed, restorable with
# pg_restore, consistent while the hub runs). The server comes from libpq's variables (PGHOST, PGPORT,
# PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE), plus what common.sh needs.
. "${SCRIPTS:-$(dirname "$0")}/common.sh"
: "${PGDATABASE:?the hub database}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
name=$(backup_name pgdump)
pg_dump --format=custom --no-owner --no-privileges --file "$work/$name"
pg_restore --list "$work/$name" >/dev/null || die "pg_restore cannot read the dump"
store "$work/$name" "$name"
prune pgdump
