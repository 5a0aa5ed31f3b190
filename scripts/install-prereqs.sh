#!/usr/bin/env bash
# Usage: scripts/install-prereqs.sh [--dry-run] up|test
#
# Installs what `make up` or `make test` needs and is missing, saying what it does:
#   up     a Docker engine that answers `docker info` (Debian/Ubuntu as root: docker.io, started)
#   test   the same, plus the packages the tests run for real: debootstrap (offline base images),
#          PostgreSQL and Redis (the app's tests), Caddy (the web tests), OpenSSH and age (VDS tests)
# Elsewhere (not root, no apt-get) it prints the exact command to run instead, and fails.
# The pinned Pulumi CLI is scripts/install-pulumi.sh's job.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
can_apt() { [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; }

# apt_install PKG...: install the packages that are not installed yet.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    installed "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  if ! can_apt; then
    die "missing: ${missing[*]}. Install them: sudo apt-get install ${missing[*]} (or your system's packages of the same names)"
  fi
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  run apt-get update -qq
  run apt-get install -y -qq --no-install-recommends ${missing[@]+"${missing[@]}"}
}

docker_answers() { command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; }

# A Docker engine: install Debian's docker.io where none exists, then start it when it doesn't answer.
ensure_docker() {
  docker_answers && return 0
  if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
    can_apt || die "no Docker engine is installed. Install Docker Engine: https://docs.docker.com/engine/install/ (Debian/Ubuntu: sudo apt-get install docker.io)"
    apt_install docker.io
  fi
  [[ "$DRY_RUN" == 1 ]] && { run dockerd; return 0; }
  docker_answers && return 0
  [[ -z "${DOCKER_HOST:-}" ]] || die "the Docker engine at DOCKER_HOST=$DOCKER_HOST does not answer 'docker info'; start it, or unset DOCKER_HOST"
  [[ "$(id -u)" == 0 ]] || die "the Docker engine does not answer 'docker info'. Start it: sudo systemctl start docker (and: sudo usermod -aG docker \"\$USER\", then log in again)"
  # A dockerd that runs but doesn't answer is not ours to restart.
  if pgrep -x dockerd >/dev/null 2>&1; then
    die "dockerd is running but does not answer 'docker info' (DOCKER_HOST is '${DOCKER_HOST:-unset}'); see its log, or: systemctl status docker"
  fi
  if [[ -d /run/systemd/system ]] && systemctl start docker 2>/dev/null && docker_answers; then
    say "started the Docker engine (systemctl start docker)"
    return 0
  fi
  # No systemd (containers, CI sandboxes): dockerd in a session of its own, logging beside the checkout's caches.
  local log="${BOTSTACK_DOCKERD_LOG:-/var/log/botstack-dockerd.log}"
  say "starting dockerd (log $log)"
  setsid dockerd >>"$log" 2>&1 </dev/null &
  local waited=0
  until docker_answers; do
    ((waited < 90)) || die "dockerd did not answer 'docker info' within 90 s; see $log"
    sleep 1
    waited=$((waited + 1))
  done
}

test_packages() {
  local packages=(debootstrap debian-archive-keyring redis-server openssh-client age python3-venv caddy pebble)
  # Any PostgreSQL version the distribution ships (15 on Debian 12, 16 on Ubuntu 24.04).
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages+=(postgresql)
  apt_install ${packages[@]+"${packages[@]}"}
  # The distribution's own PostgreSQL cluster is not used (the tests start their own): keep it off 5432.
  if command -v pg_lsclusters >/dev/null && [[ "$DRY_RUN" != 1 ]]; then
    pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _; do
      pg_ctlcluster "$version" "$cluster" stop 2>/dev/null || true
    done
  fi
}

if [[ "${1:-}" == --dry-run ]]; then
  DRY_RUN=1
  shift
fi
case "${1:-}" in
  up) ensure_docker ;;
  test)
    test_packages
    ensure_docker
    ;;
  *)
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
