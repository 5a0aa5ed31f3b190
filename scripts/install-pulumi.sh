#!/usr/bin/env bash
# Usage: scripts/install-pulumi.sh [--dry-run] [install|bin-dir|check]
#
# Makes the pinned Pulumi CLI (scripts/versions.env) available, once per version:
#   install   (default) the official release, checksum-verified; where it can't be downloaded and Go
#             is installed, a build from the Go modules instead (once, about 8 minutes on 2 cores)
#   bin-dir   print the directory that holds the pinned `pulumi` (install first if needed)
#   check     exit 0 when the pinned CLI is installed, 1 otherwise
#
# Cache: BOTSTACK_ENGINE_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/botstack/engine), one directory
# per version, outside the checkout so that every clone and CI on the same machine share it.
# BOTSTACK_PULUMI_SOURCE=release|go forces one way; BOTSTACK_PULUMI_RELEASE_URL and
# BOTSTACK_PULUMI_CHECKSUMS_URL point at a mirror of the release. Messages go to stderr; `bin-dir` prints to stdout.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/versions.env
source "$REPO/scripts/versions.env"

CACHE="${BOTSTACK_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/botstack/engine}"
TARGET="$CACHE/pulumi-v$PULUMI_VERSION"
# Overridable for tests and mirrors: where the tarball and the release's checksums file are fetched.
RELEASE_URL="${BOTSTACK_PULUMI_RELEASE_URL:-$PULUMI_RELEASE_URL}"
CHECKSUMS_URL="${BOTSTACK_PULUMI_CHECKSUMS_URL:-$PULUMI_CHECKSUMS_URL}"

installed() {
  [[ -x "$TARGET/bin/pulumi" ]] && [[ "$("$TARGET/bin/pulumi" version 2>/dev/null)" == "v$PULUMI_VERSION" ]]
}

platform() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) return 1 ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) return 1 ;;
  esac
  echo "$os-$arch"
}

# The official tarball holds pulumi, the language hosts and their helper scripts in pulumi/.
from_release() {
  local plat tarball sums work
  plat="$(platform)" || return 1
  tarball="pulumi-v$PULUMI_VERSION-$plat.tar.gz"
  sums="pulumi-$PULUMI_VERSION-checksums.txt"
  command -v curl >/dev/null || return 1
  say "downloading the Pulumi CLI v$PULUMI_VERSION ($tarball)"
  [[ "$DRY_RUN" == 1 ]] && { run curl -fsSL "$RELEASE_URL/$tarball"; return 0; }
  work="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: the directory is known
  trap "rm -rf '$work'" RETURN
  curl -fsSL --connect-timeout 10 --max-time 300 -o "$work/$tarball" "$RELEASE_URL/$tarball" || return 1
  curl -fsSL --connect-timeout 10 --max-time 60 -o "$work/$sums" \
    "$CHECKSUMS_URL/$sums" || return 1
  verify_checksum "$work" "$tarball" "$sums" || die "checksum mismatch for $tarball: not installed"
  mkdir -p "$work/x" "$TARGET" || return 1
  tar -xzf "$work/$tarball" -C "$work/x" || return 1
  rm -rf "${TARGET:?}/bin"
  mv "$work/x/pulumi" "$TARGET/bin" || return 1
}

# verify_checksum DIR FILE SUMS: FILE's sha256 is the one SUMS lists for it.
verify_checksum() {
  local dir="$1" file="$2" sums="$3" expected actual
  expected="$(awk -v f="$file" '$2 == f || $2 == "*" f {print $1}' "$dir/$sums")"
  [[ -n "$expected" ]] || return 1
  actual="$(sha256sum "$dir/$file" | cut -d' ' -f1)"
  [[ "$expected" == "$actual" ]]
}

# The Go build: the pkg and sdk modules laid out as in the repository (pkg's go.mod replaces sdk
# with ../sdk, so `go install pkg@version` refuses it), built with the release's tags and version.
from_go() {
  local gopath pkg_dir sdk_dir work
  command -v go >/dev/null || return 1
  export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
  say "building the Pulumi CLI v$PULUMI_VERSION from Go modules: once per version, about 8 minutes on 2 cores (cached in $TARGET)"
  if [[ "$DRY_RUN" == 1 ]]; then
    run go mod download -json "$PULUMI_GO_PKG@v$PULUMI_VERSION" "$PULUMI_GO_SDK@v$PULUMI_VERSION"
    run go build -tags "$PULUMI_GO_TAGS" -o "$TARGET/bin/pulumi" ./cmd/pulumi
    return 0
  fi
  gopath="$(go env GOMODCACHE)"
  go mod download "$PULUMI_GO_PKG@v$PULUMI_VERSION" "$PULUMI_GO_SDK@v$PULUMI_VERSION" >/dev/null ||
    die "the Go module proxy did not serve $PULUMI_GO_PKG@v$PULUMI_VERSION (see docs/engine.md)"
  pkg_dir="$gopath/$PULUMI_GO_PKG@v$PULUMI_VERSION"
  sdk_dir="$gopath/$PULUMI_GO_SDK@v$PULUMI_VERSION"
  work="$CACHE/src-v$PULUMI_VERSION"
  # Called in a condition (`elif from_go`), where `set -e` does not apply: every step checks itself.
  rm -rf "$work"
  mkdir -p "$work" && cp -R "$pkg_dir" "$work/pkg" && cp -R "$sdk_dir" "$work/sdk" && chmod -R u+w "$work" || return 1
  (cd "$work/pkg" && go build -trimpath -tags "$PULUMI_GO_TAGS" \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    -o "$work/bin/pulumi" ./cmd/pulumi) || die "the Go build of the Pulumi CLI failed (see above); nothing was installed"
  # The Python language host's helper script ships in the sdk module; the host itself does not (docs/engine.md).
  install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$work/bin/" || return 1
  rm -rf "${TARGET:?}/bin"
  mkdir -p "$TARGET" && mv "$work/bin" "$TARGET/bin" || return 1
  rm -rf "$work"
}

install_cli() {
  if installed; then
    return 0
  fi
  local source="${BOTSTACK_PULUMI_SOURCE:-}"
  if [[ "$source" != go ]] && from_release; then
    :
  elif [[ "$source" != release ]] && from_go; then
    :
  else
    die "the Pulumi CLI v$PULUMI_VERSION could not be installed: its release can't be downloaded here and Go is not installed.
  Install Go (Debian/Ubuntu: apt-get install golang-go; or https://go.dev/dl/) and run make again,
  or install the CLI yourself: curl -fsSL https://get.pulumi.com | sh -s -- --version $PULUMI_VERSION"
  fi
  [[ "$DRY_RUN" == 1 ]] || installed || die "the installed CLI in $TARGET/bin does not report v$PULUMI_VERSION"
  [[ "$DRY_RUN" == 1 ]] || say "Pulumi CLI $("$TARGET/bin/pulumi" version) in $TARGET/bin"
}

if [[ "${1:-}" == --dry-run ]]; then
  DRY_RUN=1
  shift
fi
case "${1:-install}" in
  install) install_cli ;;
  bin-dir)
    install_cli
    echo "$TARGET/bin"
    ;;
  check) installed ;;
  -h | --help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
  *)
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
