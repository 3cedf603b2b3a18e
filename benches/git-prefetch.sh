#!/usr/bin/env bash
# Times `nix-ingest git prefetch` on a fresh revision of a repository of ~50,000 files against
# `nix flake prefetch --json git+file://…?rev=…` (Nix 2.34.8 and 2.26.3, each in its chroot of
# scripts/nix-oracle.sh) and against `git archive REV > /dev/null`, and prints minimums, medians
# and ratios.
#
#   benches/git-prefetch.sh
#   RUNS=15 WORK=/tmp/elsewhere SRC=/usr/lib benches/git-prefetch.sh
#
# Settings (environment):
#   WORK   where the repository is built and kept between runs; under /tmp, which Nix sees as
#          /host-tmp (default /tmp/nix-ingest-bench-git)
#   SRC    the directory copied into the repository, one commit, packed (default /usr/share)
#   RUNS   timed rounds after one warm-up (default 9; see benches/lib.sh)
#   OURS   the binary (default target/release/nix-ingest, built unless NO_BUILD=1)
#
# Every timed run of every command gets a fresh revision first (untimed): a new commit of the same
# tree, so no tool answers from a cache keyed by revision. The tree and so the store path stay the
# same: Nix hashes the whole tree each time but finds the store path already valid after the
# first run and does not copy it again, which favours Nix. Nix runs inside the chroot, so the
# no-op `scripts/nix-oracle.sh run true` is timed too and subtracted ("nix-adj").
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

WORK=${WORK:-/tmp/nix-ingest-bench-git}
SRC=${SRC:-/usr/share}
OURS=${OURS:-target/release/nix-ingest}
ORACLE=scripts/nix-oracle.sh
case "$WORK" in
  /tmp/*) ;;
  *) echo "WORK must be under /tmp (Nix sees /tmp as /host-tmp)" >&2; exit 2 ;;
esac
if [ "${NO_BUILD:-}" != 1 ]; then cargo build --release -p nix-ingest-cli >&2; fi
"$ORACLE" setup 2.34 >/dev/null
"$ORACLE" setup 2.26 >/dev/null

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
repo=$WORK/repo
mkdir -p "$WORK"
if [ ! -d "$repo/.git" ]; then
  echo "building $repo from $SRC …" >&2
  rm -rf "$repo"
  mkdir -p "$repo"
  cp -a "$SRC/." "$repo/" 2>/dev/null || true
  git -C "$repo" init -q -b main
  git -C "$repo" add -A -f .
  git -C "$repo" commit -q -m snapshot
  git -C "$repo" gc -q
fi
echo '{"flakes":[],"version":2}' >"$WORK/registry.json"
in_chroot() { echo "/host-tmp/${1#/tmp/}"; }

files=$(git -C "$repo" ls-tree -r HEAD | wc -l)
bytes=$(git -C "$repo" ls-tree -r -l HEAD | awk '$4 != "-" {s += $4} END {print s + 0}')
fresh="cd '$repo' && c=\$(git commit-tree HEAD^{tree} -p HEAD -m \"bench \$RANDOM \$EPOCHREALTIME\") \
&& git update-ref refs/heads/main \$c && echo \$c >'$WORK/rev'"
rev='$(cat '"$WORK/rev"')'

bench_header "git prefetch: a fresh revision of $files files ($((bytes / 1048576)) MiB) from $SRC"
q ours "$OURS git prefetch '$repo' $rev" "$fresh"
q ours-1t "$OURS --threads 1 git prefetch '$repo' $rev" "$fresh"
for v in 2.34 2.26; do
  q "nix$v" "$ORACLE run --nix $v nix --extra-experimental-features flakes --option flake-registry \
$(in_chroot "$WORK/registry.json") flake prefetch --json \"git+file://$(in_chroot "$repo")?rev=$rev\"" "$fresh"
  q "chroot$v" "$ORACLE run --nix $v true"
done
q archive "git -C '$repo' archive $rev" "$fresh"
run_queue
subtract nix2.34-adj nix2.34 chroot2.34
subtract nix2.26-adj nix2.26 chroot2.26
version() { "$ORACLE" run --nix "$1" nix --version | awk '{print $NF}'; }

echo
echo "command: NO_BUILD=${NO_BUILD:-} RUNS=${RUNS:-9} benches/git-prefetch.sh (binary $OURS at $(git rev-parse --short HEAD))"
echo "Nix:     $(version 2.34) and $(version 2.26)"
echo
echo "| command | time, min (median) |"
echo "|---|---|"
echo "| nix-ingest git prefetch (two threads) | $(ms_pair ours) |"
echo "| nix-ingest --threads 1 git prefetch | $(ms_pair ours-1t) |"
for v in 2.34 2.26; do
  echo "| nix flake prefetch (Nix $(version $v)) | $(ms_pair "nix$v") |"
  echo "| … less chroot start-up ($(ms "chroot$v")) | $(ms_pair "nix$v-adj") |"
done
echo "| git archive REV > /dev/null | $(ms_pair archive) |"
echo
for v in 2.34 2.26; do
  echo "nix-ingest vs Nix $v (adjusted): $(ratio "nix$v-adj" ours) faster (medians: $(ratio "nix$v-adj" ours med))"
done
echo "nix-ingest vs git archive:    $(ratio archive ours) faster (medians: $(ratio archive ours med))"
echo "load at end: $(load_avg)"
