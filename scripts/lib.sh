#!/usr/bin/env bash
# Shared helpers of scripts/pulumi-stack.sh and scripts/logs.sh; source it, don't run it.
#   REPO            the repository root; server/contract.sh is loaded (BOTSTACK_* labels, paths, VDS stacks)
#   run CMD...      runs CMD, or prints it (shell-quoted, prefixed "+ ") when DRY_RUN=1
#   say MSG / die MSG  print "botstack: MSG" to stderr (die then exits 1)
#   need_pulumi / need_language_host / need_docker / need_ssh: check a prerequisite, say what is
#                   missing and how to get it (need_pulumi installs the pinned CLI when it is missing)
#   pulumi_env [STACK]  the state backend (PULUMI_BACKEND_URL, default a file backend in
#                   BOTSTACK_HOME/state) and the passphrase (PULUMI_CONFIG_PASSPHRASE, else the file
#                   BOTSTACK_HOME/passphrase, generated only when no committed stack file needs another)
#   check_passphrase STACK  the passphrase decrypts Pulumi.STACK.yaml, or a clear error
#   ssh_wrapper_dir STACK  a directory with an `ssh` that pins the VDS host key from the stack config
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY_RUN="${DRY_RUN:-0}"
# the labels, VDS paths and VDS stacks the program uses (generated from components/contract.py)
# shellcheck source=server/contract.sh
source "$REPO/server/contract.sh"

say() { echo "botstack: $*" >&2; }

die() {
  say "$*"
  exit 1
}

run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    local quoted
    printf -v quoted '%q ' "$@"
    echo "+ ${quoted% }"
  else
    "$@"
  fi
}

# A prerequisite is missing: fail, or in a dry run say so and go on.
missing() {
  if [[ "$DRY_RUN" == 1 ]]; then
    echo "botstack: (dry run) would stop here: $*" >&2
  else
    die "$*"
  fi
}

# need_pulumi: the pinned CLI (scripts/versions.env) first on PATH, installed once if missing.
# BOTSTACK_PULUMI_BIN names a directory whose `pulumi` is used instead (your own install, or the
# recording stand-ins of tests/unit/test_scripts.py).
need_pulumi() {
  local bin
  if [[ -n "${BOTSTACK_PULUMI_BIN:-}" ]]; then
    [[ -x "$BOTSTACK_PULUMI_BIN/pulumi" ]] || die "BOTSTACK_PULUMI_BIN=$BOTSTACK_PULUMI_BIN has no executable 'pulumi'"
    export PATH="$BOTSTACK_PULUMI_BIN:$PATH"
    return 0
  fi
  if [[ "$DRY_RUN" == 1 ]]; then
    "$REPO/scripts/install-pulumi.sh" check || echo "+ scripts/install-pulumi.sh install" >&2
    return 0
  fi
  bin="$("$REPO/scripts/install-pulumi.sh" bin-dir)" || die "the pinned Pulumi CLI is not installed (see the message above)."
  export PATH="$bin:$PATH"
}

# need_language_host: `pulumi up/preview/destroy` run this Python program through pulumi-language-python.
need_language_host() {
  command -v pulumi-language-python >/dev/null 2>&1 && return 0
  local bin
  bin="$(dirname "$(command -v pulumi)")"
  missing "the Pulumi CLI in $bin has no Python language host (pulumi-language-python).
  The official release includes it; this CLI was built from Go modules, and the Go module proxy here
  serves neither the language host nor the docker/command/random provider plugins (docs/engine.md).
  On a machine that can reach get.pulumi.com: rm -rf '$(dirname "$bin")' and run make again."
}

# need_docker: a Docker engine that answers; scripts/install-prereqs.sh installs or starts one where it
# can (Debian/Ubuntu as root) and otherwise says what to run.
need_docker() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && return 0
  if [[ "$DRY_RUN" == 1 ]]; then
    run "$REPO/scripts/install-prereqs.sh" up
    return 0
  fi
  "$REPO/scripts/install-prereqs.sh" up || exit 1
}

need_ssh() {
  command -v ssh >/dev/null 2>&1 && return 0
  missing "the OpenSSH client is not installed (Debian/Ubuntu: apt-get install openssh-client)."
}

# is_remote STACK: the stack runs on servers over SSH (its config sets botstack:vds, or botstack:cluster), like the
# program decides.
is_remote() {
  [[ -f "$REPO/Pulumi.$1.yaml" ]] && grep -qE '^ *botstack:(vds|cluster):' "$REPO/Pulumi.$1.yaml"
}

# is_cluster STACK: the stack runs as swarm services on several nodes (its config sets botstack:cluster).
is_cluster() {
  [[ -f "$REPO/Pulumi.$1.yaml" ]] && grep -q '^ *botstack:cluster:' "$REPO/Pulumi.$1.yaml"
}

# need_stack_config STACK: a stack that must run on a VDS (prod) must have its VDS config.
need_stack_config() {
  local stack="$1"
  [[ " $BOTSTACK_VDS_STACKS " == *" $stack "* ]] || return 0
  if ! is_remote "$stack"; then
    missing "stack '$stack' has no VDS config in Pulumi.$stack.yaml.
  Follow docs/first-deploy.md: pulumi config set -s $stack --path 'botstack:vds.host' <address>,
  'botstack:vds.hostKey' (ssh-keyscan), --secret botstack:sshPrivateKey < key, ..."
  fi
}

pulumi_env() {
  local stack="${1:-}" home="${BOTSTACK_HOME:-$REPO/.botstack}"
  local state="$home/state" passphrase="$home/passphrase"
  export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$state}"
  export PULUMI_SKIP_UPDATE_CHECK=true
  if [[ "$PULUMI_BACKEND_URL" == "file://$state" && ! -d "$state" ]]; then
    run mkdir -p "$state"
  fi
  # Set (even to an empty string) counts as set, as it does for Pulumi.
  [[ -n "${PULUMI_CONFIG_PASSPHRASE+set}" ]] && return 0
  export PULUMI_CONFIG_PASSPHRASE_FILE="${PULUMI_CONFIG_PASSPHRASE_FILE:-$passphrase}"
  [[ -f "$PULUMI_CONFIG_PASSPHRASE_FILE" ]] && return 0
  # A committed stack file with a salt was encrypted with somebody's passphrase: a new random one
  # would only fail later with "incorrect passphrase".
  if [[ -n "$stack" ]] && grep -qs '^encryptionsalt:' "$REPO/Pulumi.$stack.yaml"; then
    missing "Pulumi.$stack.yaml is encrypted with a passphrase this clone doesn't have.
  Put the team's passphrase (from your password manager, or the CI secret PULUMI_CONFIG_PASSPHRASE) into
  $PULUMI_CONFIG_PASSPHRASE_FILE (0600): (umask 077; cat > '$PULUMI_CONFIG_PASSPHRASE_FILE'), or export PULUMI_CONFIG_PASSPHRASE."
    return 0
  fi
  [[ "$PULUMI_CONFIG_PASSPHRASE_FILE" == "$passphrase" ]] || die "PULUMI_CONFIG_PASSPHRASE_FILE=$PULUMI_CONFIG_PASSPHRASE_FILE does not exist"
  if [[ "$DRY_RUN" == 1 ]]; then
    echo "+ generate $passphrase (0600, 32 random bytes, base64)"
  else
    mkdir -p "$(dirname "$passphrase")"
    (umask 077 && head -c 32 /dev/urandom | base64 >"$passphrase")
    echo "botstack: generated the config passphrase in $passphrase (0600). Keep it in your password manager: every other machine and CI need the same one (docs/state.md)." >&2
  fi
}

# check_passphrase STACK: the passphrase decrypts the stack's committed secrets (a clear error, not
# Pulumi's "incorrect passphrase" halfway through an update).
check_passphrase() {
  local stack="$1" out
  [[ "$DRY_RUN" == 1 ]] && return 0
  grep -qs '^encryptionsalt:' "$REPO/Pulumi.$stack.yaml" || return 0
  out="$(cd "$REPO" && pulumi config --show-secrets --stack "$stack" 2>&1 >/dev/null)" && return 0
  if [[ "$out" == *"passphrase"* ]]; then
    die "the passphrase does not decrypt Pulumi.$stack.yaml (${PULUMI_CONFIG_PASSPHRASE_FILE:-PULUMI_CONFIG_PASSPHRASE}).
  Use the one the stack was created with (your password manager, or the CI secret PULUMI_CONFIG_PASSPHRASE)."
  fi
  # Any other problem (e.g. no such stack in this backend yet) is pulumi's to report.
  return 0
}

# stack_output [--optional] STACK NAME: a plain (non-secret) stack output; never --show-secrets.
stack_output() {
  local value optional=0
  if [[ "$1" == --optional ]]; then
    optional=1
    shift
  fi
  if [[ "$DRY_RUN" == 1 ]]; then
    run pulumi stack output -s "$1" "$2" >&2
    echo "<$2>"
    return 0
  fi
  value="$(pulumi stack output -s "$1" "$2" 2>/dev/null)" || true
  [[ -n "$value" || "$optional" == 1 ]] || die "stack '$1' has no output '$2' (run 'make up STACK=$1' first; backup and restore are for stacks on a VDS)."
  printf '%s\n' "$value"
}

# ssh_wrapper_dir STACK: prints a temp dir holding an `ssh` that only trusts the pinned host key of the
# stack's VDS (botstack:vds.hostKey), for tools that call `ssh` themselves (docker over ssh://).
# BOTSTACK_SSH_KEY may name the private key file; otherwise ssh-agent / ~/.ssh/config provide it.
ssh_wrapper_dir() {
  local stack="$1" dir host port key entry real_ssh
  if [[ "$DRY_RUN" == 1 ]]; then
    run pulumi config get -s "$stack" --path botstack:vds.hostKey >&2
    echo "<pinned-ssh>"
    return 0
  fi
  local server=botstack:vds node
  # a cluster stack: the daily commands (backups) run on the node that holds the database
  if ! host="$(pulumi config get -s "$stack" --path botstack:vds.host 2>/dev/null)" || [[ -z "$host" ]]; then
    node="$(pulumi config get -s "$stack" --path botstack:cluster.databaseNode 2>/dev/null)" && [[ -n "$node" ]] \
      || die "stack '$stack' has no botstack:vds.host (nor botstack:cluster.databaseNode): which server is it on?"
    server="botstack:cluster.nodes.$node"
    host="$(pulumi config get -s "$stack" --path "$server.host")" || die "stack '$stack' has no $server.host"
  fi
  dir="$(mktemp -d)"
  port="$(pulumi config get -s "$stack" --path "$server.port" 2>/dev/null || echo 22)"
  key="$(pulumi config get -s "$stack" --path "$server.hostKey")" || die "stack '$stack' has no $server.hostKey"
  entry="$host"
  [[ "$port" == 22 ]] || entry="[$host]:$port"
  printf '%s %s\n' "$entry" "$key" >"$dir/known_hosts"
  real_ssh="$(command -v ssh)"
  {
    echo '#!/usr/bin/env bash'
    printf 'exec %q -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%q' "$real_ssh" "$dir/known_hosts"
    if [[ -n "${BOTSTACK_SSH_KEY:-}" ]]; then printf ' -o IdentitiesOnly=yes -i %q' "$BOTSTACK_SSH_KEY"; fi
    echo ' "$@"'
  } >"$dir/ssh"
  chmod 0700 "$dir/ssh"
  echo "$dir"
}
