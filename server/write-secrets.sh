#!/usr/bin/env bash
# write-secrets.sh - write secrets from stdin into one file each; idempotent, never prints a value.
#
# usage: write-secrets.sh [--dry-run] DIR  < lines of "name<TAB>base64(value)"
#
# DIR is created 0700 and owned by the caller (root on the VDS: /etc/botstack/secrets); it is the
# guard. Each secret becomes DIR/name, mode 0444, so a container's non-root user can read the single
# file bind-mounted at /run/secrets/<name>. A file is replaced (atomically: temp file + rename) only
# when its content, mode or owner differs; files not named on stdin are left alone. Names are
# [A-Za-z0-9_.-]+. Values are given base64-encoded so any byte (newlines too) survives.
# Output: `changed: DIR/name written` / `ok: DIR/name`, then `botstack-provision: N changed`; with
# --dry-run nothing is written and each line says what would be (invalid input still fails).
set -euo pipefail
# lib.sh: in front of this script when it came on stdin, else beside it
declare -F botstack_lib_loaded >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR=""

parse_args() {
  while (($#)); do
    case "$1" in
      --dry-run) DRY_RUN=1 ;;
      -h|--help) usage; exit 0 ;;
      -*) usage_error "unknown option: $1" ;;
      *) [[ -z $DIR ]] || die "only one DIR"; DIR=$1 ;;
    esac
    shift
  done
  [[ -n $DIR ]] || usage_error "DIR is required"
}

# OWNER: the caller, numerically (dev runs this as a user that may have no name in a container).
write_one() {
  local name=$1 b64=$2 owner=$3
  [[ $name =~ ^[A-Za-z0-9_.-]+$ && $name != . && $name != .. ]] || die "invalid secret name: ${name:0:40}"
  base64 -d <<<"$b64" >/dev/null 2>&1 || die "secret $name: value is not valid base64"
  put_file "$DIR/$name" 444 "$owner" < <(base64 -d <<<"$b64")
}

main() {
  parse_args "$@"
  umask 077
  local owner name b64 n=0
  owner="$(id -u):$(id -g)"
  ensure_dir "$DIR" 700 "$owner"
  while IFS=$'\t' read -r name b64 || [[ -n ${name:-} ]]; do
    [[ -z $name ]] && continue
    write_one "$name" "${b64:-}" "$owner"
    n=$((n + 1))
  done
  ((n > 0)) || echo "warning: no secrets on stdin" >&2
  summary
}

main "$@"
