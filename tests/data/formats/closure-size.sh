#!/usr/bin/env bash
# Regenerates path-info-closure*.json in 2.34/ and 2.26/: `nix path-info --json -S` (closure
# sizes) of the paths of paths.txt, read from the binary cache in cache/ (made by gen.sh), by real
# Nix 2.34.8 (`--json-format 1` and `2`) and 2.26.3 (the oracles of scripts/nix-oracle.sh).
#
#   tests/data/formats/closure-size.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=tests/data/formats
T=$(mktemp -d /tmp/nix-ingest-closure.XXXXXX)
trap 'rm -rf "$T"' EXIT
H=/host-tmp/${T#/tmp/}
for ver in 2.34 2.26; do
  cp -r "$OUT/$ver/cache" "$T/cache-$ver"
  mapfile -t paths <"$OUT/$ver/paths.txt"
  O=(scripts/nix-oracle.sh run --nix "$ver" nix path-info --json -S --store "file://$H/cache-$ver")
  if [ "$ver" = 2.34 ]; then
    for f in 1 2; do
      "${O[@]}" --json-format "$f" "${paths[@]}" >"$OUT/$ver/path-info-closure-format-$f.json"
    done
  else
    "${O[@]}" "${paths[@]}" >"$OUT/$ver/path-info-closure.json"
  fi
done
