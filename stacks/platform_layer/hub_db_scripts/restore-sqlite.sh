#!/bin/sh
# Restore the hub's SQLite database from a backup: `restore-sqlite.sh [NAME]` (default: the newest).
# Stop the hub first (scale its Deployment to 0): the file is replaced under it otherwise.
# The database it replaces is kept beside it as <file>.before-restore-<time>.
. "${SCRIPTS:-$(dirname "$0")}/common.sh"
: "${HUB_DB_FILE:?the hub database file}"
name=$(chosen_backup "${1:-}" sqlite.gz)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch "$name" "$work/db.sqlite.gz"
gunzip "$work/db.sqlite.gz"
result=$(sqlite3 "$work/db.sqlite" "PRAGMA integrity_check;")
[ "$result" = ok ] || die "$name fails SQLite's integrity check: $result"
# beside the target, so the final rename is atomic
cp "$work/db.sqlite" "$HUB_DB_FILE.restoring"
if [ -f "$HUB_DB_FILE" ]; then
    kept="$HUB_DB_FILE.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
    cp -p "$HUB_DB_FILE" "$kept"
    log "kept the current database as $kept"
fi
rm -f "$HUB_DB_FILE-journal" "$HUB_DB_FILE-wal" "$HUB_DB_FILE-shm"
mv "$HUB_DB_FILE.restoring" "$HUB_DB_FILE"
log "restored $name into $HUB_DB_FILE"
