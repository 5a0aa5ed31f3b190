#!/usr/bin/env bash
# backup-status.sh - is the last good backup recent enough? (`make backup-status STACK=prod`)
#
# usage: backup-status.sh [--config FILE] [--alert] [--dry-run]
#
# Prints the last successful dump (time, age, name, size, how long it took) and the last failure when
# it is newer, from BACKUP_DIR/.last-success and .last-failure (written by backup.sh). Exit status:
# 0 fresh, 1 stale (the last success is older than STALE_AFTER_MINUTES, default 780 = 13 h: two
# 6-hourly runs missed, plus an hour) or there never was one, 2 usage or config error.
# --alert (hourly from cron): print nothing while fresh; when stale, alert through backup-alert.sh,
# at most once per STALE_AFTER_MINUTES (marker BACKUP_DIR/.stale-alerted, removed by the next success).
# With PITR=1 it adds `pitr.sh status` (the WAL archive's last success and age, failing archiving, base
# backups), and a failing archive or a missing or old base backup counts as a problem too.
# --dry-run: the report and the exit status are the same (it only reads); the alert marker is neither
# removed nor touched (`would run: ...` instead), and --alert prints the alert instead of sending it.
set -euo pipefail
# lib.sh and contract.sh: beside this script (install-backups.sh installs them with it)
declare -F botstack_lib_loaded >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=botstack-status DIE_PREFIX="botstack-status:" DIE_STATUS=2

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONFIG=${BOTSTACK_BACKUP_CONFIG:-$BOTSTACK_BACKUP_CONFIG_FILE}
ALERT=0
DRY_RUN_FLAG=()  # passed on to backup-alert.sh

parse_args() {
  while (($#)); do
    case "$1" in
      --config) CONFIG=${2:?}; shift 2 ;;
      --dry-run) DRY_RUN=1; shift ;;
      --alert) ALERT=1; shift ;;
      *) help_or_unknown "$1" ;;
    esac
  done
}

load_config() {
  source_config "$CONFIG" "install-backups.sh writes it"
  : "${PG_DB:?PG_DB not set in $CONFIG}"
  BACKUP_DIR=${BACKUP_DIR:-$BOTSTACK_BACKUP_DIR}
  STALE_AFTER_MINUTES=${STALE_AFTER_MINUTES:-780}
  [[ $STALE_AFTER_MINUTES =~ ^[1-9][0-9]*$ ]] || die "STALE_AFTER_MINUTES must be a whole number >= 1"
}

when() { date -u -d "@$1" '+%Y-%m-%d %H:%M:%S UTC'; }
age() { local s=$1; if ((s < 3600)); then echo "$((s / 60)) min"; else echo "$((s / 3600)) h $((s % 3600 / 60)) min"; fi; }

main() {
  parse_args "$@"
  if ((DRY_RUN)); then DRY_RUN_FLAG=(--dry-run); fi
  load_config
  local now success_at=0 name="" bytes=0 seconds=0 failed_at=0 failure="" lines=() problem=""
  now=$(date -u +%s)
  if [[ -f $BACKUP_DIR/.last-success ]]; then
    IFS=$'\t' read -r success_at name bytes seconds <"$BACKUP_DIR/.last-success"
    lines+=("last success: $(when "$success_at") ($(age $((now - success_at))) ago), $name, $bytes bytes, took ${seconds}s")
    ((now - success_at <= STALE_AFTER_MINUTES * 60)) \
      || problem="the last good backup of $PG_DB is $(age $((now - success_at))) old (limit $(age $((STALE_AFTER_MINUTES * 60))))"
  else
    lines+=("last success: none")
    problem="no backup of $PG_DB has succeeded yet"
  fi
  if [[ -f $BACKUP_DIR/.last-failure ]]; then
    IFS=$'\t' read -r failed_at failure <"$BACKUP_DIR/.last-failure"
    ((failed_at > success_at)) && lines+=("last failure: $(when "$failed_at") ($(age $((now - failed_at))) ago): $failure")
  fi
  if [[ ${PITR:-0} == 1 ]]; then
    local pitr
    if ! pitr=$("$SCRIPT_DIR/pitr.sh" --config "$CONFIG" status 2>&1); then
      problem="${problem:+$problem; }point-in-time recovery: $(grep -E 'FAILING|none|older than|cannot' <<<"$pitr" | head -n 1)"
    fi
    lines+=("$pitr")
  fi
  if [[ -z $problem ]]; then
    [[ ! -e $BACKUP_DIR/.stale-alerted ]] || run rm -f "$BACKUP_DIR/.stale-alerted"
    ((ALERT)) || { printf '%s\n' "${lines[@]}"; echo "status: OK"; }
    return 0
  fi
  printf '%s\n' "${lines[@]}"
  echo "status: STALE: $problem"
  if ((ALERT)); then
    if [[ -n $(find "$BACKUP_DIR/.stale-alerted" -mmin "-$STALE_AFTER_MINUTES" 2>/dev/null) ]]; then
      echo "botstack-status: already alerted within the last $(age $((STALE_AFTER_MINUTES * 60)))"
    elif "$SCRIPT_DIR/backup-alert.sh" --config "$CONFIG" "${DRY_RUN_FLAG[@]}" stale "STALE: $problem"; then
      run touch "$BACKUP_DIR/.stale-alerted"
    fi
  fi
  return 1
}

main "$@"
