#!/usr/bin/env bash
# Regenerates hash-convert-<version>.txt in this directory: what `nix hash convert --from FORMAT`
# of real Nix 2.34.8 and 2.26.3 (the oracles of scripts/nix-oracle.sh) makes of one digest per
# algorithm written in each format, bare (with --hash-algo) and prefixed, for each --from.
#
#   tests/data/formats/hash-convert.sh
#
# Each line: FROM <tab> INPUT <tab> the SRI hash Nix printed, or "error".
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=tests/data/formats
for ver in 2.34 2.26; do
  scripts/nix-oracle.sh run --nix "$ver" sh -c '
    for algo in md5 sha1 sha256 sha512; do
      h=$(printf "nix-ingest\n" | nix hash file --type "$algo" --base16 /dev/stdin)
      n=$(nix hash convert --hash-algo "$algo" --to nix32 "$h")
      b=$(nix hash convert --hash-algo "$algo" --to base64 "$h")
      s=$(nix hash convert --hash-algo "$algo" --to sri "$h")
      for input in "$h" "$n" "$b" "$algo:$h" "$algo:$n" "$algo:$b" "$s"; do
        for from in base16 nix32 base64 sri; do
          if out=$(nix hash convert --hash-algo "$algo" --from "$from" --to sri "$input" 2>/dev/null); then
            printf "%s\t%s\t%s\n" "$from" "$input" "$out"
          else
            printf "%s\t%s\terror\n" "$from" "$input"
          fi
        done
      done
    done' > "$OUT/hash-convert-$ver.txt"
done
