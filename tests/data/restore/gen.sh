#!/usr/bin/env bash
# Regenerates tests/data/restore/oracle.txt from the Nix oracle (see scripts/nix-oracle.sh):
#
#   tests/data/restore/gen.sh > tests/data/restore/oracle.txt
#
# Rebuilds the trees of tests/data/nar/README.md under /tmp (visible inside the oracle's chroot
# as /host-tmp), checks that `nix-store --dump` of each still gives the committed NAR, and asks
# real Nix for the git hash of each tree (`nix hash path --mode git --algo ALGO --format base16`),
# and for the store paths and content addresses of some of them (`nix store add --mode MODE
# --hash-algo ALGO --name NAME` into the oracle's private store, then `nix path-info --json`).
set -euo pipefail
cd "$(dirname "$0")/../../.."
O=(scripts/nix-oracle.sh run)
T=$(mktemp -d /tmp/nix-ingest-restore.XXXXXX)
trap 'rm -rf "$T"' EXIT
H=/host-tmp/${T#/tmp/}
(
  cd "$T"
  mkdir t1 && cd t1
  mkdir empty-dir sub sub/deeper sub/deeper/deepest
  printf '' > empty-file
  printf 'Hello World!\n' > foo
  printf '1234567' > seven; printf '12345678' > eight; printf '123456789' > nine
  printf '#!/bin/sh\necho hi\n' > run.sh; chmod 755 run.sh
  printf '' > exec-empty; chmod 700 exec-empty
  printf 'x\0y\377\n' > binary
  ln -s foo link-to-foo; ln -s /nonexistent/target/that/is/long dangling; ln -s ../.. sub/deeper/up
  ln -s 'é' sub/unicode-target
  printf 'A' > A; printf 'a' > a; printf 'ab' > a.b; printf 'ab' > a-b; printf 'a0' > a0
  printf 'Ü' > 'ü'; printf z > 'with space'
  printf 'deep' > sub/deeper/deepest/file
  cd ..
  mkdir t2 && cd t2
  printf 'ff' > $'\xff\xfe'; printf 'x' > $'a\x01b'; ln -s $'\x80\x81' $'link\xc3'
  mkdir $'dir\xe9'; printf '' > $'dir\xe9/\xe9'
  cd ..
  printf 'just a file, 27 bytes long\n' > file.txt
  printf '#!/bin/sh\n' > exec.sh; chmod +x exec.sh
  ln -s some/where root-link
  mkdir empty
)
echo "# Git hashes of the trees of tests/data/nar (made as tests/data/nar/README.md says), from"
echo "# real Nix 2.26.3; regenerate with tests/data/restore/gen.sh. For each NAR and ALGO:"
echo "#   nix hash path --mode git --algo ALGO --format base16 TREE"
echo "# Format: <nar file> <root mode> <algo> <base16 id>"
for pair in t1:40000 t2:40000 file.txt:100644 exec.sh:100755 root-link:120000 empty:40000; do
  tree=${pair%%:*}; mode=${pair#*:}
  nar=${tree%%.*}.nar
  [ "$tree" = root-link ] && nar=root-link.nar
  "${O[@]}" nix-store --dump "$H/$tree" | cmp -s - "tests/data/nar/$nar" \
    || { echo "nix-store --dump $tree differs from tests/data/nar/$nar" >&2; exit 1; }
  for algo in sha1 sha256; do
    echo "$nar $mode $algo $("${O[@]}" nix hash path --mode git --algo "$algo" --format base16 "$H/$tree")"
  done
done
echo "# Store objects: nix store add --mode MODE --hash-algo ALGO --name NAME TREE prints PATH;"
echo "# nix path-info --json PATH gives its content address CA."
echo "# Format: add <nar file> <mode> <algo> <name> <CA> <store path>"
for spec in t1:t1.nar:nar:sha256 t1:t1.nar:git:sha1 t1:t1.nar:nar:sha1 t2:t2.nar:git:sha1 \
    file.txt:file.nar:flat:sha256 file.txt:file.nar:nar:sha256 file.txt:file.nar:git:sha1 \
    file.txt:file.nar:flat:md5 root-link:root-link.nar:nar:sha256 empty:empty.nar:git:sha1; do
  IFS=: read -r tree nar mode algo <<< "$spec"
  path=$("${O[@]}" nix store add --mode "$mode" --hash-algo "$algo" --name "$tree" "$H/$tree")
  ca=$("${O[@]}" nix path-info --json "$path" | sed -n 's/.*"ca":"\([^"]*\)".*/\1/p')
  echo "add $nar $mode $algo $tree $ca $path"
done
