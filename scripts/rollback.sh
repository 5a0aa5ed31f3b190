#!/usr/bin/env bash
# Usage: scripts/rollback.sh [--dry-run] STACK
#
# `make rollback STACK=...`: scripts/rollback.py (back to the app images of the previous successful deploy)
# with the stack's state backend and passphrase set up as for every other stack command (scripts/lib.sh).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# >= 1)) || { sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
stack="${*: -1}"
[[ "$stack" =~ ^[A-Za-z0-9_.-]+$ ]] || die "invalid stack name '$stack'"
need_pulumi
pulumi_env "$stack"
exec "${BOTSTACK_PYTHON:-$REPO/.venv/bin/python}" "$REPO/scripts/rollback.py" "$@"
