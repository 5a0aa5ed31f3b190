#!/usr/bin/env bash
# Usage: scripts/pulumi-stack.sh [--dry-run] ACTION STACK [ARGS...]
#
# The Makefile's stack commands (make up|preview|destroy|backup-now|backup-status|restore STACK=... [AT=...]):
#   up STACK [pulumi args]        pulumi stack select --create STACK; pulumi up --yes (policy pack enforced)
#   preview STACK [pulumi args]   pulumi preview --diff (policy pack enforced)
#   drift STACK [pulumi args]     pulumi preview --refresh --expect-no-changes: fails naming what drifted
#   destroy STACK [pulumi args]   pulumi destroy --exclude-protected (protected volumes stay; prod asks first)
#   backup-now STACK              run the stack's backup command on its VDS over SSH (stack output backupCommand)
#   backup-status STACK           the last good backup's time, age and size on the VDS; exits non-zero when stale
#   restore STACK DUMP [--yes]    restore DUMP (a file name in the VDS's backup dir) into the stack's database
#                                 with server/restore.sh (stops the writers meanwhile); asks first
#   restore-at STACK AT [--yes]   point-in-time recovery to AT ('YYYY-MM-DD HH:MM:SS', UTC, or latest) with
#                                 server/pitr.sh (stops the writers, restores, replays WAL, starts all); asks first
#
# State lives in a local file backend (.botstack/state) and the config passphrase in .botstack/passphrase
# (generated once, 0600); set PULUMI_BACKEND_URL / PULUMI_CONFIG_PASSPHRASE(_FILE) to use others.
# --dry-run prints the commands instead of running them. BOTSTACK_POLICY=0 skips the policy pack.
# BOTSTACK_SSH_KEY=<file> picks the SSH key for backup-now/restore (default: ssh-agent, ~/.ssh/config).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

if [[ "${1:-}" == --dry-run ]]; then
  DRY_RUN=1
  shift
fi
[[ "${1:-}" == -h || "${1:-}" == --help ]] && usage 0
(($# >= 2)) || usage
action="$1"
stack="$2"
shift 2
[[ "$stack" =~ ^[A-Za-z0-9_.-]+$ ]] || die "invalid stack name '$stack'"

policy_args=()
if [[ "${BOTSTACK_POLICY:-1}" != 0 ]]; then
  policy_args=(--policy-pack "$REPO/policy")
fi

prerequisites() {
  need_pulumi
  need_stack_config "$stack"
  if is_remote "$stack"; then
    need_ssh
  else
    need_docker
  fi
  pulumi_env "$stack"
  cd "$REPO"
  check_passphrase "$stack"
  need_language_host
}

remote() {
  # remote COMMAND_STRING: run one command line on the stack's VDS with the pinned host key.
  local target port wrapper
  target="$(stack_output "$stack" sshTarget)"
  port="$(stack_output "$stack" sshPort)"
  wrapper="$(ssh_wrapper_dir "$stack")"
  # shellcheck disable=SC2064 # expand now: the directory is known and must be removed on exit
  [[ "$DRY_RUN" == 1 ]] || trap "rm -rf '$wrapper'" EXIT
  run "$wrapper/ssh" -p "$port" -- "$target" "$1"
}

case "$action" in
  up)
    prerequisites
    run pulumi stack select --create "$stack"
    run pulumi up --stack "$stack" --yes ${policy_args[@]+"${policy_args[@]}"} "$@"
    ;;
  preview)
    prerequisites
    run pulumi stack select --create "$stack"
    run pulumi preview --stack "$stack" --diff ${policy_args[@]+"${policy_args[@]}"} "$@"
    ;;
  drift)
    prerequisites
    run pulumi stack select "$stack"
    # --refresh reads what really runs first; any difference from the program is drift.
    if ! run pulumi preview --stack "$stack" --refresh --expect-no-changes --diff "$@"; then
      die "stack '$stack' drifted from its last deploy (the diff above shows what).
  Put it back with 'make up STACK=$stack', or change the program or config to keep what is there."
    fi
    ;;
  destroy)
    prerequisites
    run pulumi stack select "$stack"
    confirm=(--yes)
    # A stack on a VDS: let Pulumi show the plan and ask.
    if is_remote "$stack"; then confirm=(); fi
    run pulumi destroy --stack "$stack" --exclude-protected ${confirm[@]+"${confirm[@]}"} "$@"
    ;;
  backup-now)
    need_pulumi
    need_ssh
    pulumi_env "$stack"
    cd "$REPO"
    command_line="$(stack_output "$stack" backupCommand)"
    remote "$command_line"
    ;;
  backup-status)
    need_pulumi
    need_ssh
    pulumi_env "$stack"
    cd "$REPO"
    # backup-status.sh sits next to backup.sh (install-backups.sh installs both)
    command_line="$(stack_output "$stack" backupCommand)"
    [[ "$command_line" == *backup.sh* ]] || die "stack '$stack' exports no backupCommand"
    remote "${command_line/backup.sh/backup-status.sh}"
    ;;
  restore-at)
    need_pulumi
    need_ssh
    pulumi_env "$stack"
    cd "$REPO"
    at="${1:-}"
    [[ "$at" == latest || "$at" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}$ ]] \
      || die "AT must be 'YYYY-MM-DD HH:MM:SS' (UTC) or latest, got '$at'"
    if [[ "${2:-}" != --yes && "$DRY_RUN" != 1 ]]; then
      echo "botstack: this replaces the database of stack '$stack' with its state at $at; the app is stopped meanwhile."
      read -r -p "Type the stack name to go on: " answer
      [[ "$answer" == "$stack" ]] || die "not confirmed; nothing was changed"
    fi
    # pitr.sh sits next to backup.sh (install-backups.sh installs both)
    command_line="$(stack_output "$stack" backupCommand)"
    [[ "$command_line" == *backup.sh* ]] || die "stack '$stack' exports no backupCommand"
    if [[ "$at" == latest ]]; then target=(--latest); else target=(--at "'$at'"); fi
    remote "${command_line/backup.sh/pitr.sh} restore --yes ${target[*]}"
    ;;
  restore)
    need_pulumi
    need_ssh
    pulumi_env "$stack"
    cd "$REPO"
    dump="${1:-}"
    [[ -n "$dump" ]] || die "which dump? make restore STACK=$stack DUMP=<file name> (the backup command prints the names it writes)"
    [[ "$dump" =~ ^[A-Za-z0-9_.:-]+$ ]] || die "DUMP must be a file name (letters, digits, . _ : -), got '$dump'"
    if [[ "${2:-}" != --yes && "$DRY_RUN" != 1 ]]; then
      echo "botstack: this overwrites the database of stack '$stack' with $dump; the writers are stopped meanwhile."
      read -r -p "Type the stack name to go on: " answer
      [[ "$answer" == "$stack" ]] || die "not confirmed; nothing was changed"
    fi
    # The stack's restoreCommand output, else its backupCommand with restore.sh in place of backup.sh.
    command_line="$(stack_output --optional "$stack" restoreCommand)"
    if [[ -z "$command_line" ]]; then
      command_line="$(stack_output "$stack" backupCommand)"
      [[ "$command_line" == *backup.sh* ]] || die "stack '$stack' exports no restoreCommand"
      command_line="${command_line/backup.sh/restore.sh}"
    fi
    # Confirmed above; over ssh there is no terminal for restore.sh's own question.
    remote "$command_line --yes $dump"
    ;;
  *)
    echo "botstack: unknown action '$action'" >&2
    usage
    ;;
esac
