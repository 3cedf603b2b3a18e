#!/usr/bin/env bash
# nix_ingest::fetch against real Nix's git fetcher: `nix flake prefetch --json git+file://…` (Nix 2.34.8
# byte for byte, 2.26.3 field by field) and `builtins.fetchGit` (both), on generated repositories
# with merges, tags, executables, symlinks, an empty tree, odd names, export-ignore and a
# submodule, loose and packed. See tests/git_fetcher.rs. About a minute once built.
#
#   scripts/git-fetcher-oracle.sh
#
# Needs root (or sudo), git, and the oracle chroots of scripts/nix-oracle.sh (built on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/nix-oracle.sh setup 2.34 >/dev/null
scripts/nix-oracle.sh setup 2.26 >/dev/null
git --version >/dev/null
NIX_INGEST_ORACLE=1 exec cargo test --locked --features gix --test git_fetcher -- --test-threads=1 "$@"
