#!/usr/bin/env bash
# Entrypoint of the redis:7 stand-in, after the official image's:
#   docker-entrypoint.sh [redis-server] [config file] [--option value ...]
# - a first argument that starts with `-` or ends in `.conf` means `redis-server <args>`;
# - as root it makes /data redis's and drops to uid 999; as any other user it runs as is;
# - `protected-mode no` is the default (the official image compiles it so); a config file or an
#   argument that sets protected-mode wins;
# - files it creates are private to its user (umask 0077 instead of the default 0022).
set -euo pipefail

if [[ "${1:-}" == -* || "${1:-}" == *.conf ]]; then
  set -- redis-server "$@"
fi

if [[ "${1:-}" == redis-server ]]; then
  protected_mode_set=false
  for arg in "${@:2}"; do
    if [[ "$arg" == --protected-mode* ]]; then
      protected_mode_set=true
    elif [[ "$arg" != -* && -r "$arg" ]] && grep -Eqi '^[[:space:]]*protected-mode[[:space:]]' "$arg"; then
      protected_mode_set=true
    fi
  done
  if [[ "$protected_mode_set" == false ]]; then
    set -- "$@" --protected-mode no
  fi
  if [[ "$(umask)" == 0022 ]]; then
    umask 0077
  fi
  if [[ "$(id -u)" == 0 ]]; then
    find . \! -user redis -exec chown redis:redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi

exec "$@"
