#!/usr/bin/env bash
# Gives this machine a real Nix with git hashing to judge nix-ingest against.
#
#   scripts/nix-oracle.sh setup          # build (once) a Debian trixie chroot with nix-bin and git
#   scripts/nix-oracle.sh run CMD ARGS…  # run CMD inside it, with git hashing enabled
#   scripts/nix-oracle.sh dir            # print the chroot directory
#
# The chroot lives in $NIX_ORACLE_DIR (default /var/cache/nix-ingest/oracle-trixie). Setup is
# idempotent: a second run only checks that `nix --version` answers. Needs root, apt and network
# access to a Debian mirror ($DEBIAN_MIRROR, default deb.debian.org).
set -euo pipefail

DIR=${NIX_ORACLE_DIR:-/var/cache/nix-ingest/oracle-trixie}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export NIX_CONFIG="experimental-features = nix-command git-hashing
build-users-group = "

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

mounted() { grep -q " $1 " /proc/mounts; }

mount_all() {
  mounted "$DIR/proc" || as_root mount -t proc proc "$DIR/proc"
  mkdir -p "$DIR/work"
  # The host's /tmp is visible inside as /host-tmp so trees made by tests can be judged in place.
  mkdir -p "$DIR/host-tmp"
  mounted "$DIR/host-tmp" || as_root mount --bind /tmp "$DIR/host-tmp"
}

setup() {
  if [ -x "$DIR/usr/bin/nix" ] && [ -f "$DIR/.nix-ingest-ready" ]; then
    mount_all
    return 0
  fi
  command -v debootstrap >/dev/null || {
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  as_root mkdir -p "$DIR"
  if [ ! -x "$DIR/usr/bin/apt-get" ]; then
    as_root debootstrap --variant=minbase trixie "$DIR" "$MIRROR" >/dev/null
  fi
  mount_all
  as_root chroot "$DIR" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root chroot "$DIR" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends nix-bin git ca-certificates >/dev/null
  # A private store inside the chroot; nothing is built, only hashed.
  as_root mkdir -p "$DIR/nix/store" "$DIR/nix/var/nix"
  as_root touch "$DIR/.nix-ingest-ready"
}

run() {
  mount_all
  as_root chroot "$DIR" env NIX_CONFIG="$NIX_CONFIG" HOME=/root "$@"
}

case "${1:-}" in
  setup) setup; run nix --version ;;
  run) shift; run "$@" ;;
  dir) echo "$DIR" ;;
  *) echo "usage: $0 setup | run CMD [ARGS…] | dir" >&2; exit 2 ;;
esac
