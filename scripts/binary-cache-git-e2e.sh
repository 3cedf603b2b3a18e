#!/usr/bin/env bash
# End to end: real Nix (2.34 by default, the chroots of scripts/nix-oracle.sh) pushes to and pulls
# from nix-ingest-binary-cache with the git storage (`--storage git:PATH`) on the loopback.
#
#   scripts/binary-cache-git-e2e.sh              # Nix 2.34
#   scripts/binary-cache-git-e2e.sh 2.26         # another version
#
# `nix store add` of a few trees (directories sharing a file, a single file, a text path that
# refers to a tree), `nix copy --to http://…` with compression none, the default (xz) and zstd,
# and a NAR listing: all verified and kept as git objects. Then, byte for byte:
# every NAR the cache serves is what `nix-store --dump` gives for the path, its hash the NarHash;
# `git fsck --strict` is clean; the shared file is one blob; `nix copy --from` and substitution
# into fresh stores give the trees back (before and after `pack`, which runs while serving; the
# uploader's Nix asks for the compressed files its cached narinfos name, served compressed again
# on the fly, while a Nix that never uploaded reads the `Compression: none` narinfos); a
# second service replicates the first (`replicate --from`, every path and the listing verified
# again) and serves the same narinfos, NARs and listing, the paths to `nix copy --from`; a third
# one is pushed to (`push --to`, staged in refs/nix-incoming/, served only once
# `replicate --incoming` verified it) and serves them the same; and `gc --storage git:…` removes old paths,
# keeping a recently read closure whole, also when run again and again while Nix uploads (every
# ref always names complete objects). Needs root (the chroots) and scripts/nix-oracle.sh setup.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/binary-cache-lib.sh
v=${1:-2.34}

command -v curl >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
}
scripts/nix-oracle.sh setup "$v" >/dev/null
cargo build --locked -q -p nix-ingest-binary-cache
bin=${CARGO_TARGET_DIR:-target}/debug/nix-ingest-binary-cache

work=$(mktemp -d /tmp/nix-ingest-bc-git-e2e.XXXXXX)
inside=/host-tmp/${work#/tmp/}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/service-*.log; do [ ! -f "$log" ] || tail -n 20 "$log" >&2; done
  exit 1
}
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }

home=$inside/home
mkdir -p "$work/home"
nix() { scripts/nix-oracle.sh run --nix "$v" env HOME="$home" nix "$@"; }
nix_store() { scripts/nix-oracle.sh run --nix "$v" env HOME="$home" nix-store "$@"; }

# Starts a service on `git:$1` (shared start-up: scripts/binary-cache-lib.sh); sets `url`.
serve() {
  local name=$1
  bc_start "$work/service-$name.log" "$bin" --dir "$work/work-$name" \
    --storage "git:$work/$name.git" --git-pack-every 2 || true
  pids+=("$BC_PID")
  [ -n "${BC_PORT:-}" ] || fail "the service on git:$name did not start"
  url="http://127.0.0.1:$BC_PORT"
}
serve a
echo "== Nix $(nix --version), git storage"

# The paths: two trees sharing a file, a single file, a text path referring to the first tree.
shared="a file both trees hold, Nix $v"
paths=()
for compression in none xz zstd; do
  t=$work/tree-$compression
  mkdir -p "$t/sub/empty"
  printf '%s\n' "$shared" >"$t/shared"
  printf 'made for compression %s\n' "$compression" >"$t/file"
  head -c 200000 /dev/urandom >"$t/sub/random"
  printf '#!/bin/sh\necho hi\n' >"$t/sub/run"
  chmod +x "$t/sub/run"
  ln -s ../file "$t/sub/link"
  chmod -R go-w "$t"
  path=$(nix store add --mode git --hash-algo sha1 --name "tree-$compression" "$inside/tree-$compression")
  to=$url
  [ "$compression" = xz ] || to="$url?compression=$compression"
  [ "$compression" != none ] || to="$to&write-nar-listing=1"
  nix copy --to "$to" "$path" || fail "nix copy --to $to $path was refused"
  ok "nix copy --to $to (git CA, compression $compression) accepted into git storage"
  paths+=("$path")
done
# Another name for the same tree: the same NAR, so Nix's xz file is the one it uploaded before,
# which the cache does not keep (it answers HEAD with 404): Nix uploads it again, and it is
# verified for the new path.
again=$(nix store add --mode git --hash-algo sha1 --name tree-xz-again "$inside/tree-xz")
nix copy --to "$url" "$again" || fail "nix copy --to $url $again (a NAR the cache already holds)"
ok "nix copy --to of another path with the same NAR (and xz file) accepted"
paths+=("$again")
printf 'a single file\n' >"$work/single"
single=$(nix store add --mode nar --name single "$inside/single")
user=$(nix eval --raw --impure --expr \
  "builtins.toFile \"uses-tree\" \"uses \${builtins.storePath \"${paths[0]}\"}\n\"")
nix copy --to "$url" "$single" "$user" || fail "nix copy --to $url of a single file and a text path"
ok "nix copy --to of a single-file path and a text path with a reference accepted"
paths+=("$single" "$user")

# Every NAR served is what nix-store --dump gives, hashing to the NarHash.
for path in "${paths[@]}"; do
  hash=$(basename "$path" | cut -c1-32)
  curl -sSf -o "$work/$hash.narinfo" "$url/$hash.narinfo" || fail "no narinfo for $path"
  grep -qx 'Compression: none' "$work/$hash.narinfo" || fail "narinfo of $path: $(cat "$work/$hash.narinfo")"
  curl -sSf -o "$work/$hash.nar" "$url/$(sed -n 's/^URL: //p' "$work/$hash.narinfo")" || fail "no NAR for $path"
  nix_store --dump "$path" >"$work/$hash.dump"
  cmp -s "$work/$hash.nar" "$work/$hash.dump" || fail "the NAR served for $path is not nix-store --dump's"
  got=$(nix hash file --type sha256 --base32 "$inside/$hash.nar")
  [ "sha256:$got" = "$(sed -n 's/^NarHash: //p' "$work/$hash.narinfo")" ] || fail "NarHash of $path"
done
ok "${#paths[@]} NARs served from git trees equal nix-store --dump, their hashes the NarHash"
curl -sSf -o "$work/listing.json" "$url/$(basename "${paths[0]}" | cut -c1-32).ls" || fail "no listing"
grep -q '"random"' "$work/listing.json" || fail "listing: $(cat "$work/listing.json")"
ok "the NAR listing Nix uploaded is kept and served"

fsck() {
  local out
  out=$(git --git-dir "$1" fsck --strict --no-dangling 2>&1) || fail "git fsck --strict $1: $out"
  # A bare cache has no branch: git notes that HEAD is unborn; nothing else may be said.
  out=$(grep -v '^notice: HEAD points to an unborn branch' <<<"$out" || true)
  [ -z "$out" ] || fail "git fsck --strict $1: $out"
}
fsck "$work/a.git"
blob=$(git hash-object --stdin <<<"$shared")
[ "$(git --git-dir "$work/a.git" cat-file -t "$blob")" = blob ] || fail "the shared file is not a blob"
n=$(for c in none xz zstd; do git --git-dir "$work/a.git" ls-tree "refs/nix/$(basename "$(printf '%s\n' "${paths[@]}" | grep -- "-tree-$c$")" | cut -c1-32)" shared; done |
  awk '{print $3}' | sort -u)
[ "$n" = "$blob" ] || fail "the shared file is not one blob: $n"
ok "git fsck --strict is clean; the file three trees share is one blob ($blob)"

fetch_back() {
  local from=$1 label=$2
  nix copy --from "$from" --to "$inside/fresh-copy-$label" "${paths[@]}" || fail "$label: nix copy --from $from"
  nix_store --store "$inside/fresh-subst-$label" --realise "${paths[@]}" --option substituters "$from" >/dev/null ||
    fail "$label: substitution from $from"
  for c in none xz zstd; do
    path=$(printf '%s\n' "${paths[@]}" | grep -- "-tree-$c$")
    for store in fresh-copy-$label fresh-subst-$label; do
      diff -r "$work/tree-$c" "$work/$store$path" >/dev/null || fail "$label: $store$path differs"
    done
  done
  for store in fresh-copy-$label fresh-subst-$label; do
    cmp -s "$work/single" "$work/$store$single" || fail "$label: $store$single differs"
  done
  ok "$label: nix copy --from and nix-store --realise fetched ${#paths[@]} paths back from $from, identical"
}
fetch_back "$url" "served"

# Packing while serving: Nix fetches during `pack`, and after.
nix copy --from "$url" --to "$inside/fresh-during-pack" "${paths[@]}" >"$work/during-pack.log" 2>&1 &
copier=$!
"$bin" pack --storage "git:$work/a.git" || fail "pack"
wait "$copier" || fail "nix copy --from during pack: $(cat "$work/during-pack.log")"
loose=$(git --git-dir "$work/a.git" count-objects -v | sed -n 's/^count: //p')
[ "$loose" = 0 ] || fail "loose objects left after pack: $loose"
fsck "$work/a.git"
fetch_back "$url" "packed"

# same_as_first URL PREFIX LABEL: the service at URL serves the narinfos, NARs and listing the
# first one served, byte for byte (kept as $work/PREFIX-…).
same_as_first() {
  local url=$1 prefix=$2 label=$3 path hash
  for path in "${paths[@]}"; do
    hash=$(basename "$path" | cut -c1-32)
    curl -sSf -o "$work/$prefix-$hash.narinfo" "$url/$hash.narinfo" || fail "$label: no narinfo for $path"
    cmp -s "$work/$hash.narinfo" "$work/$prefix-$hash.narinfo" || fail "$label: another narinfo for $path"
    curl -sSf -o "$work/$prefix-$hash.nar" "$url/$(sed -n 's/^URL: //p' "$work/$hash.narinfo")" ||
      fail "$label: no NAR for $path"
    cmp -s "$work/$hash.nar" "$work/$prefix-$hash.nar" || fail "$label: another NAR for $path"
  done
  curl -sSf -o "$work/$prefix-listing.json" "$url/$(basename "${paths[0]}" | cut -c1-32).ls" ||
    fail "$label: no listing"
  cmp -s "$work/listing.json" "$work/$prefix-listing.json" || fail "$label: another listing"
}

# A second cache replicates the first over git, verifying every path again.
"$bin" replicate --storage "git:$work/b.git" --from "$work/a.git" >"$work/replicate.log" ||
  fail "replicate: $(cat "$work/replicate.log")"
grep -q "^${#paths[@]} paths published, 0 already here, 0 refused$" "$work/replicate.log" ||
  fail "replicate: $(cat "$work/replicate.log")"
# The one listing Nix uploaded (compression none) comes along, checked against the NAR here.
grep -q "^1 listings published, 0 already here, 0 skipped (their path is not here), 0 refused$" \
  "$work/replicate.log" || fail "replicate: $(cat "$work/replicate.log")"
url_a=$url
serve b
url_b=$url
url=$url_a
same_as_first "$url_b" b replica
fsck "$work/b.git"
ok "replicate: a second service serves the same ${#paths[@]} narinfos and NARs, and the same listing"
fetch_back "$url_b" "replica"

# A third cache is pushed to by the first: what arrives is staged in refs/nix-incoming/, served
# only once `replicate --incoming` has verified it.
serve c
url_c=$url
url=$url_a
"$bin" push --storage "git:$work/a.git" --to "$work/c.git" >"$work/push.log" ||
  fail "push: $(cat "$work/push.log")"
grep -q "^${#paths[@]} paths and [0-9]* listings and realisations pushed to " "$work/push.log" ||
  fail "push: $(cat "$work/push.log")"
staged=$(git --git-dir "$work/c.git" for-each-ref refs/nix-incoming/nix/ | wc -l)
[ "$staged" = "${#paths[@]}" ] || fail "push: $staged refs staged in refs/nix-incoming/nix/"
for path in "${paths[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url_c/$(basename "$path" | cut -c1-32).narinfo")
  [ "$code" = 404 ] || fail "pushed: $path served ($code) before it was verified"
done
"$bin" replicate --storage "git:$work/c.git" --incoming >"$work/incoming.log" ||
  fail "replicate --incoming: $(cat "$work/incoming.log")"
grep -q "^${#paths[@]} paths published, 0 already here, 0 refused$" "$work/incoming.log" ||
  fail "replicate --incoming: $(cat "$work/incoming.log")"
grep -q "^1 listings published, 0 already here, 0 skipped (their path is not here), 0 refused$" \
  "$work/incoming.log" || fail "replicate --incoming: $(cat "$work/incoming.log")"
[ -z "$(git --git-dir "$work/c.git" for-each-ref refs/nix-incoming/)" ] ||
  fail "replicate --incoming left incoming refs"
same_as_first "$url_c" c pushed
fsck "$work/c.git"
ok "push: a third service, pushed to, serves nothing before replicate --incoming, then the same ${#paths[@]} narinfos and NARs and the same listing"
fetch_back "$url_c" "pushed"

# Collection: everything but a recently read closure (the text path and its tree) goes.
touch -m -d '30 days ago' "$work"/a.git/nix-ingest/access/*
curl -sSf -o /dev/null "$url/$(basename "$user" | cut -c1-32).narinfo"
sleep 1 # the access is recorded off the request's path
"$bin" gc --storage "git:$work/a.git" --older-than 1 --prune-expire now >"$work/gc.log" ||
  fail "gc: $(cat "$work/gc.log")"
for path in "${paths[@]}"; do
  hash=$(basename "$path" | cut -c1-32)
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url/$hash.narinfo")
  case $path in
  "$user" | "${paths[0]}") [ "$code" = 200 ] || fail "gc removed $path, in a kept closure" ;;
  *) [ "$code" = 404 ] || fail "gc kept $path ($code)" ;;
  esac
done
fsck "$work/a.git"
nix copy --from "$url" --to "$inside/fresh-after-gc" "$user" || fail "nix copy --from after gc"
ok "gc --storage git: kept the recently read closure whole, removed the rest: $(tail -n 1 "$work/gc.log")"

# Collection again and again while Nix uploads a new closure: every ref always names complete
# objects, and the new closure is kept whole.
mkdir -p "$work/gc-tree"
head -c 100000 /dev/urandom >"$work/gc-tree/data"
tree=$(nix store add --mode git --hash-algo sha1 --name gc-tree "$inside/gc-tree")
gc_user=$(nix eval --raw --impure --expr \
  "builtins.toFile \"gc-user\" \"uses \${builtins.storePath \"$tree\"}\"")
nix copy --to "$url" "$gc_user" >"$work/gc-copy.log" 2>&1 &
copier=$!
collections=0
while kill -0 "$copier" 2>/dev/null || [ "$collections" = 0 ]; do
  "$bin" gc --storage "git:$work/a.git" --max-size 300000 --prune-expire now >>"$work/gc.log" ||
    fail "gc: $(tail -n 3 "$work/gc.log")"
  missing=$(git --git-dir "$work/a.git" rev-list --objects --missing=print --glob='refs/nix/*' | grep -c '^?' || true)
  [ "$missing" = 0 ] || fail "gc during uploads: a ref names $missing missing objects"
  collections=$((collections + 1))
done
wait "$copier" || fail "nix copy --to during gc: $(cat "$work/gc-copy.log")"
for p in "$tree" "$gc_user"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$url/$(basename "$p" | cut -c1-32).narinfo")
  [ "$code" = 200 ] || fail "gc removed the new $p ($code)"
done
fsck "$work/a.git"
nix copy --from "$url" --to "$inside/fresh-after-gc-2" "$gc_user" || fail "nix copy --from after gc"
ok "gc --max-size run $collections times while Nix uploaded a closure: refs always complete, the closure kept and fetched back"

echo "$passed passed, 0 failed"
