#!/usr/bin/env bash
# restore.sh - restore a dump into the LIVE botstack database (replaces its contents).
#
# usage: restore.sh [--config FILE] [--yes] DUMP
#
# DUMP is a path or a file name in BACKUP_DIR (config as for backup.sh: /etc/botstack/backup.env).
# Encrypted dumps (*.age) must be decrypted off the server first (`age -d -i key.txt`).
# Without --yes it asks you to type the database name (needs a terminal).
# Steps: checksum check (when DUMP.sha256 exists) -> stop the writers: running containers labelled
# botstack.writer=true (api, worker, bot) -> `pg_restore --clean --if-exists --exit-on-error --single-transaction`
# in PG_CONTAINER reading the dump on stdin -> start the writers again (also when the restore failed).
# The dump is streamed, never copied into the container: its /tmp is a small tmpfs (64 MB) and its root
# is read-only. Streaming rules out `pg_restore -j` (it needs a seekable file), and one transaction
# means a failed restore leaves the database as it was.
set -euo pipefail

CONFIG=${BOTSTACK_BACKUP_CONFIG:-/etc/botstack/backup.env}
readonly WRITER_LABEL="botstack.writer=true"
DUMP=""
YES=0
WRITERS=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "botstack-restore: FAILED: $*" >&2; exit 1; }
log() { echo "botstack-restore: $*"; }

parse_args() {
  while (($#)); do
    case "$1" in
      --config) CONFIG=${2:?}; shift 2 ;;
      --yes) YES=1; shift ;;
      -h|--help) usage; exit 0 ;;
      -*) usage >&2; die "unknown option: $1" ;;
      *) [[ -z $DUMP ]] || die "only one DUMP"; DUMP=$1; shift ;;
    esac
  done
  [[ -n $DUMP ]] || { usage >&2; die "DUMP is required"; }
}

load_config() {
  [[ -f $CONFIG ]] || die "config $CONFIG missing"
  # shellcheck disable=SC1090
  source "$CONFIG"
  : "${PG_CONTAINER:?}" "${PG_USER:?}" "${PG_DB:?}"
  BACKUP_DIR=${BACKUP_DIR:-/var/backups/botstack}
}

check_dump() {
  [[ $DUMP == */* ]] || DUMP="$BACKUP_DIR/$DUMP"
  [[ -f $DUMP ]] || die "dump $DUMP not found"
  [[ $DUMP != *.age ]] || die "$DUMP is encrypted: decrypt it off the server (age -d -i KEY) and copy the .dump here"
  if [[ -f $DUMP.sha256 ]]; then
    (cd "$(dirname "$DUMP")" && sha256sum --quiet -c "${DUMP##*/}.sha256") || die "checksum mismatch for $DUMP"
  fi
}

confirm() {
  ((YES)) && return 0
  { : </dev/tty; } 2>/dev/null || die "no terminal to confirm on; pass --yes"
  local answer
  printf 'This REPLACES the contents of database %s (container %s) with %s.\nType the database name to continue: ' \
    "$PG_DB" "$PG_CONTAINER" "${DUMP##*/}" >/dev/tty
  read -r answer </dev/tty
  [[ $answer == "$PG_DB" ]] || die "not confirmed"
}

start_writers() {
  local rc=$?
  if ((${#WRITERS[@]})); then
    if docker start "${WRITERS[@]}" >/dev/null; then log "started writers again: ${WRITERS[*]}"
    else echo "botstack-restore: could not start writers: ${WRITERS[*]}" >&2; rc=1; fi
  fi
  exit "$rc"
}

stop_writers() {
  local names
  names=$(docker ps --filter "label=$WRITER_LABEL" --format '{{.Names}}')
  [[ -z $names ]] && { log "no running writers (label $WRITER_LABEL)"; return 0; }
  mapfile -t WRITERS <<<"$names"
  log "stopping writers: ${WRITERS[*]}"
  docker stop "${WRITERS[@]}" >/dev/null
}

main() {
  parse_args "$@"
  load_config
  check_dump
  confirm
  trap start_writers EXIT
  stop_writers
  docker exec -i "$PG_CONTAINER" pg_restore -U "$PG_USER" -d "$PG_DB" --clean --if-exists --exit-on-error \
    --single-transaction <"$DUMP" || die "pg_restore into $PG_DB failed; nothing was changed (writers will be started again)"
  log "restored ${DUMP##*/} into $PG_DB"
}

main "$@"
