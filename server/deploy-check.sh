#!/usr/bin/env bash
# deploy-check.sh - wait until URL answers HTTP 200, or fail naming what is unhealthy.
#
# usage: deploy-check.sh [--dry-run] URL [TIMEOUT_SECONDS=120] [INTERVAL_SECONDS=2]
#
# Polls URL with curl (5 s per attempt). Exits 0 at the first 200. After TIMEOUT it prints the
# status and body (first 2 KB) of the last attempt and, when the Docker CLI can reach an engine here,
# the containers that are not healthy, then exits 1. --dry-run checks the arguments and prints what
# it would poll, without sending a request.
set -euo pipefail
# lib.sh: in front of this script when it came on stdin, else beside it
declare -F botstack_lib_loaded >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BODY=""

unhealthy_containers() {
  command -v docker >/dev/null || return 0
  local rows
  rows=$(docker ps -a --format '{{.Names}}\t{{.Status}}' 2>/dev/null) || return 0
  echo "containers not reported (healthy) by Docker:"
  grep -vE '\(healthy\)' <<<"$rows" | sed 's/^/  /' || echo "  (none)"
}

main() {
  LOG_TAG=deploy-check DIE_PREFIX="deploy-check:" DIE_STATUS=2
  while [[ ${1:-} == -* ]]; do
    case "$1" in
      --dry-run) DRY_RUN=1; shift ;;
      -h|--help) usage; exit 0 ;;
      *) usage_error "unknown option: $1" ;;
    esac
  done
  (($# >= 1)) || { usage >&2; exit 2; }
  local url=$1 timeout=${2:-120} interval=${3:-2} status deadline attempts=0
  [[ $timeout =~ ^[0-9]+$ && $interval =~ ^[0-9]+$ ]] || die "TIMEOUT and INTERVAL are seconds"
  if ((DRY_RUN)); then
    log "(dry run) would poll $url every ${interval}s for up to ${timeout}s until it answers 200"
    return 0
  fi
  BODY=$(mktemp)
  trap 'rm -f "$BODY" "$BODY.err"' EXIT
  deadline=$((SECONDS + timeout))
  while :; do
    attempts=$((attempts + 1))
    status=$(curl -sS -o "$BODY" -w '%{http_code}' --max-time 5 "$url" 2>"$BODY.err") || status="000"
    if [[ $status == 200 ]]; then
      log "ok: $url answered 200 after $attempts attempt(s)"
      rm -f "$BODY.err"
      return 0
    fi
    ((SECONDS + interval <= deadline)) || break
    sleep "$interval"
  done
  {
    log "FAILED: $url did not answer 200 within ${timeout}s ($attempts attempts)"
    echo "last status: $status"
    if [[ -s $BODY.err ]]; then echo "curl: $(head -c 500 "$BODY.err")"; fi
    echo "last body:"; head -c 2048 "$BODY"; echo
    unhealthy_containers
  } >&2
  rm -f "$BODY.err"
  return 1
}

main "$@"
