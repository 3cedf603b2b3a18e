#!/usr/bin/env bash
# Path info, binary caches and NAR unpacking against real Nix (both oracles of
# scripts/nix-oracle.sh, Nix 2.34.8 and 2.26.3):
#
# - tests/binary_cache.rs: a file:// binary cache written through the crate (NAR, narinfo with
#   a CA and no signature, nix-cache-info) is accepted by `nix copy --from` into a fresh store
#   that requires signatures, and refused when the NAR or the CA is altered;
# - tests/nar_unpack.rs: `nar::unpack` makes the trees `nix-store --restore` makes, and refuses
#   every hostile archive Nix refuses;
# - tests/formats.rs: NAR listings made from new trees are the `.ls` files Nix writes for them,
#   and Nix's path info JSON of them reads back to its narinfos (the rest of tests/formats.rs
#   checks committed golden data and runs without the oracles).
#
#   scripts/path-info-oracle.sh
#
# Needs root (or sudo), and a Debian mirror the first time (to build the chroots).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/nix-oracle.sh setup all >/dev/null
NIX_INGEST_ORACLE=1 cargo test --locked --test binary_cache --test nar_unpack -- --test-threads=2 "$@"
NIX_INGEST_ORACLE=1 exec cargo test --locked --features serde --test formats -- --test-threads=2 "$@"
