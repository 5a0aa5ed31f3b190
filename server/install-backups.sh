#!/usr/bin/env bash
# install-backups.sh - install the backup scripts, their config and a cron entry; idempotent.
#
# usage: install-backups.sh (--container NAME | --service NAME) --db NAME --db-user NAME [--schedule "0 */6 * * *"]
#                           [--retention-days 7] [--rclone-remote REMOTE:PATH] [--age-recipient age1...]
#                           [--alert-chat-id ID --bot-token-file FILE] [--telegram-api-url URL]
#                           [--healthcheck-url URL] [--stale-after-minutes 780]
#                           [--pitr --pitr-schedule "15 3 * * *"] [--run-now] [--dry-run]
#
# Run as root on the VDS from a directory holding the backup scripts (backup.sh, verify-backup.sh,
# restore.sh, backup-alert.sh, backup-status.sh). Installs them to /usr/local/lib/botstack (0755),
# writes /etc/botstack/backup.env (0600; no secrets: pg_dump uses the container's local socket, the
# bot token stays in its file), /etc/cron.d/botstack-backup (0644: backup.sh on the schedule, and
# hourly `backup-status.sh --alert`, which alerts when the last good backup is stale) with output in
# /var/log/botstack-backup.log, and /etc/logrotate.d/botstack-backup (weekly, 8 kept, compressed).
# Creates the backup directory (0700). Installs logrotate, and age / rclone when a recipient / remote
# is given, from the distribution. rclone's remote credentials are NOT handled here: put them in
# /root/.config/rclone/rclone.conf (0600) yourself.
# --service: the database is a swarm service (the cluster stack) whose task runs on this node: backup.sh finds its
# container at each run by the service's label (a task's container name changes with every task).
# --pitr: point-in-time recovery is on (the database image has pgBackRest and archives WAL): installs
# pitr.sh, a cron line for the base backup on --pitr-schedule, and backup-status.sh reports the archive.
# --run-now: then run the first backup (verified by a restore) at once, and with --pitr create the stanza,
# check archiving and take the first base backup; any failure fails the install.
# Output: `changed:`/`ok:` lines, then `botstack-provision: N changed`.
set -euo pipefail
# lib.sh and contract.sh: beside this script (install-backups.sh installs them with it)
declare -F botstack_lib_loaded >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly LIB_DIR=$BOTSTACK_INSTALLED_SCRIPTS_DIR
readonly CRON_FILE=/etc/cron.d/botstack-backup
readonly CONFIG=$BOTSTACK_BACKUP_CONFIG_FILE
readonly LOGROTATE_FILE=/etc/logrotate.d/botstack-backup
readonly LOG_FILE=/var/log/botstack-backup.log
readonly BACKUP_DIR=$BOTSTACK_BACKUP_DIR
# lib.sh and contract.sh too: the installed scripts source them from beside themselves
readonly SCRIPTS=(backup.sh verify-backup.sh restore.sh backup-alert.sh backup-status.sh pitr.sh lib.sh contract.sh)
SCHEDULE="0 */6 * * *"
RETENTION_DAYS=7
STALE_AFTER_MINUTES=780
PG_CONTAINER="" PG_SERVICE="" PG_DB="" PG_USER="" RCLONE_REMOTE="" AGE_RECIPIENT=""
ALERT_CHAT_ID="" BOT_TOKEN_FILE="" TELEGRAM_API_URL="https://api.telegram.org" HEALTHCHECK_URL=""
PITR=0 PITR_SCHEDULE="15 3 * * *"
RUN_NOW=0


parse_args() {
  while (($#)); do
    case "$1" in
      --container) PG_CONTAINER=${2:?}; shift 2 ;;
      --service) PG_SERVICE=${2:?}; shift 2 ;;
      --db) PG_DB=${2:?}; shift 2 ;;
      --user|--db-user) PG_USER=${2:?}; shift 2 ;;
      --schedule) SCHEDULE=${2:?}; shift 2 ;;
      --retention-days) RETENTION_DAYS=${2:?}; shift 2 ;;
      --rclone-remote) RCLONE_REMOTE=${2:?}; shift 2 ;;
      --age-recipient) AGE_RECIPIENT=${2:?}; shift 2 ;;
      --alert-chat-id) ALERT_CHAT_ID=${2:?}; shift 2 ;;
      --bot-token-file) BOT_TOKEN_FILE=${2:?}; shift 2 ;;
      --telegram-api-url) TELEGRAM_API_URL=${2:?}; shift 2 ;;
      --healthcheck-url) HEALTHCHECK_URL=${2:?}; shift 2 ;;
      --stale-after-minutes) STALE_AFTER_MINUTES=${2:?}; shift 2 ;;
      --pitr) PITR=1; shift ;;
      --pitr-schedule) PITR_SCHEDULE=${2:?}; shift 2 ;;
      --run-now) RUN_NOW=1; shift ;;
      --dry-run) DRY_RUN=1; shift ;;
      *) help_or_unknown "$1" ;;
    esac
  done
  [[ -n $PG_CONTAINER$PG_SERVICE && -n $PG_DB && -n $PG_USER ]] \
    || usage_error "--container (or --service), --db and --db-user are required"
  [[ -z $PG_CONTAINER || -z $PG_SERVICE ]] || usage_error "--container and --service exclude each other"
  # pitr.sh works on the database container by name, with pgBackRest in its image: not on a swarm service
  ((!PITR)) || [[ -z $PG_SERVICE ]] || usage_error "--pitr works with --container only"
  local v
  for v in "${PG_CONTAINER:-$PG_SERVICE}" "$PG_DB" "$PG_USER"; do
    [[ $v =~ ^[A-Za-z0-9_.-]+$ ]] || die "invalid name: $v"
  done
  [[ $RETENTION_DAYS =~ ^[1-9][0-9]*$ ]] || die "--retention-days must be a whole number >= 1"
  [[ $(wc -w <<<"$SCHEDULE") == 5 && $SCHEDULE =~ ^[0-9*/,\ -]+$ ]] || die "--schedule must be 5 cron fields"
  [[ $(wc -w <<<"$PITR_SCHEDULE") == 5 && $PITR_SCHEDULE =~ ^[0-9*/,\ -]+$ ]] || die "--pitr-schedule must be 5 cron fields"
  [[ -z $AGE_RECIPIENT || $AGE_RECIPIENT =~ ^age1[0-9a-z]+$ ]] || die "--age-recipient must be an age public key (age1...)"
  [[ -z $RCLONE_REMOTE || $RCLONE_REMOTE =~ ^[A-Za-z0-9_.-]+:[A-Za-z0-9_./-]*$ ]] || die "--rclone-remote must look like remote:path"
  # PostgreSQL cuts names to 63 bytes: "<db>_verify" must stay longer than, and distinct from, the live name
  ((${#PG_DB} <= 56)) || die "--db must be at most 56 characters (the backup check restores into <db>_verify)"
  [[ $STALE_AFTER_MINUTES =~ ^[1-9][0-9]*$ ]] || die "--stale-after-minutes must be a whole number >= 1"
  [[ -z $ALERT_CHAT_ID || $ALERT_CHAT_ID =~ ^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$ ]] \
    || die "--alert-chat-id must be a Telegram chat id (-100123...) or @channel"
  [[ -z $ALERT_CHAT_ID || $BOT_TOKEN_FILE =~ ^/[A-Za-z0-9_./-]+$ ]] || die "--alert-chat-id needs --bot-token-file /path"
  local url
  for url in "$TELEGRAM_API_URL" "$HEALTHCHECK_URL"; do
    [[ -z $url || $url =~ ^https?://[A-Za-z0-9._~:/?#@!\&+,\;=%-]+$ ]] || die "not a plain http(s) URL: ${url:0:60}"
  done
}


ensure_pkg() {
  if pkg_installed "$1"; then ok "package $1"; return 0; fi
  ((DRY_RUN)) || apt_install "$1"
  changed "package $1 installed"
}

# which database backup.sh dumps: the container by its name, or a swarm service's task (found at each run)
database_line() {
  if [[ -n $PG_SERVICE ]]; then echo "PG_SERVICE=$PG_SERVICE"; else echo "PG_CONTAINER=$PG_CONTAINER"; fi
}

cron_file() {
  cat <<EOF2
# managed by botstack install-backups.sh
SHELL=/bin/bash
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
$SCHEDULE root $LIB_DIR/backup.sh >>$LOG_FILE 2>&1
23 * * * * root $LIB_DIR/backup-status.sh --alert >>$LOG_FILE 2>&1
EOF2
  ((!PITR)) || echo "$PITR_SCHEDULE root $LIB_DIR/pitr.sh backup full >>$LOG_FILE 2>&1"
}



main() {
  parse_args "$@"
  require_root
  local f
  for f in "${SCRIPTS[@]}"; do
    [[ -f $SRC_DIR/$f ]] || die "$SRC_DIR/$f missing"
    put_file "$LIB_DIR/$f" 755 root:root <"$SRC_DIR/$f"
  done
  put_file "$CONFIG" 600 root:root <<EOF2
# managed by botstack install-backups.sh (no secrets here)
$(database_line)
PG_USER=$PG_USER
PG_DB=$PG_DB
BACKUP_DIR=$BACKUP_DIR
RETENTION_DAYS=$RETENTION_DAYS
RCLONE_REMOTE=$RCLONE_REMOTE
AGE_RECIPIENT=$AGE_RECIPIENT
VERIFY=1
STALE_AFTER_MINUTES=$STALE_AFTER_MINUTES
ALERT_CHAT_ID=$ALERT_CHAT_ID
BOT_TOKEN_FILE=$BOT_TOKEN_FILE
TELEGRAM_API_URL='$TELEGRAM_API_URL'
HEALTHCHECK_URL='$HEALTHCHECK_URL'
PITR=$PITR
EOF2
  put_file "$CRON_FILE" 644 root:root < <(cron_file)
  put_file "$LOGROTATE_FILE" 644 root:root <<EOF2
# managed by botstack install-backups.sh
$LOG_FILE {
    weekly
    rotate 8
    compress
    delaycompress
    missingok
    notifempty
    create 0640 root adm
}
EOF2
  ensure_dir "$BACKUP_DIR" 700 root:root
  ensure_pkg logrotate
  [[ -z $AGE_RECIPIENT ]] || ensure_pkg age
  [[ -z $RCLONE_REMOTE ]] || ensure_pkg rclone
  if ((RUN_NOW && !DRY_RUN)); then
    echo "running the first backup now (verified by a restore)"
    "$LIB_DIR/backup.sh" 2>&1 | tee -a "$LOG_FILE" || die "the first backup failed (output above, and in $LOG_FILE)"
    if ((PITR)); then
      { "$LIB_DIR/pitr.sh" setup && "$LIB_DIR/pitr.sh" backup full; } 2>&1 | tee -a "$LOG_FILE" \
        || die "point-in-time recovery setup or its first base backup failed (output above, and in $LOG_FILE)"
    fi
  fi
  summary
}

main "$@"
