#!/bin/sh
# Restore the hub's PostgreSQL database from a backup: `restore-postgresql.sh [NAME]` (default: the
# newest). Stop the hub first (scale its Deployment to 0). The database must exist (empty or not):
# the hub's tables are dropped and recreated from the dump, in one transaction (all or nothing).
. "${SCRIPTS:-$(dirname "$0")}/common.sh"
: "${PGDATABASE:?the hub database}"
name=$(chosen_backup "${1:-}" pgdump)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch "$name" "$work/db.pgdump"
pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error \
    --dbname "$PGDATABASE" "$work/db.pgdump"
log "restored $name into database $PGDATABASE"
