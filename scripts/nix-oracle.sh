#!/usr/bin/env bash
# Gives this machine real Nix with git hashing to judge nix-ingest against: two Debian chroots,
#   2.26 — Debian trixie, nix-bin 2.26.3
#   2.34 — Debian sid,    nix-bin 2.34.8 (the default: the Nix users of today run)
#
#   scripts/nix-oracle.sh setup [2.34|2.26|sid|trixie|all]   # build (once) the chroot(s); default all
#   scripts/nix-oracle.sh run [--nix 2.34|2.26] CMD ARGS…   # run CMD inside one, git hashing enabled
#   scripts/nix-oracle.sh dir [--nix 2.34|2.26]              # print its chroot directory
#   scripts/nix-oracle.sh versions                           # the versions `setup all` builds
#   scripts/nix-oracle.sh unmount                            # remove mounts older versions left
#
# Without `--nix`, $NIX_ORACLE_VERSION chooses (default 2.34). Inside a chroot the host's /tmp is
# /host-tmp, so trees made by tests are judged in place. That mount, and /proc, exist only in the
# private mount namespace of the one command that runs: nothing stays mounted on the host, and a
# chroot directory is safe to delete at any time (`rm -rf --one-file-system` to be doubly sure).
#
# The chroots live in /var/cache/nix-ingest/oracle-<suite> ($NIX_ORACLE_ROOT overrides the parent
# directory; $NIX_ORACLE_DIR overrides the directory of the chosen version). Setup is idempotent: once
# a chroot is ready it only mounts what it needs. It needs root (or sudo), and the first time network
# access to a Debian mirror: $DEBIAN_MIRROR, else the first `deb` archive in this machine's own apt
# sources (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list). debootstrap is installed with
# apt if missing. Sid's Release file may be past its Valid-Until date on a mirror or snapshot, so apt
# in the sid chroot is told not to check it.
set -euo pipefail

ROOT=${NIX_ORACLE_ROOT:-/var/cache/nix-ingest}
SELF=$(readlink -f "$0")
# $NIX_ORACLE_EXTRA_CONFIG is appended (e.g. "extra-experimental-features = blake3-hashes").
export NIX_CONFIG="experimental-features = nix-command git-hashing
build-users-group = 
${NIX_ORACLE_EXTRA_CONFIG:-}"

die() { echo "nix-oracle.sh: $*" >&2; exit 2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

mounted() { grep -q " $1 " /proc/mounts; }

# version -> suite
suite_of() {
  case "$1" in
    2.34 | 2.34.* | sid) echo sid ;;
    2.26 | 2.26.* | trixie) echo trixie ;;
    *) die "unknown Nix version '$1' (known: 2.34, 2.26)" ;;
  esac
}

# The directory of a suite's chroot.
dir_of() {
  if [ -n "${NIX_ORACLE_DIR:-}" ] && [ "$(suite_of "$version")" = "$1" ]; then
    echo "$NIX_ORACLE_DIR"
  else
    echo "$ROOT/oracle-$1"
  fi
}

# The Debian archive this machine already uses (never a host name written here).
mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then
    echo "$DEBIAN_MIRROR"
    return
  fi
  local uri
  uri=$(
    {
      for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # deb822: the URIs of the stanzas whose suites are not -security / -updates / -backports.
        awk 'BEGIN { RS = ""; FS = "\n" }
             { u = ""; s = ""; t = ""
               for (i = 1; i <= NF; i++) {
                 if ($i ~ /^URIs:/) { u = $i; sub(/^URIs:[ \t]*/, "", u) }
                 if ($i ~ /^Suites:/) { s = $i }
                 if ($i ~ /^Types:/) { t = $i } }
               if (u != "" && t ~ /(^|[ \t])deb([ \t]|$)/ && s !~ /-security/) { split(u, a, /[ \t]+/); print a[1] } }' "$f"
      done
      for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # one-line style: deb [options] URI SUITE COMPONENTS…
        awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                           if ($(i + 1) !~ /-security/) print $i }' "$f"
      done
    } | grep -E '^(https?|file)://' | head -n 1
  ) || true
  [ -n "$uri" ] || die "no Debian archive found in /etc/apt sources; set DEBIAN_MIRROR"
  echo "${uri%/}"
}

# Mounts never outlive the command that needs them: every command runs in a private mount
# namespace (`unshare --mount`) where /proc and the host's /tmp (as /host-tmp) are mounted, and the
# kernel drops both when the command ends. Nothing is left mounted under $ROOT, so removing it can
# never reach the host's /tmp.
in_chroot() {
  local dir=$1
  shift
  as_root mkdir -p "$dir/host-tmp" "$dir/proc"
  as_root unshare --mount --propagation private -- "$SELF" __inside "$dir" "$@"
}

# Mounts left by older versions of this script (which mounted on the host) are a trap: refuse to
# go on over them, and say how to remove them.
refuse_stale() {
  local dir=$1 stale
  stale=$(awk -v d="$dir/" 'index($2 "/", d) == 1 { print $2 }' /proc/mounts)
  if [ -n "$stale" ]; then
    echo "nix-oracle.sh: mounts left inside $dir:" >&2
    echo "$stale" | sed 's/^/  /' >&2
    die "refusing to use it; remove them with: $0 unmount"
  fi
}

# Unmounts whatever is mounted below $ROOT (deepest first), never deleting anything.
unmount_stale() {
  local m
  awk -v d="$ROOT/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    as_root umount -l "$m" && echo "unmounted $m"
  done
}

setup_suite() {
  local suite=$1 dir
  dir=$(dir_of "$suite")
  refuse_stale "$dir"
  if [ -x "$dir/usr/bin/nix" ] && [ -f "$dir/.nix-ingest-ready" ]; then
    return 0
  fi
  command -v debootstrap >/dev/null || {
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  local mirror
  mirror=$(mirror)
  as_root mkdir -p "$dir"
  if [ ! -x "$dir/usr/bin/apt-get" ]; then
    # debootstrap does not check Valid-Until; a run stopped half-way is resumed by running again.
    as_root debootstrap --variant=minbase "$suite" "$dir" "$mirror" >/dev/null
  fi
  if [ "$suite" = sid ]; then
    echo 'Acquire::Check-Valid-Until "false";' |
      as_root tee "$dir/etc/apt/apt.conf.d/99nix-ingest-valid-until" >/dev/null
  fi
  in_chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  in_chroot "$dir" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends nix-bin git ca-certificates >/dev/null
  # A private store inside the chroot; nothing is built, only hashed and added.
  as_root mkdir -p "$dir/nix/store" "$dir/nix/var/nix"
  as_root touch "$dir/.nix-ingest-ready"
}

run_in() {
  local dir
  dir=$(dir_of "$(suite_of "$1")")
  shift
  [ -x "$dir/usr/bin/nix" ] || die "no Nix in $dir; run: $0 setup"
  refuse_stale "$dir"
  in_chroot "$dir" env NIX_CONFIG="$NIX_CONFIG" HOME=/root "$@"
}

# [--nix V] prefix -> $version, remaining args in "${rest[@]}"
version=${NIX_ORACLE_VERSION:-2.34}
parse_nix() {
  rest=("$@")
  if [ "${1:-}" = --nix ]; then
    [ $# -ge 2 ] || die "--nix needs a version"
    version=$2
    rest=("${@:3}")
  elif [[ "${1:-}" == --nix=* ]]; then
    version=${1#--nix=}
    rest=("${@:2}")
  fi
  suite_of "$version" >/dev/null
}

case "${1:-}" in
  __inside)
    # Inside the private mount namespace made by in_chroot (not for direct use).
    dir=$2
    shift 2
    mount -t proc proc "$dir/proc"
    mount --bind /tmp "$dir/host-tmp"
    exec chroot "$dir" "$@"
    ;;
  unmount)
    unmount_stale
    ;;
  setup)
    which=${2:-all}
    if [ "$which" = all ]; then
      suites=(sid trixie)
    else
      suites=("$(suite_of "$which")")
    fi
    for s in "${suites[@]}"; do
      setup_suite "$s"
      run_in "$s" nix --version
    done
    ;;
  run)
    shift
    parse_nix "$@"
    [ ${#rest[@]} -gt 0 ] || die "run needs a command"
    run_in "$version" "${rest[@]}"
    ;;
  dir)
    shift
    parse_nix "$@"
    dir_of "$(suite_of "$version")"
    ;;
  versions) echo "2.34 2.26" ;;
  *)
    echo "usage: $0 setup [2.34|2.26|all] | unmount | run [--nix 2.34|2.26] CMD [ARGS…] | dir [--nix V] | versions" >&2
    exit 2
    ;;
esac
