#!/usr/bin/env bash
# install-backups.sh - install the backup scripts, their config and a cron entry; idempotent.
#
# usage: install-backups.sh --container NAME --db NAME --db-user NAME [--schedule "0 */6 * * *"]
#                           [--retention-days 7] [--rclone-remote REMOTE:PATH] [--age-recipient age1...]
#                           [--dry-run]
#
# Run as root on the VDS from a directory holding backup.sh, verify-backup.sh and restore.sh.
# Installs them to /usr/local/lib/botstack (0755), writes /etc/botstack/backup.env (0600; no
# secrets: pg_dump uses the container's local socket) and /etc/cron.d/botstack-backup (0644) running
# backup.sh on the schedule with output in /var/log/botstack-backup.log. Installs age / rclone from
# the distribution when a recipient / remote is given. rclone's remote credentials are NOT handled
# here: put them in /root/.config/rclone/rclone.conf (0600) yourself.
# Output: `changed:`/`ok:` lines, then `botstack-provision: N changed`.
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly LIB_DIR=/usr/local/lib/botstack
readonly CRON_FILE=/etc/cron.d/botstack-backup
readonly CONFIG=/etc/botstack/backup.env
SCHEDULE="0 */6 * * *"
RETENTION_DAYS=7
PG_CONTAINER="" PG_DB="" PG_USER="" RCLONE_REMOTE="" AGE_RECIPIENT=""
DRY_RUN=0
CHANGED=0

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "error: $*" >&2; exit 1; }
changed() { CHANGED=$((CHANGED + 1)); if ((DRY_RUN)); then echo "changed: (dry run) $*"; else echo "changed: $*"; fi; }
ok() { echo "ok: $*"; }

parse_args() {
  while (($#)); do
    case "$1" in
      --container) PG_CONTAINER=${2:?}; shift 2 ;;
      --db) PG_DB=${2:?}; shift 2 ;;
      --user|--db-user) PG_USER=${2:?}; shift 2 ;;
      --schedule) SCHEDULE=${2:?}; shift 2 ;;
      --retention-days) RETENTION_DAYS=${2:?}; shift 2 ;;
      --rclone-remote) RCLONE_REMOTE=${2:?}; shift 2 ;;
      --age-recipient) AGE_RECIPIENT=${2:?}; shift 2 ;;
      --dry-run) DRY_RUN=1; shift ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  [[ -n $PG_CONTAINER && -n $PG_DB && -n $PG_USER ]] || { usage >&2; die "--container, --db and --db-user are required"; }
  local v
  for v in "$PG_CONTAINER" "$PG_DB" "$PG_USER"; do
    [[ $v =~ ^[A-Za-z0-9_.-]+$ ]] || die "invalid name: $v"
  done
  [[ $RETENTION_DAYS =~ ^[1-9][0-9]*$ ]] || die "--retention-days must be a whole number >= 1"
  [[ $(wc -w <<<"$SCHEDULE") == 5 && $SCHEDULE =~ ^[0-9*/,\ -]+$ ]] || die "--schedule must be 5 cron fields"
  [[ -z $AGE_RECIPIENT || $AGE_RECIPIENT =~ ^age1[0-9a-z]+$ ]] || die "--age-recipient must be an age public key (age1...)"
  [[ -z $RCLONE_REMOTE || $RCLONE_REMOTE =~ ^[A-Za-z0-9_.-]+:[A-Za-z0-9_./-]*$ ]] || die "--rclone-remote must look like remote:path"
}

put_file() {
  local dest=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [[ -f $dest ]] && cmp -s "$tmp" "$dest" && [[ $(stat -c '%a %U:%G' "$dest") == "$mode root:root" ]]; then
    rm -f "$tmp"; ok "$dest"; return 0
  fi
  if ((DRY_RUN)); then rm -f "$tmp"; else
    mkdir -p "$(dirname "$dest")"; chmod "$mode" "$tmp"; chown root:root "$tmp"; mv -f "$tmp" "$dest"
  fi
  changed "$dest"
}

ensure_pkg() {
  local pkg=$1
  if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]]; then ok "package $pkg"; return 0; fi
  if ((!DRY_RUN)); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "$pkg" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1; apt-get install -y -q --no-install-recommends "$pkg" >/dev/null; }
  fi
  changed "package $pkg installed"
}

main() {
  parse_args "$@"
  [[ $(id -u) == 0 ]] || die "run as root"
  local f
  for f in backup.sh verify-backup.sh restore.sh; do
    [[ -f $SRC_DIR/$f ]] || die "$SRC_DIR/$f missing"
    put_file "$LIB_DIR/$f" 755 <"$SRC_DIR/$f"
  done
  put_file "$CONFIG" 600 <<EOF2
# managed by botstack install-backups.sh (no secrets here)
PG_CONTAINER=$PG_CONTAINER
PG_USER=$PG_USER
PG_DB=$PG_DB
BACKUP_DIR=/var/backups/botstack
RETENTION_DAYS=$RETENTION_DAYS
RCLONE_REMOTE=$RCLONE_REMOTE
AGE_RECIPIENT=$AGE_RECIPIENT
VERIFY=1
EOF2
  put_file "$CRON_FILE" 644 <<EOF2
# managed by botstack install-backups.sh
SHELL=/bin/bash
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
$SCHEDULE root $LIB_DIR/backup.sh >>/var/log/botstack-backup.log 2>&1
EOF2
  [[ -z $AGE_RECIPIENT ]] || ensure_pkg age
  [[ -z $RCLONE_REMOTE ]] || ensure_pkg rclone
  if ((DRY_RUN)); then echo "botstack-provision: $CHANGED changed (dry run)"
  else echo "botstack-provision: $CHANGED changed"; fi
}

main "$@"
