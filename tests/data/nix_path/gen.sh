#!/usr/bin/env bash
# Regenerates tests/data/nix_path/2.26.txt and 2.34.txt: what real Nix (both oracles of
# scripts/nix-oracle.sh) makes of tricky paths given to `nix hash path` and `nix store add`.
#
#   tests/data/nix_path/gen.sh
#
# The tree (made again by tests/nix_path.rs, which must match it) lives in a working directory
# W; each path is given relative to W. Each line: the path, then tab-separated, the answers of
#   nix hash path --mode nar P | nix hash path --mode flat P |
#   nix store add --dry-run P  | nix store add --mode flat --dry-run P
# each the first line Nix printed, or `error` when it failed. Needs root (the oracles are
# chroots).
set -euo pipefail
cd "$(dirname "$0")/../../.."
T=$(mktemp -d /tmp/nix-ingest-np.XXXXXX)
trap 'rm -rf "$T"' EXIT
W=$T/w
mkdir -p "$W/tree/bla" "$W/sub" "$W/other/deep"
printf 'Hello World!\n' > "$W/tree/foo"; ln -s foo "$W/tree/bar"
printf 'y\n' > "$W/x"; printf 'otherx\n' > "$W/other/x"; printf 'deep\n' > "$W/other/deep/x"
ln -s tree "$W/link"; ln -s other/deep "$W/ldeep"; ln -s other/deep/x "$W/lfile"
ln -s nowhere "$W/dangling"
chmod -R go-w "$T"

PATHS=(tree tree/ ./tree tree/. tree// sub/../x ./sub/../tree/ link link/ link/. link//
  ldeep/../x ldeep/x ldeep/ ldeep/. ldeep/../deep/x ldeep/../../w/x lfile lfile/ lfile/.
  dangling dangling/ nonexistent nonexistent/x x ../w/x . ..)

for ver in 2.26 2.34; do
  out=tests/data/nix_path/$ver.txt
  {
    echo "# $(scripts/nix-oracle.sh run --nix "$ver" nix --version) (tests/data/nix_path/gen.sh)"
    for p in "${PATHS[@]}"; do
      line=$p
      for cmd in "nix hash path --mode nar" "nix hash path --mode flat" \
        "nix store add --dry-run" "nix store add --mode flat --dry-run"; do
        a=$(scripts/nix-oracle.sh run --nix "$ver" sh -c "cd '/host-tmp/${W#/tmp/}' && $cmd '$p' 2>/dev/null" || echo error)
        line+=$'\t'"${a:-error}"
      done
      echo "$line"
    done
  } > "$out"
done
