#!/usr/bin/env bash
# run-migrations.sh - run `alembic upgrade head` as a one-off container of the backend image.
#
# usage: [sudo] run-migrations.sh [--dry-run] [--memory SIZE] [--cpus N] [--nproc N] IMAGE NETWORK SECRETS_DIR
#
# The limits are those of the service containers (the stack passes the API's): memory, CPUs, and the
# process limit as both RLIMIT_NPROC (what the service containers get) and the pids cgroup.
#
# Needs the docker group and read access to SECRETS_DIR (root on the VDS: /etc/botstack/secrets).
# The container joins NETWORK (the backend network, where the database is `db`), runs as 10001:10001
# with a read-only root filesystem and a tmpfs at /tmp, and reads the database URL from the single
# file SECRETS_DIR/database_url, bind-mounted read-only (DATABASE_URL_FILE): no secret on a command
# line or in `docker inspect`. Prints the migration's output; exits with its status. --dry-run makes
# the same checks, then prints the `docker run` command instead of running it.
set -euo pipefail
# lib.sh: in front of this script when it came on stdin, else beside it
declare -F botstack_lib_loaded >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  LOG_TAG=run-migrations DIE_PREFIX="run-migrations: FAILED:"
  [[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
  local limits=() nproc=1024
  while [[ ${1:-} == --* ]]; do
    case "$1" in
      --dry-run) DRY_RUN=1; shift ;;
      --memory) limits+=(--memory "${2:?}"); shift 2 ;;
      --cpus) limits+=(--cpus "${2:?}"); shift 2 ;;
      --nproc) nproc=${2:?}; shift 2 ;;
      *) usage >&2; exit 2 ;;
    esac
  done
  [[ $nproc =~ ^[0-9]+$ ]] || die "--nproc must be a number"
  limits+=(--ulimit "nproc=$nproc:$nproc" --pids-limit "$nproc")
  (($# == 3)) || { usage >&2; exit 2; }
  local image=$1 network=$2 secrets=$3 rc=0
  # a missing bind-mount source would be created by Docker as an empty directory: check first
  if [[ ! -f $secrets/database_url ]]; then
    [[ $(id -u) == 0 ]] || die "$secrets/database_url not visible to $(id -un): run with sudo (secrets are 0700 root)"
    die "$secrets/database_url missing (write-secrets.sh writes it)"
  fi
  docker network inspect "$network" >/dev/null 2>&1 || die "network $network does not exist"
  log "alembic upgrade head with $image on $network"
  run docker run --rm --network "$network" --user 10001:10001 --read-only --tmpfs /tmp "${limits[@]}" \
    --cap-drop ALL --security-opt no-new-privileges:true \
    -v "$secrets/database_url:/run/secrets/database_url:ro" \
    -e DATABASE_URL_FILE=/run/secrets/database_url \
    "$image" alembic upgrade head 2>&1 || rc=$?
  ((rc == 0)) || die "alembic upgrade head exited $rc (output above)"
  if ((DRY_RUN)); then log "(dry run) nothing was run"; else log "ok"; fi
}

main "$@"
