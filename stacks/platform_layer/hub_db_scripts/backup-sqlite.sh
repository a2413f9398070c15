#!/bin/sh
# Back up the hub's SQLite database while the hub runs: SQLite's online backup (`.backup`) copies a
# consistent snapshot page by page under a read lock, which a plain file copy would not.
# Needs HUB_DB_FILE (the database on the hub's volume) and what common.sh needs.
. "${SCRIPTS:-$(dirname "$0")}/common.sh"
: "${HUB_DB_FILE:?the hub database file}"
[ -f "$HUB_DB_FILE" ] || die "$HUB_DB_FILE does not exist"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
name=$(backup_name sqlite.gz)
copy="$work/${name%.gz}"
sqlite3 -cmd ".timeout 60000" "$HUB_DB_FILE" ".backup '$copy'"
result=$(sqlite3 "$copy" "PRAGMA integrity_check;")
[ "$result" = ok ] || die "the copy fails SQLite's integrity check: $result"
gzip -9 "$copy"
store "$copy.gz" "$name"
prune sqlite.gz
