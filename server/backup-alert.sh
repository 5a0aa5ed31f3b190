#!/usr/bin/env bash
# backup-alert.sh - tell someone how a backup went: a Telegram message and/or a healthcheck-URL ping.
#
# usage: backup-alert.sh [--config FILE] [--dry-run] success|failure|stale MESSAGE
#
# Config (/etc/botstack/backup.env, as for backup.sh; every key optional):
#   ALERT_CHAT_ID=-1001234567890   # Telegram chat that gets failure and stale messages (not successes)
#   BOT_TOKEN_FILE=/etc/botstack/secrets/bot_token   # the bot's own token, read from this file
#   TELEGRAM_API_URL=https://api.telegram.org        # Bot API base URL (a self-hosted server works)
#   HEALTHCHECK_URL=https://hc-ping.com/<uuid>       # pinged on success, <url>/fail otherwise
#                                                    # (healthchecks.io's convention; it also notices silence)
# Nothing configured: nothing to do, exit 0. The token and the URL reach curl on stdin (`-K -`), never on
# a command line; curl's answer is not printed (it could echo the URL). Exit non-zero when any
# configured channel failed.
# --dry-run checks the same (the token file readable) and prints what it would send, and to which chat,
# without sending anything; it prints neither the token nor the healthcheck URL (the URL is a credential).
set -euo pipefail
# lib.sh and contract.sh: beside this script (install-backups.sh installs them with it)
declare -F botstack_lib_loaded >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=botstack-alert DIE_PREFIX="botstack-alert: FAILED:"

CONFIG=${BOTSTACK_BACKUP_CONFIG:-$BOTSTACK_BACKUP_CONFIG_FILE}
KIND=""
MESSAGE=""
WOULD_SEND=0  # dry run: the channels that would have been used

parse_args() {
  while (($#)); do
    case "$1" in
      --config) CONFIG=${2:?}; shift 2 ;;
      --dry-run) DRY_RUN=1; shift ;;
      -h|--help) usage; exit 0 ;;
      -*) usage_error "unknown option: $1" ;;
      *) if [[ -z $KIND ]]; then KIND=$1; else MESSAGE=$1; fi; shift ;;
    esac
  done
  [[ $KIND == success || $KIND == failure || $KIND == stale ]] || usage_error "kind must be success, failure or stale"
}

load_config() {
  source_config "$CONFIG"
  ALERT_CHAT_ID=${ALERT_CHAT_ID:-}
  BOT_TOKEN_FILE=${BOT_TOKEN_FILE:-}
  TELEGRAM_API_URL=${TELEGRAM_API_URL:-https://api.telegram.org}
  HEALTHCHECK_URL=${HEALTHCHECK_URL:-}
}

# curl with the URL in a config on stdin, so it is in no process list; the answer goes nowhere.
post() {
  local url=$1; shift
  curl -sS -o /dev/null --fail --max-time 20 --retry 2 -K - "$@" <<<"url = \"$url\"" 2>/dev/null
}

telegram() {
  [[ -n $ALERT_CHAT_ID && $KIND != success ]] || return 0
  [[ -r $BOT_TOKEN_FILE ]] || { echo "botstack-alert: bot token file '$BOT_TOKEN_FILE' not readable" >&2; return 1; }
  local token text
  text="botstack on $(hostname): $MESSAGE"
  if ((DRY_RUN)); then
    echo "botstack-alert: (dry run) would send to Telegram chat $ALERT_CHAT_ID through ${TELEGRAM_API_URL%/} (token from $BOT_TOKEN_FILE): $text"
    WOULD_SEND=$((WOULD_SEND + 1))
    return 0
  fi
  token=$(<"$BOT_TOKEN_FILE")
  if post "${TELEGRAM_API_URL%/}/bot$token/sendMessage" --data-urlencode "chat_id=$ALERT_CHAT_ID" \
       --data-urlencode "text=$text"; then
    echo "botstack-alert: sent to Telegram chat $ALERT_CHAT_ID: $text"
  else
    echo "botstack-alert: Telegram sendMessage to chat $ALERT_CHAT_ID failed" >&2; return 1
  fi
}

healthcheck() {
  [[ -n $HEALTHCHECK_URL ]] || return 0
  local url=${HEALTHCHECK_URL%/}
  [[ $KIND == success ]] || url="$url/fail"
  if ((DRY_RUN)); then
    if [[ $KIND == success ]]; then echo "botstack-alert: (dry run) would ping the healthcheck URL with: $MESSAGE"
    else echo "botstack-alert: (dry run) would ping the healthcheck URL's /fail ($KIND) with: $MESSAGE"; fi
    WOULD_SEND=$((WOULD_SEND + 1))
    return 0
  fi
  if post "$url" --data-binary "$MESSAGE"; then echo "botstack-alert: healthcheck pinged ($KIND)"
  else echo "botstack-alert: healthcheck ping ($KIND) failed" >&2; return 1; fi
}

main() {
  parse_args "$@"
  load_config
  local rc=0
  telegram || rc=1
  healthcheck || rc=1
  if ((DRY_RUN && !WOULD_SEND)); then echo "botstack-alert: (dry run) no channel is configured for a $KIND: nothing would be sent"; fi
  return "$rc"
}

main "$@"
