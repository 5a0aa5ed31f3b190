#!/usr/bin/env bash
# lib.sh - what the botstack server scripts share. Sourced by them; it does nothing when run alone.
#
# How a script gets it: a script installed on the host (the deploy user's botstack/server, the
# repository's server/ in dev) finds it beside itself; a script sent on stdin (provision.sh) comes
# with lib.sh and contract.sh in front of it (components/commands.py `shipped_script`). So every
# script starts with
#   set -euo pipefail
#   declare -F botstack_lib_loaded >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# lib.sh loads contract.sh (generated from components/contract.py: the paths and labels the program
# and the scripts share, as BOTSTACK_* variables) from beside itself in the same way.
# It only defines functions and variables; options (set -euo pipefail, lastpipe) are the script's.
#
# Settings (a script assigns them after sourcing; defaults in brackets):
#   DRY_RUN     1: change nothing, report what would change (--dry-run) [0]
#   DIE_PREFIX  what `die` prints before its message ["error:"]
#   DIE_STATUS  the exit status of `die` [1]
#   LOG_TAG     what `log` prints before its message [the script's file name without .sh]
#   APT_LOG     where `apt_install` appends apt-get's output [/var/log/botstack-provision-apt.log]
# State it keeps: CHANGED (items changed so far), LAST_CHANGED (1 when the last item changed),
# DIE_MESSAGE (the message `die` exited with, for an EXIT trap).
#
# Functions:
#   usage                      print the running script's header comment (its --help)
#   die MESSAGE                "$DIE_PREFIX MESSAGE" to stderr, exit $DIE_STATUS
#   usage_error MESSAGE        usage to stderr, then die MESSAGE
#   help_or_unknown ARG        the last case of an argument loop: -h/--help prints usage and exits 0,
#                              anything else is a usage error
#   log MESSAGE                "$LOG_TAG: MESSAGE" to stdout
#   ok ITEM / changed ITEM     a converging script's line per item: `ok: ITEM`, `changed: ITEM`
#                              (`changed: (dry run) ITEM` when DRY_RUN)
#   summary                    its last line: `botstack-provision: N changed` (` (dry run)` added);
#                              the stack and the tests read N from it, whichever script printed it
#   run COMMAND...             run COMMAND; when DRY_RUN print `would run: COMMAND` (quoted) instead
#   run_from FILE COMMAND...   run COMMAND reading FILE on stdin; when DRY_RUN print `would run: COMMAND < FILE`
#   require_running CONTAINER  die unless CONTAINER exists and is running (a dry run's check of the engine)
#   require_root               die unless running as root
#   source_config FILE [HINT]  source FILE's KEY=value lines; die naming FILE (and HINT) if it is missing
#   has_mode PATH MODE OWNER:GROUP  PATH has that mode (as `stat -c %a` prints it) and owner (names or ids)
#   temp_beside DEST           a new temp file in DEST's directory, so `mv` onto DEST is an atomic rename
#   put_file DEST MODE OWNER:GROUP < CONTENT  replace DEST atomically when content, mode or owner differ
#                              (any bytes; from a pipe it needs `shopt -s lastpipe` to count the change)
#   ensure_dir DIR MODE OWNER:GROUP  create DIR, or fix its mode and owner
#   pkg_installed PACKAGE      dpkg has PACKAGE installed
#   apt_install PACKAGE...     apt-get install; on failure update the lists once and retry; die with
#                              the log's tail if that fails too
#   confirm_by_typing ANSWER PROMPT  print PROMPT on the terminal; die unless the user types ANSWER
#                              (or when there is no terminal: the caller offers --yes instead)
#   stop_writers [DB_CONTAINER]  stop the running containers labelled $BOTSTACK_WRITER_LABEL=true (the
#                              services that write to the database), with DB_CONTAINER only those of its
#                              stack ($BOTSTACK_STACK_LABEL); their names stay in WRITERS. When DRY_RUN
#                              it lists them as `would stop writers: ...` and stops none
#   start_writers              start WRITERS again; false, after saying so on stderr, if that fails
# A script's own function of one of these names replaces the lib's, for the lib's functions too.

# Sent on stdin, lib.sh is part of the script's own file ($0), and contract.sh follows it there.
if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
  # shellcheck source=contract.sh
  source "$(dirname "${BASH_SOURCE[0]}")/contract.sh"
fi

DRY_RUN=0
CHANGED=0
LAST_CHANGED=0
DIE_PREFIX="error:"
DIE_STATUS=1
DIE_MESSAGE=""
LOG_TAG=$(basename "$0" .sh)
APT_LOG=/var/log/botstack-provision-apt.log
WRITERS=()

# A script checks for this function to know whether lib.sh came in front of it on stdin.
botstack_lib_loaded() { return 0; }

# The header is the comment block after the last `#!` line (a script sent on stdin has lib.sh's
# own in front of it) up to `set -euo pipefail`.
usage() {
  awk '/^#!/ { text = ""; inside = 1; next }
       inside && /^set -euo/ { inside = 0; header = text }
       inside { text = text $0 "\n" }
       END { printf "%s", header }' "$0" | sed 's/^# \{0,1\}//'
}

# shellcheck disable=SC2034  # DIE_MESSAGE is for the script's EXIT trap
die() { DIE_MESSAGE=$*; echo "$DIE_PREFIX $*" >&2; exit "$DIE_STATUS"; }
log() { echo "$LOG_TAG: $*"; }
usage_error() { usage >&2; die "$@"; }

changed() {
  CHANGED=$((CHANGED + 1))
  LAST_CHANGED=1
  if ((DRY_RUN)); then echo "changed: (dry run) $*"; else echo "changed: $*"; fi
}

help_or_unknown() {
  case "$1" in
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
}
# shellcheck disable=SC2034  # LAST_CHANGED is for the script
ok() { LAST_CHANGED=0; echo "ok: $*"; }

summary() {
  if ((DRY_RUN)); then echo "botstack-provision: $CHANGED changed (dry run)"
  else echo "botstack-provision: $CHANGED changed"; fi
}

run() {
  if ((DRY_RUN)); then
    local quoted
    printf -v quoted '%q ' "$@"
    echo "would run: ${quoted% }"
  else
    "$@"
  fi
}

run_from() {
  local file=$1; shift
  if ((DRY_RUN)); then
    local quoted
    printf -v quoted '%q ' "$@"
    echo "would run: ${quoted% } < $(printf '%q' "$file")"
  else
    "$@" <"$file"
  fi
}

require_running() {
  [[ $(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null) == true ]] || die "container $1 is not running"
}

require_root() { [[ $(id -u) == 0 ]] || die "run as root (e.g. sudo $0)"; }

source_config() {
  local file=$1 hint=${2:+ ($2)}
  [[ -e $file && ! -d $file ]] || die "config $file missing$hint"  # -e: `--env-file <(...)` is a pipe
  [[ -r $file ]] || die "config $file is not readable by $(id -un)"
  # shellcheck disable=SC1090
  source "$file"
}

# A backup.env written with --service (a cluster's database node) names a swarm service, not a container: restore.sh
# and pitr.sh stop the database and the writers by container name, and swarm would start new tasks the moment they
# stopped, so they refuse instead of half-working.
refuse_swarm_service() {
  [[ -z ${PG_SERVICE:-} ]] || die "$1 does not work on a cluster's database yet (service $PG_SERVICE): scale the \
writers to 0 and pg_restore into the database task as docs/cluster.md shows (Moving a prod stack's data onto a cluster, step 3)"
}

has_mode() {
  local mode names ids
  read -r mode names ids < <(stat -c '%a %U:%G %u:%g' "$1" 2>/dev/null) || return 1
  [[ $mode == "$2" && ($names == "$3" || $ids == "$3") ]]
}

# The name (leading dot, trailing ~) is one that sshd/sudo/cron/apt include globs skip.
temp_beside() { mktemp --suffix='~' "$(dirname "$1")/.botstack-XXXXXX"; }

# The content goes through a file, never a shell variable, so NUL bytes and trailing newlines survive.
put_file() {
  local dest=$1 mode=$2 owner=$3 tmp wanted
  if ((DRY_RUN)); then
    wanted=$(sha256sum)  # reads all of stdin, so a producer never writes into a closed pipe
    if [[ -f $dest && ! -L $dest ]] && [[ $(sha256sum <"$dest") == "$wanted" ]] && has_mode "$dest" "$mode" "$owner"; then
      ok "$dest"
    else
      changed "$dest would be written"
    fi
    return 0
  fi
  mkdir -p "$(dirname "$dest")"
  tmp=$(temp_beside "$dest")
  cat >"$tmp" || { rm -f "$tmp"; die "cannot write $dest"; }
  if [[ -f $dest && ! -L $dest ]] && cmp -s "$tmp" "$dest" && has_mode "$dest" "$mode" "$owner"; then
    rm -f "$tmp"
    ok "$dest"
    return 0
  fi
  { chmod "$mode" "$tmp" && chown "$owner" "$tmp" && mv -f "$tmp" "$dest"; } || { rm -f "$tmp"; die "cannot write $dest"; }
  changed "$dest written"
}

ensure_dir() {
  local dir=$1 mode=$2 owner=$3
  if [[ -d $dir ]] && has_mode "$dir" "$mode" "$owner"; then ok "$dir"; return 0; fi
  if ((!DRY_RUN)); then install -d -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$dir"; chmod "$mode" "$dir"; fi
  changed "$dir (mode $mode, $owner)"
}

pkg_installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }

apt_install() {
  local opts=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold)
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install "${opts[@]}" "$@" >>"$APT_LOG" 2>&1; then
    apt-get update -q -o DPkg::Lock::Timeout=300 >>"$APT_LOG" 2>&1 || { tail -n 20 "$APT_LOG" >&2; die "apt-get update failed"; }
    apt-get install "${opts[@]}" "$@" >>"$APT_LOG" 2>&1 || { tail -n 20 "$APT_LOG" >&2; die "apt-get install $* failed"; }
  fi
}

confirm_by_typing() {
  local expected=$1 prompt=$2 answer
  { : </dev/tty; } 2>/dev/null || die "no terminal to confirm on; pass --yes"
  printf '%s' "$prompt" >/dev/tty
  read -r answer </dev/tty
  [[ $answer == "$expected" ]] || die "not confirmed"
}

stop_writers() {
  local filters=(--filter "label=$BOTSTACK_WRITER_LABEL=true") names stack
  if (($#)); then
    # only the writers of the database container's stack: one engine may run other stacks (dev, tests) beside it
    stack=$(docker inspect -f "{{index .Config.Labels \"$BOTSTACK_STACK_LABEL\"}}" "$1")
    [[ -n $stack ]] || { log "no writers stopped: $1 has no $BOTSTACK_STACK_LABEL label"; return 0; }
    filters+=(--filter "label=$BOTSTACK_STACK_LABEL=$stack")
  fi
  names=$(docker ps "${filters[@]}" --format '{{.Names}}')
  [[ -n $names ]] || { log "no running writers (label $BOTSTACK_WRITER_LABEL=true${stack:+, $BOTSTACK_STACK_LABEL=$stack})"; return 0; }
  mapfile -t WRITERS <<<"$names"
  if ((DRY_RUN)); then log "would stop writers: ${WRITERS[*]}"; WRITERS=(); return 0; fi
  log "stopping writers: ${WRITERS[*]}"
  docker stop "${WRITERS[@]}" >/dev/null
}

start_writers() {
  ((${#WRITERS[@]})) || return 0
  if docker start "${WRITERS[@]}" >/dev/null; then
    log "started writers again: ${WRITERS[*]}"
    WRITERS=()
  else
    echo "$LOG_TAG: could not start writers: ${WRITERS[*]}" >&2
    return 1
  fi
}
