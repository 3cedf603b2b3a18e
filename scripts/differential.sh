#!/usr/bin/env bash
# Differential tests: this crate against real Nix and real git, once per Nix version of
# scripts/nix-oracle.sh (2.34.8, then 2.26.3): hundreds of random trees from a fixed seed (see
# tests/differential.rs), and the hostile NARs of tests/hostile_nars.rs through
# `nix-store --restore` (their golden verdicts must still hold).
#
#   scripts/differential.sh                         # 300 trees, the fixed seed, both versions
#   NIX_ORACLE_VERSIONS=2.34 scripts/differential.sh
#   NIX_INGEST_ORACLE_TREES=1000 scripts/differential.sh
#   NIX_INGEST_ORACLE_SEED=0123abcd scripts/differential.sh
#   NIX_INGEST_ORACLE_ONLY=171 NIX_INGEST_ORACLE_KEEP=1 scripts/differential.sh   # one tree, kept
#
# Needs root (or sudo), git, and a Debian mirror the first time (to build the chroots). Builds in
# release mode (the suite hashes a few hundred MB several times over) with every feature, which
# reuses what `cargo bench --no-run --all-features` built; the nix-ingest binary is built first,
# as the suite would build it.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=${NIX_ORACLE_VERSIONS:-2.34 2.26}
for v in $versions; do
  scripts/nix-oracle.sh setup "$v" >/dev/null
done
git --version >/dev/null
tests=(--test differential --test hostile_nars)
cargo test --locked --release --all-features "${tests[@]}" --no-run
cargo build --locked --release -p nix-ingest-cli --bin nix-ingest
for v in $versions; do
  printf '\n--- Nix %s (%(%H:%M:%S)T)\n' "$v" -1
  NIX_ORACLE_VERSION=$v NIX_INGEST_ORACLE=1 \
    cargo test --locked --release --all-features "${tests[@]}" -- --nocapture --test-threads=1 "$@"
done
