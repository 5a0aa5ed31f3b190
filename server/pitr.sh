#!/usr/bin/env bash
# pitr.sh - point-in-time recovery with pgBackRest: base backups, archive status, restore to a time.
#
# usage: pitr.sh [--config FILE] setup                  create the stanza (idempotent) and check archiving
#        pitr.sh [--config FILE] backup [full|diff]     a base backup (cron: PITR_SCHEDULE); alerts on failure
#        pitr.sh [--config FILE] status                 archive and base backups; exit 1 on a problem
#        pitr.sh [--config FILE] restore --at 'YYYY-MM-DD HH:MM:SS' | --latest  [--yes]
#        --dry-run (any action): check, then print the pgbackrest and docker commands instead of running them
#
# Config: /etc/botstack/backup.env (as backup.sh; PG_CONTAINER, PITR_BACKUP_MAX_AGE_HOURS). pgBackRest itself
# runs inside the database container (the image adds it) with its settings in the container's PGBACKREST_*
# variables (secrets in the file PGBACKREST_CONFIG names, a bind-mounted secret), its repository on a named
# volume and, when configured, a second one off-site (repo2); PostgreSQL archives every WAL segment to each.
#
# backup: one base backup per repository (each restores alone), timed; every backup ends with pgBackRest's
# expire, which applies the retention to the backups and the WAL of that repository (checked in its log).
#
# restore: times are UTC. Refuses, before touching anything, a time before the end of the oldest base
# backup (pgBackRest would silently take the newest one and recovery would never reach the target) or in
# the future. Then: stop the writers (containers labelled botstack.writer=true of the database container's
# botstack.stack), stop the database
# container, run `pgbackrest restore` in a one-off container with the database container's image,
# volumes, user and PGBACKREST_* variables (no network), start the database container again (PostgreSQL
# replays WAL to the target, then promotes), wait until it is promoted, start the writers again (also
# after a failure), then take a full base backup of the new timeline. --latest replays everything archived.
#
# --dry-run: setup and backup check the container and print the pgbackrest commands per repository;
# restore makes every check above (time, base backups, PITR enabled), asks nothing, and prints the writers
# it would stop and the docker and pgbackrest commands; status reads only, as always. Nothing is changed.
set -euo pipefail
# lib.sh and contract.sh: beside this script (install-backups.sh installs them with it)
declare -F botstack_lib_loaded >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=botstack-pitr DIE_PREFIX="botstack-pitr: FAILED:"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONFIG=${BOTSTACK_BACKUP_CONFIG:-$BOTSTACK_BACKUP_CONFIG_FILE}
readonly DATA_PATH=/var/lib/postgresql/data
ACTION=""
AT=""
LATEST=0
YES=0
DB_STOPPED=0

parse_args() {
  while (($#)); do
    case "$1" in
      --config) CONFIG=${2:?}; shift 2 ;;
      --at) AT=${2:?}; shift 2 ;;
      --latest) LATEST=1; shift ;;
      --yes) YES=1; shift ;;
      --dry-run) DRY_RUN=1; shift ;;
      -h|--help) usage; exit 0 ;;
      setup|backup|status|restore) ACTION=$1; shift; [[ $ACTION != backup || -z ${1:-} || $1 == -* ]] || { TYPE=$1; shift; } ;;
      *) usage_error "unknown argument: $1" ;;
    esac
  done
  [[ -n $ACTION ]] || usage_error "which action?"
  TYPE=${TYPE:-full}
  [[ $TYPE == full || $TYPE == diff ]] || die "backup type must be full or diff"
}

load_config() {
  source_config "$CONFIG" "install-backups.sh writes it"
  refuse_swarm_service pitr.sh
  : "${PG_CONTAINER:?PG_CONTAINER not set in $CONFIG}" "${PG_DB:?}"
  PITR_BACKUP_MAX_AGE_HOURS=${PITR_BACKUP_MAX_AGE_HOURS:-26}
}

pgbackrest() { docker exec "$PG_CONTAINER" pgbackrest "$@"; }

# The repository numbers the container is configured with (PGBACKREST_REPO<N>_PATH), e.g. "1 2".
repositories() {
  docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$PG_CONTAINER" \
    | sed -n 's/^PGBACKREST_REPO\([0-9]*\)_PATH=.*/\1/p' | sort -n | tr '\n' ' '
}

setup() {
  if ((DRY_RUN)); then
    require_running "$PG_CONTAINER"
    run docker exec "$PG_CONTAINER" pgbackrest stanza-create
    run docker exec "$PG_CONTAINER" pgbackrest check
    return 0
  fi
  pgbackrest stanza-create || die "pgbackrest stanza-create failed"
  pgbackrest check || die "pgbackrest check failed: WAL archiving does not work"
  log "stanza ready, WAL archiving checked"
}

backup() {
  local out repo started failed=0
  if ((DRY_RUN)); then
    require_running "$PG_CONTAINER"
    [[ -n $(repositories) ]] || log "(dry run) $PG_CONTAINER has no PGBACKREST_REPO<N>_PATH: nothing would be backed up"
    for repo in $(repositories); do
      run docker exec "$PG_CONTAINER" pgbackrest --repo="$repo" backup --type="$TYPE" --log-level-console=info
    done
    return 0
  fi
  for repo in $(repositories); do
    started=$(date +%s%N)
    if ! out=$(pgbackrest --repo="$repo" backup --type="$TYPE" --log-level-console=info 2>&1); then
      echo "$out" >&2
      "$SCRIPT_DIR/backup-alert.sh" --config "$CONFIG" failure \
        "pgBackRest $TYPE backup of $PG_DB to repo$repo FAILED: $(grep -m 1 ERROR <<<"$out" | cut -c 1-300)" || true
      echo "botstack-pitr: FAILED: pgbackrest backup --type=$TYPE to repo$repo" >&2
      failed=1
      continue
    fi
    # expire runs after every backup with the repository's retention; say what it did
    local retention removed wal tenths=$((($(date +%s%N) - started) / 100000000))
    grep -q 'expire command end: completed successfully' <<<"$out" || die "repo$repo: expire did not run after the backup"
    retention=$(grep -m 1 'expire command begin' <<<"$out" | grep -o -- "--repo$repo-retention-full[-a-z]*=[^ ]*" | tr '\n' ' ')
    removed=$(grep -c 'expire full backup' <<<"$out" || true)
    wal=$(grep -m 1 -o 'remove archive.*' <<<"$out" || true)
    log "$TYPE base backup to repo$repo done in $((tenths / 10)).$((tenths % 10)) s ($(grep -m 1 -o 'new backup label = [^ ]*' <<<"$out" || true)); \
expire ${retention% }: ${removed:-0} full backup(s) removed, WAL: ${wal:-none removed}"
  done
  ((!failed)) || exit 1
}

# Stop times of every base backup in every repository, as epoch seconds, oldest first (none: no output).
backup_ends() {
  local stop
  pgbackrest info | sed -n 's/^ *timestamp start\/stop: .* \/ //p' | while read -r stop; do date -u -d "$stop" +%s; done | sort -n
}

oldest_backup_end() { backup_ends | head -n 1; }

status() {
  local archiver failed=0 now last_ok last_fail newest
  now=$(date -u +%s)
  archiver=$(docker exec "$PG_CONTAINER" psql -XAtq -U "$PG_USER" -d postgres -F ' ' -c \
    "SELECT coalesce(extract(epoch FROM last_archived_time)::bigint, 0), coalesce(last_archived_wal, '-'),
            coalesce(extract(epoch FROM last_failed_time)::bigint, 0), failed_count,
            (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready')
     FROM pg_stat_archiver") || { echo "pitr: cannot read pg_stat_archiver"; return 1; }
  read -r last_ok wal last_fail count ready <<<"$archiver"
  if ((last_ok > 0)); then echo "pitr archive: last WAL $wal archived $(((now - last_ok) / 60)) min ago; $ready waiting"
  else echo "pitr archive: nothing archived yet; $ready waiting"; fi
  if ((last_fail > last_ok)); then
    echo "pitr archive: FAILING since $(date -u -d "@$last_fail" '+%Y-%m-%d %H:%M:%S UTC') ($count failures in all)"; failed=1
  fi
  local repo oldest
  for repo in $(repositories); do
    newest=$(pgbackrest --repo="$repo" info | sed -n 's/^ *timestamp start\/stop: .* \/ //p' | tail -n 1)
    if [[ -z $newest ]]; then echo "pitr base backup repo$repo: none"; failed=1; continue; fi
    local age=$(((now - $(date -u -d "$newest" +%s)) / 3600))
    echo "pitr base backup repo$repo: newest ended $newest ($age h ago)"
    ((age < PITR_BACKUP_MAX_AGE_HOURS)) || { echo "pitr base backup repo$repo: older than $PITR_BACKUP_MAX_AGE_HOURS h"; failed=1; }
  done
  oldest=$(oldest_backup_end)
  [[ -z $oldest ]] || echo "pitr restorable from: $(date -u -d "@$oldest" '+%Y-%m-%d %H:%M:%S UTC')"
  return "$failed"
}

confirm() {
  ((YES)) && return 0
  confirm_by_typing "$PG_DB" "$(printf 'This REPLACES database %s (container %s) with its state at %s.\nType the database name to continue: ' \
    "$PG_DB" "$PG_CONTAINER" "${AT:-the latest archived point}")"
}

bring_back() {
  local rc=$?
  if ((DB_STOPPED)); then
    docker start "$PG_CONTAINER" >/dev/null || { echo "botstack-pitr: could not start $PG_CONTAINER" >&2; rc=1; }
  fi
  start_writers || rc=1
  exit "$rc"
}

wait_healthy() {
  local i state=""
  for i in $(seq 1200); do
    # the healthcheck's own test, every half second instead of its 5 s interval (the wait is part of the
    # recovery time); ready comes early: a hot standby answers read-only during the replay, done means promoted
    if docker exec "$PG_CONTAINER" pg_isready -q -h 127.0.0.1 -U "$PG_USER" -d "$PG_DB" 2>/dev/null \
       && [[ $(docker exec "$PG_CONTAINER" psql -XAtq -U "$PG_USER" -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null) == f ]]; then
      return 0
    fi
    [[ $(docker inspect -f '{{.State.Running}}' "$PG_CONTAINER") == true ]] || break
    sleep 0.5
    : "$i"
  done
  state=$(docker inspect -f '{{.State.Health.Status}}' "$PG_CONTAINER" 2>/dev/null || true)
  docker logs --tail 30 "$PG_CONTAINER" >&2 || true
  die "$PG_CONTAINER did not finish recovery after the restore (health: ${state:-stopped}); its log is above"
}

restore() {
  local target_args=() target_epoch oldest
  if ((LATEST)); then
    [[ -z $AT ]] || die "--at and --latest exclude each other"
  else
    [[ $AT =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}$ ]] || die "--at must be 'YYYY-MM-DD HH:MM:SS' (UTC), or use --latest"
    target_epoch=$(date -u -d "$AT UTC" +%s) || die "--at '$AT' is not a valid time"
    ((target_epoch <= $(date -u +%s))) || die "--at $AT UTC is in the future"
    oldest=$(oldest_backup_end) || die "cannot list the base backups (pgbackrest info)"
    [[ -n $oldest ]] || die "there is no base backup to restore from"
    ((target_epoch >= oldest)) || die "--at $AT UTC is before the oldest base backup, which ended \
$(date -u -d "@$oldest" '+%Y-%m-%d %H:%M:%S') UTC: nothing can be restored to that time; nothing was changed"
    target_args=(--type=time "--target=$AT+00" --target-action=promote)
  fi
  ((DRY_RUN)) || confirm
  local image user env=() mounts=() line
  image=$(docker inspect -f '{{.Image}}' "$PG_CONTAINER")
  user=$(docker inspect -f '{{.Config.User}}' "$PG_CONTAINER")
  while IFS= read -r line; do [[ $line == PGBACKREST_* ]] && env+=(-e "$line"); done \
    < <(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$PG_CONTAINER")
  while IFS=' ' read -r name destination; do
    [[ -n $name ]] && mounts+=(-v "$name:$destination")
  done < <(docker inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{println .Name .Destination}}{{end}}{{end}}' "$PG_CONTAINER")
  # pgBackRest's secret files (passphrase, keys), read-only as in the database container
  while IFS=' ' read -r source destination; do
    [[ $destination == /run/secrets/pgbackrest* ]] && mounts+=(-v "$source:$destination:ro")
  done < <(docker inspect -f '{{range .Mounts}}{{if eq .Type "bind"}}{{println .Source .Destination}}{{end}}{{end}}' "$PG_CONTAINER")
  ((${#env[@]})) || die "$PG_CONTAINER has no PGBACKREST_* settings: point-in-time recovery is not enabled (backup.pitr.enabled)"
  local one_off=(docker run --rm --network none --user "$user" --read-only --tmpfs /tmp --tmpfs /var/run/postgresql
                 --cap-drop ALL --security-opt no-new-privileges "${mounts[@]}" "${env[@]}")
  if ((DRY_RUN)); then
    stop_writers "$PG_CONTAINER"  # lists them, stops none
    run docker stop -t 60 "$PG_CONTAINER"
    log "(dry run) with --delta when $DATA_PATH/PG_VERSION exists in the data volume (a plain restore when it is empty):"
    run "${one_off[@]}" --entrypoint pgbackrest "$image" restore --log-level-console=info "${target_args[@]}"
    run docker start "$PG_CONTAINER"
    log "(dry run) would wait until $PG_CONTAINER is promoted, start the writers again, then take a full base backup per repository"
    log "(dry run) nothing was stopped or restored"
    return 0
  fi
  trap bring_back EXIT
  stop_writers "$PG_CONTAINER"
  log "stopping $PG_CONTAINER"
  DB_STOPPED=1
  docker stop -t 60 "$PG_CONTAINER" >/dev/null
  log "restoring ${AT:-the latest point} with pgbackrest"
  # --delta reuses the files that match; on an empty data directory (a lost volume) a plain restore is needed
  local delta=()
  if "${one_off[@]}" --entrypoint test "$image" -s "$DATA_PATH/PG_VERSION"; then delta=(--delta); fi
  "${one_off[@]}" --entrypoint pgbackrest "$image" restore --log-level-console=info "${delta[@]}" "${target_args[@]}" \
    || die "pgbackrest restore failed (the data directory may be partly restored; run the restore again)"
  docker start "$PG_CONTAINER" >/dev/null
  DB_STOPPED=0
  log "replaying WAL to ${AT:-the end of the archive}"
  wait_healthy
  if [[ -n $AT ]]; then log "restored $PG_DB to $AT UTC"; else log "restored $PG_DB to the latest archived point"; fi
  start_writers || true  # bring_back tries again on exit
  # The database now writes a new timeline; a fresh base backup on it keeps the next recovery a plain replay
  # from one backup instead of a walk through the history of every earlier restore.
  log "taking a full base backup of the new timeline"
  TYPE=full
  (backup) || echo "botstack-pitr: WARNING: the restore succeeded, but the base backup after it failed (alerted); run pitr.sh backup" >&2
}

main() {
  parse_args "$@"
  load_config
  case $ACTION in
    setup) setup ;;
    backup) backup ;;
    status) status ;;
    restore) restore ;;
  esac
}

main "$@"
