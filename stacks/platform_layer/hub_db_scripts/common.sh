# Shared by the hub database backup and restore scripts (sourced, POSIX sh).
# Backups are files named jupyterhub-<UTC time>.<ext> in BACKUP_REMOTE, which rclone reads and writes:
# a folder (the backup volume, e.g. /backups) or an S3 path (`backup:bucket/prefix`, the remote
# `backup` defined by RCLONE_CONFIG_BACKUP_* variables). One tool for both targets keeps one code path.
set -eu
: "${BACKUP_REMOTE:?where backups are kept (a folder or backup:bucket/prefix)}"
: "${KEEP:=7}"
PREFIX=jupyterhub-
# no rclone.conf: remotes come from the environment only
export RCLONE_CONFIG="${RCLONE_CONFIG:-/dev/null}"

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# A sortable, unique name: UTC time to the nanosecond.
backup_name() { echo "${PREFIX}$(date -u +%Y%m%dT%H%M%S%NZ).$1"; }

# Backups of this engine, oldest first (the names sort by time).
list_backups() { rclone lsf --files-only "$BACKUP_REMOTE" | grep "^${PREFIX}.*\.$1\$" | sort || true; }

store() { rclone copyto "$1" "$BACKUP_REMOTE/$2"; log "stored $2 in $BACKUP_REMOTE"; }

fetch() { rclone copyto "$BACKUP_REMOTE/$1" "$2"; }

# Keep the newest KEEP backups of this engine, delete the others (run after a backup succeeded).
prune() {
    total=$(list_backups "$1" | wc -l)
    excess=$((total - KEEP))
    [ "$excess" -gt 0 ] || return 0
    list_backups "$1" | head -n "$excess" | while read -r old; do
        rclone deletefile "$BACKUP_REMOTE/$old"
        log "deleted $old (keeping $KEEP)"
    done
}

# The backup a restore uses: the one named, else the newest.
chosen_backup() {
    if [ -n "${1:-}" ]; then echo "$1"; return; fi
    newest=$(list_backups "$2" | tail -n 1)
    [ -n "$newest" ] || die "no backup (*.$2) in $BACKUP_REMOTE"
    echo "$newest"
}
