#!/usr/bin/env bash
# backup.sh - dump the botstack PostgreSQL database, keep N days, verify; loud on failure.
#
# usage: backup.sh [--config FILE] [--no-verify] [--dry-run]
#
# Config: /etc/botstack/backup.env (or --config / $BOTSTACK_BACKUP_CONFIG), mode 0600, root-owned:
#   PG_CONTAINER=botstack-prod-db   PG_USER=botstack   PG_DB=botstack
#   PG_SERVICE=           # instead of PG_CONTAINER on a swarm node: the database service, whose running task's
#                         # container on this node is found by its com.docker.swarm.service.name label at each run
#   BACKUP_DIR=/var/backups/botstack   RETENTION_DAYS=7
#   RCLONE_REMOTE=        # optional, e.g. "offsite:botstack" (rclone's own config holds credentials)
#   AGE_RECIPIENT=        # optional age public key (age1...); the private key never goes on the server
#   VERIFY=1              # restore each new dump into a scratch database and compare (verify-backup.sh)
#   ALERT_CHAT_ID= BOT_TOKEN_FILE= TELEGRAM_API_URL= HEALTHCHECK_URL=   # alerts: see backup-alert.sh
# Steps: flock (an overlapping run fails at once) -> `docker exec PG_CONTAINER pg_dump -Fc` (zstd 1 or gzip 1) over the
# container's local socket (no password needed) into a hidden temp file, with the tables' row counts
# and alembic version taken in the same snapshot (NAME.tables) -> `pg_restore -l` sanity check
# -> verification (before encryption: the server cannot decrypt) -> optional age encryption ->
# checksum file (sha256) -> rename into place -> `latest` symlink -> retention: delete dumps and
# checksums older than exactly RETENTION_DAYS*1440 minutes -> optional `rclone copyto`.
# Any failure exits non-zero and leaves no partial file and an unchanged `latest`; it is recorded in
# BACKUP_DIR/.last-failure and alerted (backup-alert.sh: Telegram and/or a healthcheck URL's /fail).
# A success is recorded in BACKUP_DIR/.last-success (what backup-status.sh shows) and pings the URL.
# --dry-run checks the config, BACKUP_DIR, the container (running) and the tools the config needs (age,
# rclone), then prints the steps a real run would take (the dump, its verification, encryption, the files
# retention would delete, the off-site copy); it takes no lock, writes and deletes nothing, alerts nobody.
set -euo pipefail
# lib.sh and contract.sh: beside this script (install-backups.sh installs them with it)
declare -F botstack_lib_loaded >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=botstack-backup DIE_PREFIX="botstack-backup: FAILED:"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONFIG=${BOTSTACK_BACKUP_CONFIG:-$BOTSTACK_BACKUP_CONFIG_FILE}
DO_VERIFY=""
TMP_FILES=()
ALERTABLE=0  # set once the config is loaded and the lock is ours: only then is a failure alerted

finish() {
  local rc=$? f
  for f in "${TMP_FILES[@]}"; do rm -f "$f"; done
  ((ALERTABLE)) || exit "$rc"
  if ((rc == 0)); then
    "$SCRIPT_DIR/backup-alert.sh" --config "$CONFIG" success "backup ok" || true
  else
    FAILURE=${DIE_MESSAGE:-exited with status $rc}
    printf '%s\t%s\n' "$(date -u +%s)" "${FAILURE//$'\n'/ }" >"$BACKUP_DIR/.last-failure" || true
    "$SCRIPT_DIR/backup-alert.sh" --config "$CONFIG" failure "backup of $PG_DB FAILED: $FAILURE" \
      || echo "botstack-backup: the alert could not be sent either" >&2
  fi
  exit "$rc"
}

parse_args() {
  while (($#)); do
    case "$1" in
      --config) CONFIG=${2:?}; shift 2 ;;
      --no-verify) DO_VERIFY=0; shift ;;
      --dry-run) DRY_RUN=1; shift ;;
      *) help_or_unknown "$1" ;;
    esac
  done
}

load_config() {
  [[ -f $CONFIG ]] || die "config $CONFIG missing (install-backups.sh writes it)"
  [[ $(stat -c '%a' "$CONFIG") == 600 ]] || die "config $CONFIG must be mode 0600"
  # shellcheck disable=SC1090
  source "$CONFIG"
  PG_SERVICE=${PG_SERVICE:-}
  [[ -n $PG_SERVICE ]] || : "${PG_CONTAINER:?PG_CONTAINER not set in $CONFIG}"
  : "${PG_USER:?}" "${PG_DB:?}"
  BACKUP_DIR=${BACKUP_DIR:-$BOTSTACK_BACKUP_DIR}
  RETENTION_DAYS=${RETENTION_DAYS:-7}
  RCLONE_REMOTE=${RCLONE_REMOTE:-}
  AGE_RECIPIENT=${AGE_RECIPIENT:-}
  DO_VERIFY=${DO_VERIFY:-${VERIFY:-1}}
  [[ $RETENTION_DAYS =~ ^[0-9]+$ && $RETENTION_DAYS -ge 1 ]] || die "RETENTION_DAYS must be a whole number >= 1"
  [[ -d $BACKUP_DIR ]] || die "backup directory $BACKUP_DIR missing"
}

# A swarm task's container gets a new name with every task (a restart, an update, a move), so the config names the
# service and the container is the one of its running task on this node.
find_service_container() {
  [[ -n $PG_SERVICE ]] || return 0
  local found
  found=$(docker ps -q --filter "label=com.docker.swarm.service.name=$PG_SERVICE" --filter status=running) \
    || die "docker ps failed (is Docker running?)"
  [[ -n $found ]] || die "no running task of service $PG_SERVICE on this node (backups run on the database's node)"
  [[ $found != *$'\n'* ]] || die "more than one running task of service $PG_SERVICE on this node"
  PG_CONTAINER=$found
}

# verify-backup.sh reads the container from the config: for a service, the config plus the container found above.
verify() {
  if [[ -n $PG_SERVICE ]]; then
    "$SCRIPT_DIR/verify-backup.sh" --config <(cat "$CONFIG" && printf 'PG_CONTAINER=%s\n' "$PG_CONTAINER") "$@"
  else
    "$SCRIPT_DIR/verify-backup.sh" --config "$CONFIG" "$@"
  fi
}

take_lock() {
  exec 9>"$BACKUP_DIR/.lock"
  flock -n 9 || die "another backup is running (lock $BACKUP_DIR/.lock held)"
}

# pg_dump and the table/row/alembic description in ONE snapshot: a psql session exports its snapshot;
# through `\!` a second session imports it and counts the rows (into a file on the container's /tmp, printed
# to stderr at the end) while pg_dump --snapshot writes the dump to stdout. Counting beside the dump instead of
# before it saves its time where the database has a spare core.
# Compression, chosen by measuring (docs/bench.md): pg_dump 16 and newer (the default image is postgres:16)
# write zstd level 1, faster than gzip and a fifth smaller; older ones gzip level 1, nearly the size of the
# default level 6 in less than half its time. A zstd archive needs pg_restore 16 or newer to read.
dump() {
  local tmp=$1 tables=$2 raw="$2.raw" sql rc=0
  sql=$("$SCRIPT_DIR/verify-backup.sh" --describe-sql) || die "verify-backup.sh --describe-sql failed"
  docker exec -i -e PGOPTIONS='-c client_min_messages=warning' -e BOTSTACK_DESCRIBE_SQL="$sql" "$PG_CONTAINER" \
    psql -XAtq -v ON_ERROR_STOP=1 -U "$PG_USER" -d "$PG_DB" >"$tmp" 2>"$raw" <<SQL || rc=$?
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
SELECT pg_export_snapshot() AS botstack_snapshot \\gset
\\setenv BOTSTACK_SNAPSHOT :botstack_snapshot
\\! d=/tmp/botstack-describe.\$\$; (printf '%s\\n' 'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;' "SET TRANSACTION SNAPSHOT '\$BOTSTACK_SNAPSHOT';" "\$BOTSTACK_DESCRIBE_SQL" 'COMMIT;' | psql -XAtq -v ON_ERROR_STOP=1 -U '$PG_USER' -d '$PG_DB' -F "\$(printf '\\t')" >"\$d" 2>&1; echo "botstack-describe-exit \$?" >>"\$d") & c='-Z 1'; case \$(pg_dump --version | cut -d' ' -f3) in 1[6-9].*|[2-9][0-9].*) c='--compress=zstd:1' ;; esac; pg_dump -U '$PG_USER' -d '$PG_DB' -Fc \$c --snapshot="\$BOTSTACK_SNAPSHOT"; echo "botstack-pg_dump-exit \$?" 1>&2; wait; cat "\$d" 1>&2; rm -f "\$d"
COMMIT;
SQL
  if ((rc != 0)) || ! grep -qx 'botstack-pg_dump-exit 0' "$raw" || ! grep -qx 'botstack-describe-exit 0' "$raw"; then
    sed 's/^/  /' "$raw" >&2
    die "pg_dump of $PG_DB in container $PG_CONTAINER failed"
  fi
  grep -Ev '^botstack-(pg_dump|describe)-exit ' "$raw" >"$tables"
  rm -f "$raw"
  [[ -s $tmp ]] || die "pg_dump wrote nothing"
  docker exec -i "$PG_CONTAINER" pg_restore -l >/dev/null <"$tmp" \
    || die "the dump is not a readable custom-format archive"
}

# The dumps and their side files older than exactly RETENTION_DAYS, NUL-separated.
expired() {
  find "$BACKUP_DIR" -maxdepth 1 -type f \
    \( -name '*.dump' -o -name '*.dump.age' -o -name '*.sha256' -o -name '*.tables' \) -mmin "+$((RETENTION_DAYS * 1440))" -print0
}

retention() {
  local f
  while IFS= read -r -d '' f; do
    rm -f -- "$f"
    log "retention: deleted ${f##*/} (older than $RETENTION_DAYS days)"
  done < <(expired)
  # leftovers of a run killed hard (SIGKILL, power loss) before its trap ran
  find "$BACKUP_DIR" -maxdepth 1 -type f -name '.*.partial*' -mmin +1440 -delete
}

offsite() {
  local name=$1
  [[ -n $RCLONE_REMOTE ]] || return 0
  command -v rclone >/dev/null || die "RCLONE_REMOTE is set but rclone is not installed"
  rclone copyto "$BACKUP_DIR/$name" "${RCLONE_REMOTE%/}/$name" || die "rclone copy of $name failed"
  rclone copyto "$BACKUP_DIR/$name.sha256" "${RCLONE_REMOTE%/}/$name.sha256" || die "rclone copy of $name.sha256 failed"
  log "copied $name to $RCLONE_REMOTE"
}

# What a real run would do, from the same config; every check it can make without writing.
plan() {
  local name f
  name="$PG_DB-$(date -u +%Y%m%dT%H%M%SZ).dump"
  find_service_container
  require_running "$PG_CONTAINER"
  [[ -z $AGE_RECIPIENT ]] || command -v age >/dev/null || die "AGE_RECIPIENT is set but age is not installed"
  [[ -z $RCLONE_REMOTE ]] || command -v rclone >/dev/null || die "RCLONE_REMOTE is set but rclone is not installed"
  log "(dry run) would lock $BACKUP_DIR/.lock"
  log "(dry run) would dump $PG_DB from container $PG_CONTAINER (pg_dump -Fc as $PG_USER, row counts in the same snapshot) into $BACKUP_DIR/.$name.partial"
  if [[ $DO_VERIFY == 1 ]]; then
    log "(dry run) would verify it: verify-backup.sh restores it into the scratch database ${PG_DB}_verify and compares"
  else
    log "(dry run) would not verify it (VERIFY=0 or --no-verify)"
  fi
  [[ -z $AGE_RECIPIENT ]] || { log "(dry run) would encrypt it with age for $AGE_RECIPIENT"; name="$name.age"; }
  log "(dry run) would write $BACKUP_DIR/$name with $name.sha256 and $name.tables, and point $BACKUP_DIR/latest at it"
  while IFS= read -r -d '' f; do
    log "(dry run) retention would delete ${f##*/} (older than $RETENTION_DAYS days)"
  done < <(expired)
  [[ -z $RCLONE_REMOTE ]] || log "(dry run) would copy $name and $name.sha256 to $RCLONE_REMOTE"
  log "(dry run) would record the result in $BACKUP_DIR/.last-success (.last-failure on a failure) and alert:"
  "$SCRIPT_DIR/backup-alert.sh" --config "$CONFIG" --dry-run success "backup ok"
  log "(dry run) nothing was written, deleted or sent"
}

main() {
  parse_args "$@"
  load_config
  if ((DRY_RUN)); then plan; return 0; fi
  umask 077
  trap finish EXIT
  take_lock
  ALERTABLE=1
  find_service_container
  local stamp name tmp final sum started
  started=$(date -u +%s)
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  name="$PG_DB-$stamp.dump"
  tmp="$BACKUP_DIR/.$name.partial"
  local tables="$BACKUP_DIR/.$name.tables.partial"
  TMP_FILES+=("$tmp" "$tmp.age" "$BACKUP_DIR/.$name.sha256.partial" "$BACKUP_DIR/.latest.partial" "$tables" "$tables.raw")
  dump "$tmp" "$tables"
  if [[ $DO_VERIFY == 1 ]]; then
    verify --expect "$tables" "$tmp" \
      || die "verification of the new dump failed"
  fi
  final=$name
  if [[ -n $AGE_RECIPIENT ]]; then
    command -v age >/dev/null || die "AGE_RECIPIENT is set but age is not installed"
    age -r "$AGE_RECIPIENT" -o "$tmp.age" "$tmp" || die "age encryption failed"
    rm -f "$tmp"; tmp="$tmp.age"; final="$name.age"
  fi
  sum=$(sha256sum <"$tmp" | cut -d' ' -f1)
  printf '%s  %s\n' "$sum" "$final" >"$BACKUP_DIR/.$name.sha256.partial"
  mv -f "$BACKUP_DIR/.$name.sha256.partial" "$BACKUP_DIR/$final.sha256"
  mv -f "$tables" "$BACKUP_DIR/$final.tables"
  mv -f "$tmp" "$BACKUP_DIR/$final"
  ln -sfn "$final" "$BACKUP_DIR/.latest.partial"
  mv -fT "$BACKUP_DIR/.latest.partial" "$BACKUP_DIR/latest"
  log "wrote $BACKUP_DIR/$final ($(stat -c %s "$BACKUP_DIR/$final") bytes, sha256 in $final.sha256)"
  retention
  offsite "$final"
  printf '%s\t%s\t%s\t%s\n' "$(date -u +%s)" "$final" "$(stat -c %s "$BACKUP_DIR/$final")" "$(($(date -u +%s) - started))" \
    >"$BACKUP_DIR/.last-success.partial"
  mv -f "$BACKUP_DIR/.last-success.partial" "$BACKUP_DIR/.last-success"
  log "ok"
}

main "$@"
