#!/usr/bin/env bash
# Usage: scripts/logs.sh [--dry-run] STACK [SERVICE]
#
# Follow the logs of one service (its running container, found by the labels botstack.stack=STACK and
# botstack.service=SERVICE) or of every container of the stack, each line prefixed with the container's name.
# Stacks on a VDS (config botstack:vds set, e.g. prod) are read there through DOCKER_HOST=ssh://... from the stack output
# dockerHost, with the host key pinned from botstack:vds.hostKey.
# Environment: TAIL (lines of history, default 100),
# BOTSTACK_SSH_KEY (private key file for the VDS; default ssh-agent / ~/.ssh/config).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

if [[ "${1:-}" == --dry-run ]]; then
  DRY_RUN=1
  shift
fi
[[ "${1:-}" == -h || "${1:-}" == --help ]] && usage 0
(($# >= 1 && $# <= 2)) || usage
stack="$1"
service="${2:-}"
tail_lines="${TAIL:-100}"
[[ "$stack" =~ ^[A-Za-z0-9_.-]+$ ]] || die "invalid stack name '$stack'"
[[ -z "$service" || "$service" =~ ^[a-z0-9-]+$ ]] || die "invalid service name '$service'"

need_docker_cli() {
  command -v docker >/dev/null 2>&1 || missing "the docker CLI is not installed (Debian/Ubuntu: apt-get install docker.io)."
}

if is_cluster "$stack"; then
  # a node's engine shows only its own tasks; swarm gathers a service's logs from every node on a manager
  die "stack '$stack' runs on a swarm: follow a service's logs on a manager node with
  ssh deploy@MANAGER docker service logs --follow --tail $tail_lines botstack-$stack-${service:-SERVICE}"
fi
need_docker_cli
if is_remote "$stack"; then
  need_pulumi
  need_ssh
  pulumi_env "$stack"
  cd "$REPO"
  DOCKER_HOST="$(stack_output "$stack" dockerHost)"
  export DOCKER_HOST
  wrapper="$(ssh_wrapper_dir "$stack")"
  # shellcheck disable=SC2064 # expand now: the directory is known
  [[ "$DRY_RUN" == 1 ]] || trap "rm -rf '$wrapper'" EXIT
  # docker's ssh:// connection helper runs the first `ssh` on PATH: ours pins the host key.
  export PATH="$wrapper:$PATH"
  [[ "$DRY_RUN" == 1 ]] && echo "+ export DOCKER_HOST=$DOCKER_HOST PATH=$wrapper:\$PATH"
fi

if [[ -n "$service" ]]; then
  # By labels, not by name: api and worker are replaced start-first and have generated names.
  filters=(--filter "label=$BOTSTACK_STACK_LABEL=$stack" --filter "label=$BOTSTACK_SERVICE_LABEL=$service")
  if [[ "$DRY_RUN" == 1 ]]; then
    run docker ps ${filters[@]+"${filters[@]}"} --format '{{.Names}}'
    echo "+ docker logs --follow --tail $tail_lines NAME"
    exit 0
  fi
  name="$(docker ps ${filters[@]+"${filters[@]}"} --format '{{.Names}}' | sort | tail -n 1)"
  [[ -n "$name" ]] || die "no running container of service '$service' in stack '$stack' (is the stack up? make up STACK=$stack)"
  run docker logs --follow --tail "$tail_lines" "$name"
  exit 0
fi

if [[ "$DRY_RUN" == 1 ]]; then
  run docker ps --filter "label=$BOTSTACK_STACK_LABEL=$stack" --format '{{.Names}}'
  echo "+ for each: docker logs --follow --tail $tail_lines NAME 2>&1 | sed 's/^/[NAME] /'"
  exit 0
fi

mapfile -t names < <(docker ps --filter "label=$BOTSTACK_STACK_LABEL=$stack" --format '{{.Names}}' | sort)
((${#names[@]})) || die "no running containers with label $BOTSTACK_STACK_LABEL=$stack (is the stack up? make up STACK=$stack)"

pids=()
cleanup() {
  ((${#pids[@]})) && kill ${pids[@]+"${pids[@]}"} 2>/dev/null
  return 0
}
trap 'cleanup; if [[ -n "${wrapper:-}" ]]; then rm -rf "$wrapper"; fi' EXIT
trap 'exit 130' INT TERM
width=0
for name in ${names[@]+"${names[@]}"}; do ((${#name} > width)) && width=${#name}; done
for name in ${names[@]+"${names[@]}"}; do
  prefix="$(printf '%-*s |' "$width" "$name")"
  # A bash read loop, not awk/sed: mawk buffers its input, so lines would arrive late.
  docker logs --follow --tail "$tail_lines" "$name" 2>&1 | while IFS= read -r line; do printf '%s %s\n' "$prefix" "$line"; done &
  pids+=("$!")
done
wait
