#!/usr/bin/env bash
# verify-backup.sh - prove a dump restores: restore it into a scratch database and compare with live.
#
# usage: verify-backup.sh [--config FILE] [--expect FILE | --against-live] [--dry-run] [DUMP]
#        verify-backup.sh --describe-sql
#
# DUMP defaults to the newest dump (BACKUP_DIR/latest). Config as for backup.sh
# (/etc/botstack/backup.env: PG_CONTAINER, PG_USER, PG_DB, BACKUP_DIR, VERIFY_ROWS).
# Checks the .sha256 file when there is one, restores with `pg_restore --exit-on-error` into the
# scratch database "<PG_DB>_verify" inside PG_CONTAINER, then compares the list of tables, the alembic
# version and (VERIFY_ROWS=exact, the default) exact row counts per table with what the database held
# when the dump was taken: DUMP.tables, written by backup.sh in pg_dump's own snapshot (or --expect
# FILE). So writes after the dump cause no false alarm. Without that file, or with --against-live,
# it compares with the live database instead. VERIFY_ROWS=schema skips the row counts.
# The scratch database is dropped afterwards, also on failure. It refuses a scratch name that PostgreSQL
# would cut to 63 bytes (it could become the live database's name). Exit status non-zero on any mismatch.
# Encrypted dumps (*.age) cannot be verified here (no private key on the server); backup.sh verifies
# before it encrypts.
# --dry-run makes the same checks (config, scratch name, the dump and its checksum, the container running)
# and prints the scratch database's steps as `would run: ...` lines: it creates, restores and drops nothing.
set -euo pipefail
# lib.sh and contract.sh: beside this script (install-backups.sh installs them with it)
declare -F botstack_lib_loaded >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=botstack-verify DIE_PREFIX="botstack-verify: FAILED:"

CONFIG=${BOTSTACK_BACKUP_CONFIG:-$BOTSTACK_BACKUP_CONFIG_FILE}
DUMP=""
SCRATCH=""
EXPECT=""
AGAINST_LIVE=0

parse_args() {
  while (($#)); do
    case "$1" in
      --config) CONFIG=${2:?}; shift 2 ;;
      --expect) EXPECT=${2:?}; shift 2 ;;
      --against-live) AGAINST_LIVE=1; shift ;;
      --dry-run) DRY_RUN=1; shift ;;
      --describe-sql) describe_sql; exit 0 ;;
      -h|--help) usage; exit 0 ;;
      -*) usage_error "unknown option: $1" ;;
      *) DUMP=$1; shift ;;
    esac
  done
}

load_config() {
  source_config "$CONFIG"
  : "${PG_CONTAINER:?}" "${PG_USER:?}" "${PG_DB:?}"
  BACKUP_DIR=${BACKUP_DIR:-$BOTSTACK_BACKUP_DIR}
  VERIFY_ROWS=${VERIFY_ROWS:-exact}
  SCRATCH="${PG_DB}_verify"
  # PostgreSQL cuts identifiers to 63 bytes: a longer scratch name would BE the live database, which
  # this script drops. Refuse instead of trusting the config's own check.
  local bytes
  bytes=$(LC_ALL=C; echo "${#SCRATCH}")
  ((bytes <= 63)) || die "scratch database name $SCRATCH is longer than 63 bytes (PostgreSQL would cut it); shorten PG_DB"
  [[ $SCRATCH != "$PG_DB" ]] || die "scratch database name equals the live database $PG_DB"
  case $SCRATCH in postgres|template0|template1) die "scratch database name $SCRATCH is reserved" ;; esac
}

pick_dump() {
  if [[ -z $DUMP ]]; then
    [[ -L $BACKUP_DIR/latest ]] || die "no dump in $BACKUP_DIR (no 'latest' link)"
    DUMP="$BACKUP_DIR/$(readlink "$BACKUP_DIR/latest")"
  elif [[ $DUMP != */* ]]; then
    DUMP="$BACKUP_DIR/$DUMP"
  fi
  [[ -f $DUMP ]] || die "dump $DUMP not found"
  [[ $DUMP != *.age ]] || die "$DUMP is encrypted; decrypt it off the server to verify it"
  if [[ -f $DUMP.sha256 ]]; then
    (cd "$(dirname "$DUMP")" && sha256sum --quiet -c "${DUMP##*/}.sha256") || die "checksum mismatch for $DUMP"
  fi
}

psql_in() { docker exec -i "$PG_CONTAINER" psql -XAtq -v ON_ERROR_STOP=1 -U "$PG_USER" "$@"; }

# "schema.table<TAB>rows" for every table, sorted; then "alembic<TAB>version". One psql script, so
# backup.sh can run it in the same snapshot as pg_dump (`verify-backup.sh --describe-sql`).
describe_sql() {
  cat <<'SQL'
SELECT format('%I.%I', table_schema, table_name),
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I',
                                                    table_schema, table_name), false, true, '')))[1]::text
FROM information_schema.tables
WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1;
SELECT to_regclass('public.alembic_version') IS NOT NULL AS botstack_has_alembic \gset
\if :botstack_has_alembic
SELECT 'alembic', coalesce(string_agg(version_num, ',' ORDER BY version_num), '') FROM alembic_version;
\else
SELECT 'alembic', '(none)';
\endif
SQL
}

describe() { describe_sql | psql_in -d "$1" -F $'\t'; }

drop_scratch() { psql_in -d postgres -c "DROP DATABASE IF EXISTS \"$SCRATCH\"" >/dev/null 2>&1 || true; }

plan() {
  require_running "$PG_CONTAINER"
  local psql=(docker exec -i "$PG_CONTAINER" psql -XAtq -v ON_ERROR_STOP=1 -U "$PG_USER")
  run "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS \"$SCRATCH\""
  run "${psql[@]}" -d postgres -c "CREATE DATABASE \"$SCRATCH\""
  run_from "$DUMP" docker exec -i "$PG_CONTAINER" pg_restore -U "$PG_USER" -d "$SCRATCH" --exit-on-error --no-owner
  if [[ $AGAINST_LIVE == 0 && ( -n $EXPECT || -f $DUMP.tables ) ]]; then
    log "(dry run) would compare the tables, row counts ($VERIFY_ROWS) and alembic version of $SCRATCH with ${EXPECT:-$DUMP.tables}"
  else
    log "(dry run) would compare the tables, row counts ($VERIFY_ROWS) and alembic version of $SCRATCH with the live database $PG_DB"
  fi
  run "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS \"$SCRATCH\""
  log "(dry run) nothing was created, restored or dropped"
}

main() {
  parse_args "$@"
  load_config
  pick_dump
  if ((DRY_RUN)); then plan; return 0; fi
  trap drop_scratch EXIT
  drop_scratch
  psql_in -d postgres -c "CREATE DATABASE \"$SCRATCH\"" >/dev/null || die "cannot create scratch database $SCRATCH"
  docker exec -i "$PG_CONTAINER" pg_restore -U "$PG_USER" -d "$SCRATCH" --exit-on-error --no-owner <"$DUMP" \
    || die "pg_restore of $DUMP into $SCRATCH failed"
  local live restored against
  [[ -n $EXPECT || $AGAINST_LIVE == 1 || ! -f $DUMP.tables ]] || EXPECT=$DUMP.tables
  if [[ -n $EXPECT && $AGAINST_LIVE == 0 ]]; then
    live=$(cat "$EXPECT") || die "cannot read $EXPECT"
    against="the database at dump time (${EXPECT##*/})"
  else
    live=$(describe "$PG_DB") || die "cannot describe live database $PG_DB"
    against="live database $PG_DB"
  fi
  restored=$(describe "$SCRATCH") || die "cannot describe restored database"
  if [[ $VERIFY_ROWS == schema ]]; then
    live=$(cut -f1 <<<"$live" && grep '^alembic' <<<"$live")
    restored=$(cut -f1 <<<"$restored" && grep '^alembic' <<<"$restored")
  fi
  if [[ $live != "$restored" ]]; then
    echo "$against (<) vs restored (>):" >&2
    diff <(echo "$live") <(echo "$restored") >&2 || true
    die "restored ${DUMP##*/} differs from $against"
  fi
  log "ok: ${DUMP##*/} restores; $(grep -vc '^alembic' <<<"$live") tables, rows match ($VERIFY_ROWS), $(grep '^alembic' <<<"$live" | tr '\t' ' '); compared with $against"
}

main "$@"
