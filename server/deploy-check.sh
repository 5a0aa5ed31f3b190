#!/usr/bin/env bash
# deploy-check.sh - wait until URL answers HTTP 200, or fail naming what is unhealthy.
#
# usage: deploy-check.sh URL [TIMEOUT_SECONDS=120] [INTERVAL_SECONDS=2]
#
# Polls URL with curl (5 s per attempt). Exits 0 at the first 200. After TIMEOUT it prints the
# status and body (first 2 KB) of the last attempt and, when the Docker CLI can reach an engine here,
# the containers that are not healthy, then exits 1.
set -euo pipefail

BODY=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

unhealthy_containers() {
  command -v docker >/dev/null || return 0
  local rows
  rows=$(docker ps -a --format '{{.Names}}\t{{.Status}}' 2>/dev/null) || return 0
  echo "containers not reported (healthy) by Docker:"
  grep -vE '\(healthy\)' <<<"$rows" | sed 's/^/  /' || echo "  (none)"
}

main() {
  [[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
  (($# >= 1)) || { usage >&2; exit 2; }
  local url=$1 timeout=${2:-120} interval=${3:-2} status deadline attempts=0
  [[ $timeout =~ ^[0-9]+$ && $interval =~ ^[0-9]+$ ]] || { echo "TIMEOUT and INTERVAL are seconds" >&2; exit 2; }
  BODY=$(mktemp)
  trap 'rm -f "$BODY" "$BODY.err"' EXIT
  deadline=$((SECONDS + timeout))
  while :; do
    attempts=$((attempts + 1))
    status=$(curl -sS -o "$BODY" -w '%{http_code}' --max-time 5 "$url" 2>"$BODY.err") || status="000"
    if [[ $status == 200 ]]; then
      echo "deploy-check: ok: $url answered 200 after $attempts attempt(s)"
      rm -f "$BODY.err"
      return 0
    fi
    ((SECONDS + interval <= deadline)) || break
    sleep "$interval"
  done
  {
    echo "deploy-check: FAILED: $url did not answer 200 within ${timeout}s ($attempts attempts)"
    echo "last status: $status"
    if [[ -s $BODY.err ]]; then echo "curl: $(head -c 500 "$BODY.err")"; fi
    echo "last body:"; head -c 2048 "$BODY"; echo
    unhealthy_containers
  } >&2
  rm -f "$BODY.err"
  return 1
}

main "$@"
