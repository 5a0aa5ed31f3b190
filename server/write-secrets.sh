#!/usr/bin/env bash
# write-secrets.sh - write secrets from stdin into one file each; idempotent, never prints a value.
#
# usage: write-secrets.sh [--dry-run] DIR  < lines of "name<TAB>base64(value)"
#
# DIR is created 0700 and owned by the caller (root on the VDS: /etc/botstack/secrets); it is the
# guard. Each secret becomes DIR/name, mode 0444, so a container's non-root user can read the single
# file bind-mounted at /run/secrets/<name>. A file is replaced (atomically: temp file + rename) only
# when its content or mode differs; files not named on stdin are left alone. Names are
# [A-Za-z0-9_.-]+. Values are given base64-encoded so any byte (newlines too) survives.
# Output: `changed: DIR/name` / `ok: DIR/name`, then `botstack-provision: N changed`.
set -euo pipefail

DRY_RUN=0
CHANGED=0
DIR=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "error: $*" >&2; exit 1; }
changed() { CHANGED=$((CHANGED + 1)); if ((DRY_RUN)); then echo "changed: (dry run) $*"; else echo "changed: $*"; fi; }
ok() { echo "ok: $*"; }

parse_args() {
  while (($#)); do
    case "$1" in
      --dry-run) DRY_RUN=1; shift ;;
      -h|--help) usage; exit 0 ;;
      -*) usage >&2; die "unknown option: $1" ;;
      *) [[ -z $DIR ]] || die "only one DIR"; DIR=$1; shift ;;
    esac
  done
  [[ -n $DIR ]] || { usage >&2; die "DIR is required"; }
}

ensure_dir() {
  local me
  me="$(id -u):$(id -g)"
  if [[ -d $DIR && $(stat -c '%a %u:%g' "$DIR") == "700 $me" ]]; then ok "$DIR"; return 0; fi
  if ((!DRY_RUN)); then
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    [[ $(stat -c '%u:%g' "$DIR") == "$me" ]] || chown "$me" "$DIR"
  fi
  changed "$DIR (mode 700)"
}

write_one() {
  local name=$1 b64=$2 tmp dest
  [[ $name =~ ^[A-Za-z0-9_.-]+$ && $name != . && $name != .. ]] || die "invalid secret name: ${name:0:40}"
  dest="$DIR/$name"
  if ((DRY_RUN)) && [[ ! -d $DIR ]]; then changed "$dest"; return 0; fi
  tmp=$(mktemp "$DIR/.${name}.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -f '$tmp'" RETURN
  base64 -d >"$tmp" <<<"$b64" 2>/dev/null || die "secret $name: value is not valid base64"
  if [[ -f $dest && ! -L $dest ]] && cmp -s "$tmp" "$dest" && [[ $(stat -c '%a' "$dest") == 444 ]]; then
    ok "$dest"; return 0
  fi
  if ((!DRY_RUN)); then chmod 444 "$tmp"; mv -f "$tmp" "$dest"; fi
  changed "$dest"
}

main() {
  parse_args "$@"
  umask 077
  ensure_dir
  local name b64 n=0
  while IFS=$'\t' read -r name b64 || [[ -n ${name:-} ]]; do
    [[ -z $name ]] && continue
    write_one "$name" "${b64:-}"
    n=$((n + 1))
  done
  ((n > 0)) || echo "warning: no secrets on stdin" >&2
  if ((DRY_RUN)); then echo "botstack-provision: $CHANGED changed (dry run)"
  else echo "botstack-provision: $CHANGED changed"; fi
}

main "$@"
