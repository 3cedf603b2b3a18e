#!/usr/bin/env bash
# Regenerates the narinfo and path-info golden data in this directory from real Nix: 2.26.3 (the
# trixie chroot of scripts/nix-oracle.sh) into 2.26/, and 2.34.8 (the sid chroot) into 2.34/.
#
#   tests/data/narinfo/gen.sh
#
# For each Nix: adds a few store objects to the oracle's private store (git, NAR and flat content
# addresses, and a text file with a reference), copies them with `nix copy --to file://…` into a
# binary cache without compression and one with Nix's default (xz), and keeps every `.narinfo`,
# `nix-cache-info` and uncompressed NAR Nix wrote, and `nix path-info --json` of the local store
# and of the binary cache. Needs root (the oracles are chroots).
# Nix prints JSON with sorted keys and no spaces; the files keep its bytes.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=tests/data/narinfo
T=$(mktemp -d /tmp/nix-ingest-ni.XXXXXX)
trap 'rm -rf "$T"' EXIT
H=/host-tmp/${T#/tmp/}

# The objects (the same bytes for both versions).
mkdir -p "$T/src/tree/bla"; printf 'Hello World!\n' > "$T/src/tree/foo"; ln -s foo "$T/src/tree/bar"
printf '#!/bin/sh\necho hi\n' > "$T/src/tree/exe"; chmod 755 "$T/src/tree/exe"
printf 'hello\n' > "$T/src/hello"
chmod -R go-w "$T/src"

gen() {
  local ver=$1
  local O=(scripts/nix-oracle.sh run --nix "$ver")
  local D=$OUT/$ver
  rm -rf "$D"; mkdir -p "$D"
  local paths=()
  paths+=("$("${O[@]}" nix store add --mode git --hash-algo sha1 "$H/src/tree")")
  paths+=("$("${O[@]}" nix store add --mode nar --hash-algo sha256 --name tree-nar "$H/src/tree")")
  paths+=("$("${O[@]}" nix store add --mode flat --hash-algo sha256 "$H/src/hello")")
  paths+=("$("${O[@]}" nix eval --raw --expr 'builtins.toFile "refs" "see ${builtins.toFile "a" "a"}"')")
  printf '%s\n' "${paths[@]}" > "$D/paths.txt"
  for c in none xz; do
    "${O[@]}" nix copy --to "file://$H/cache-$ver-$c?compression=$c" "${paths[@]}" 2>/dev/null
    mkdir -p "$D/cache-$c"
    cp "$T/cache-$ver-$c"/*.narinfo "$T/cache-$ver-$c/nix-cache-info" "$D/cache-$c/"
    [ "$c" = none ] && mkdir -p "$D/cache-none/nar" && cp "$T/cache-$ver-$c"/nar/*.nar "$D/cache-none/nar/"
    "${O[@]}" nix path-info --json --store "file://$H/cache-$ver-$c" "${paths[@]}" 2>/dev/null > "$D/path-info-cache-$c.json"
  done
  "${O[@]}" nix path-info --json "${paths[@]}" 2>/dev/null > "$D/path-info.json"
  if [ "$ver" = 2.34 ]; then
    for f in 1 2; do
      "${O[@]}" nix path-info --json --json-format "$f" "${paths[@]}" > "$D/path-info-format-$f.json"
      "${O[@]}" nix path-info --json --json-format "$f" --store "file://$H/cache-$ver-none" "${paths[@]}" > "$D/path-info-cache-none-format-$f.json"
    done
  fi
  "${O[@]}" nix --version > "$D/nix-version.txt"
}

gen 2.26
gen 2.34
