#!/usr/bin/env bash
# Entrypoint of the postgres:15 stand-in, after the official image's docker-entrypoint.sh:
#   docker-entrypoint.sh [postgres] [-c option=value ...]
# On an empty $PGDATA: initdb as POSTGRES_USER (default postgres) with POSTGRES_PASSWORD (or the
# file named by POSTGRES_PASSWORD_FILE), trust on the local socket and loopback, scram-sha-256 for
# every other host; a temporary server on the socket only creates POSTGRES_DB (default: the user
# name; skipped only when it is `postgres`) and runs /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz.
# A data dir that holds PG_VERSION is used as is. As root it fixes ownership and drops to postgres.
# The password never reaches a command line: initdb reads it from a pipe.
set -euo pipefail

# file_env VAR [default]: VAR from $VAR or from the file named by $VAR_FILE (not both).
file_env() {
  local var="$1" file_var="${1}_FILE" default="${2:-}" value
  if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
    echo >&2 "error: both $var and $file_var are set (but are exclusive)"
    exit 1
  fi
  value="$default"
  if [[ -n "${!var:-}" ]]; then
    value="${!var}"
  elif [[ -n "${!file_var:-}" ]]; then
    value="$(< "${!file_var}")"
  fi
  export "$var"="$value"
  unset "$file_var"
}

if [[ "${1:-}" == -* ]]; then
  set -- postgres "$@"
fi

if [[ "${1:-}" != postgres ]]; then
  exec "$@"
fi

if [[ "$(id -u)" == 0 ]]; then
  mkdir -p "$PGDATA"
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql 2>/dev/null || true
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  auth_method="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [[ -z "$POSTGRES_PASSWORD" && "$auth_method" != trust ]]; then
    cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value for the
       superuser. To allow all connections without a password use POSTGRES_HOST_AUTH_METHOD=trust.
MSG
    exit 1
  fi

  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA" 2>/dev/null || true
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as in the official image
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=trust $POSTGRES_INITDB_ARGS
  printf '\nhost all all all %s\n' "$auth_method" >> "$PGDATA/pg_hba.conf"

  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p 5432" start
  psql_init=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$POSTGRES_USER")
  if [[ "$POSTGRES_DB" != postgres ]]; then
    "${psql_init[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    [[ -e "$f" ]] || continue
    case "$f" in
      *.sh)
        echo "$0: running $f"
        if [[ -x "$f" ]]; then
          "$f"
        else
          # shellcheck source=/dev/null
          . "$f"
        fi
        ;;
      *.sql) echo "$0: running $f"; "${psql_init[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | "${psql_init[@]}" --dbname "$POSTGRES_DB" ;;
      *) echo "$0: ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  unset POSTGRES_PASSWORD
  echo
  echo 'PostgreSQL init process complete; ready for start up.'
  echo
else
  echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
fi

exec "$@"
