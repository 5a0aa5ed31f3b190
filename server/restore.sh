#!/usr/bin/env bash
# restore.sh - restore a dump into the LIVE botstack database (replaces its contents).
#
# usage: restore.sh [--config FILE] [--yes] [--dry-run] DUMP
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
# --dry-run makes the checks (config, the dump, its checksum, the container running), asks nothing, and
# prints the plan: the writers it would stop and the pg_restore command. It stops and restores nothing.
set -euo pipefail
# lib.sh and contract.sh: beside this script (install-backups.sh installs them with it)
declare -F botstack_lib_loaded >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=botstack-restore DIE_PREFIX="botstack-restore: FAILED:"

CONFIG=${BOTSTACK_BACKUP_CONFIG:-$BOTSTACK_BACKUP_CONFIG_FILE}
DUMP=""
YES=0

parse_args() {
  while (($#)); do
    case "$1" in
      --config) CONFIG=${2:?}; shift 2 ;;
      --yes) YES=1; shift ;;
      --dry-run) DRY_RUN=1; shift ;;
      -h|--help) usage; exit 0 ;;
      -*) usage_error "unknown option: $1" ;;
      *) [[ -z $DUMP ]] || die "only one DUMP"; DUMP=$1; shift ;;
    esac
  done
  [[ -n $DUMP ]] || usage_error "DUMP is required"
}

load_config() {
  source_config "$CONFIG"
  refuse_swarm_service restore.sh
  : "${PG_CONTAINER:?}" "${PG_USER:?}" "${PG_DB:?}"
  BACKUP_DIR=${BACKUP_DIR:-$BOTSTACK_BACKUP_DIR}
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
  confirm_by_typing "$PG_DB" "$(printf 'This REPLACES the contents of database %s (container %s) with %s.\nType the database name to continue: ' \
    "$PG_DB" "$PG_CONTAINER" "${DUMP##*/}")"
}

# EXIT trap: the writers start again also when the restore failed.
finish() {
  local rc=$?
  start_writers || rc=1
  exit "$rc"
}

main() {
  parse_args "$@"
  load_config
  check_dump
  if ((DRY_RUN)); then require_running "$PG_CONTAINER"; else confirm; fi
  trap finish EXIT
  # shellcheck disable=SC2119 # no argument: every writer on the engine, as before
  stop_writers  # a dry run lists them and stops none
  run_from "$DUMP" docker exec -i "$PG_CONTAINER" pg_restore -U "$PG_USER" -d "$PG_DB" --clean --if-exists --exit-on-error \
    --single-transaction || die "pg_restore into $PG_DB failed; nothing was changed (writers will be started again)"
  if ((DRY_RUN)); then log "(dry run) would start the writers again; nothing was stopped or restored"
  else log "restored ${DUMP##*/} into $PG_DB"; fi
}

main "$@"
