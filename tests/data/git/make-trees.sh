#!/usr/bin/env bash
# Builds the trees whose Nix git hashes are recorded in oracle.txt, under the directory "$1".
# tests/git_objects.rs builds the same trees (see `golden_tree` and `odd_tree` there).
set -euo pipefail
out=$1
mkdir -p "$out"

# The tree from Nix's own tests.
g="$out/golden"
mkdir -p "$g/bla"
printf 'Hello World!\n' > "$g/foo"
ln -s foo "$g/bar"

# Names that sort around '/', spaces, non-UTF-8 bytes, exec bits, symlinks, empty files and
# empty directories.
o="$out/odd"
mkdir -p "$o/a" "$o/b" "$o/c/d/e" "$o/c/d-"
printf 'x\n' > "$o/a/x"
printf 'dash' > "$o/a-"
printf 'dot' > "$o/a.b"
printf '#!/bin/sh\n' > "$o/a0"; chmod 755 "$o/a0"
ln -s a "$o/a="
printf 'space' > "$o/a b"
printf 'non-utf8 name' > "$o/$(printf '\377\376')"
: > "$o/b.c"
: > "$o/c/d/f"; chmod 755 "$o/c/d/f"
printf 'd.txt' > "$o/c/d.txt"
printf 'd0' > "$o/c/d0"
ln -s "$(printf '\351t\351')" "$o/link-nonutf8"
