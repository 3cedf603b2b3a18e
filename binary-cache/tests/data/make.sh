#!/usr/bin/env bash
# Regenerates the golden binary caches in this directory with real Nix (scripts/nix-oracle.sh):
# the tree from Nix's own tests added with `nix store add --mode git --hash-algo sha1`, then
# `nix copy --to file://…` with each compression, signed by a key made here (its public half is
# kept in key.pub; the secret one is thrown away).
#
#   binary-cache/tests/data/make.sh [2.34|2.26]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$here/../../.."
nix_version=${1:-2.34}
oracle() { "$repo/scripts/nix-oracle.sh" run --nix "$nix_version" "$@"; }
work=$(mktemp -d /tmp/nix-ingest-bc-golden.XXXXXX)
trap 'rm -rf "$work"' EXIT
inside=/host-tmp/${work#/tmp/}

mkdir -p "$work/tree/bla"
printf 'Hello World!\n' >"$work/tree/foo"
ln -s foo "$work/tree/bar"
printf '#!/bin/sh\necho hi\n' >"$work/tree/run"
chmod +x "$work/tree/run"
chmod -R u+w,go-w "$work/tree"

oracle nix key generate-secret --key-name nix-ingest-test-1 >"$work/key.sec"
oracle nix key convert-secret-to-public <"$work/key.sec" >"$here/key.pub"
path=$(oracle nix store add --mode git --hash-algo sha1 --name tree "$inside/tree")
# A text path that refers to the tree (its CA is text:sha256:…, with a reference).
user=$(oracle nix eval --raw --impure --expr \
  "builtins.toFile \"uses-tree\" \"tree is at \${builtins.storePath \"$path\"}\n\"")
printf '%s\n' "$path" "$user" >"$here/paths"
for compression in none xz bzip2 zstd; do
  rm -rf "$here/$compression"
  oracle nix copy --to "file://$inside/$compression?compression=$compression&secret-key=$inside/key.sec" "$user"
  rmdir "$work/$compression/log" "$work/$compression/realisations"
  cp -r "$work/$compression" "$here/$compression"
done
oracle nix --version >"$here/nix-version"
# The cache's own signing key for the tests (a test key, never used elsewhere): made once by Nix,
# its public half derived by Nix.
if [ ! -f "$here/cache-key.sec" ]; then
  oracle nix key generate-secret --key-name nix-ingest-cache-test-1 >"$here/cache-key.sec"
  oracle nix key convert-secret-to-public <"$here/cache-key.sec" >"$here/cache-key.pub"
fi
