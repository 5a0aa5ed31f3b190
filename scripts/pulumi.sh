#!/usr/bin/env bash
# Usage: scripts/pulumi.sh [--dry-run] PULUMI-ARGS...
#
# Runs the pinned Pulumi CLI (installed once if missing) with the state backend and passphrase that
# `make` uses, from the repository root: use it for every `pulumi` command the docs show, e.g.
#   scripts/pulumi.sh stack select --create prod
#   scripts/pulumi.sh config set -s prod --path 'botstack:vds.host' 203.0.113.10
#   scripts/pulumi.sh config set -s prod --secret botstack:sshPrivateKey < ~/.ssh/botstack_deploy
# State: PULUMI_BACKEND_URL (default .botstack/state); passphrase: PULUMI_CONFIG_PASSPHRASE, else
# .botstack/passphrase (docs/state.md). --dry-run prints the command instead of running it.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "${1:-}" == --dry-run ]]; then
  DRY_RUN=1
  shift
fi
if (($# == 0)) || [[ "$1" == -h || "$1" == --help ]]; then
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 0
fi

# The stack the command names (-s/--stack), for the passphrase checks.
stack=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    -s | --stack) stack="${args[i + 1]:-}" ;;
    --stack=*) stack="${args[i]#--stack=}" ;;
  esac
done

need_pulumi
pulumi_env "$stack"
cd "$REPO"
[[ -z "$stack" ]] || check_passphrase "$stack"
run pulumi "$@"
