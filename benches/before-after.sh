#!/usr/bin/env bash
# Times two builds of `nix-ingest` against each other, interleaved in one run, on the inputs
# `benches/compare.sh prepare` made: did a change make anything slower?
#
#   benches/before-after.sh OLD_BINARY NEW_BINARY
#   RUNS=9 WORK=/tmp/nix-ingest-bench benches/before-after.sh old/nix-ingest target/release/nix-ingest
#
# Each row is one command run by both binaries, in the same rounds (see benches/lib.sh): the
# minimum of RUNS runs, the median in brackets, and new/old as a ratio of minimums (below 1: the
# new build is faster). Every answer is compared between the two builds before it is timed. Run
# it on a quiet machine: the header prints the load average at the start, the footer at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

[ $# -eq 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY" >&2; exit 2; }
old=$(realpath "$1")
new=$(realpath "$2")
WORK=${WORK:-/tmp/nix-ingest-bench}
tree=$WORK/trees/usr-share
cached=$WORK/trees/usr-share-cache
[ -d "$tree" ] && [ -d "$cached" ] || {
  echo "no inputs under $WORK: run SECTIONS='git nar cache' benches/compare.sh prepare" >&2
  exit 2
}

bench_header "nix-ingest before and after"
echo "old:   $old"
echo "new:   $new"
echo "tree:  $tree ($(find "$tree" | wc -l) entries, $(du -sm "$tree" | cut -f1) MiB)"

# name | arguments (the tree is appended)
cases=(
  "git SHA-1, default settings|hash path --mode git --algo sha1"
  "git SHA-1, --no-collision-detection|--no-collision-detection hash path --mode git --algo sha1"
  "git SHA-1, one thread, no detection|--threads 1 --no-collision-detection hash path --mode git --algo sha1"
  "NAR SHA-256|hash path --mode nar --algo sha256"
  "NAR SHA-256, one thread|--threads 1 hash path --mode nar --algo sha256"
)

for i in "${!cases[@]}"; do
  args=${cases[i]#*|}
  a=$("$old" $args "$tree")
  b=$("$new" $args "$tree")
  [ "$a" = "$b" ] || { echo "answers differ for '$args': $a / $b" >&2; exit 1; }
  q "old$i" "'$old' $args '$tree'"
  q "new$i" "'$new' $args '$tree'"
done
# Re-hash with a cache, nothing changed: each build with a cache file of its own, written first.
for who in old new; do
  bin=${!who}
  file=$WORK/results/before-after-$who.cache
  rm -f "$file"
  "$bin" --cache "$file" hash path --mode git "$cached" >/dev/null
  q "${who}c" "'$bin' --cache '$file' hash path --mode git '$cached'"
done
run_queue

quotient() { # NEW OLD: the ratio of minimums
  awk -v a="${MIN[$1]}" -v b="${MIN[$2]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'
}

echo
echo "| work | old | new | new/old |"
echo "|---|---|---|---|"
for i in "${!cases[@]}"; do
  printf '| %s | %s | %s | %s |\n' "${cases[i]%%|*}" "$(ms_pair "old$i")" \
    "$(ms_pair "new$i")" "$(quotient "new$i" "old$i")"
done
printf '| %s | %s | %s | %s |\n' "git re-hash with --cache, nothing changed" \
  "$(ms_pair oldc)" "$(ms_pair newc)" "$(quotient newc oldc)"
echo
echo "load:  $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end"
