#!/usr/bin/env bash
# Differential tests: this crate against real Nix (2.26.3, in the chroot of scripts/nix-oracle.sh)
# and real git, on hundreds of random trees from a fixed seed. See tests/differential.rs.
#
#   scripts/differential.sh                         # 300 trees, the fixed seed
#   NIX_INGEST_ORACLE_TREES=1000 scripts/differential.sh
#   NIX_INGEST_ORACLE_SEED=0123abcd scripts/differential.sh
#   NIX_INGEST_ORACLE_ONLY=171 NIX_INGEST_ORACLE_KEEP=1 scripts/differential.sh   # one tree, kept
#
# Needs root (or sudo), git, and a Debian mirror the first time (to build the chroot). Builds in
# release mode: the suite hashes a few hundred MB several times over.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/nix-oracle.sh setup >/dev/null
git --version >/dev/null
NIX_INGEST_ORACLE=1 exec cargo test --release --test differential -- --nocapture --test-threads=1 "$@"
