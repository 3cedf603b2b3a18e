#!/usr/bin/env bash
# Times the command-line tool `nix-ingest` against real Nix — 2.34.8 and 2.26.3, in the same run — on the
# same trees and NARs, and prints the figures and a markdown table ready for the README.
#
#   benches/compare.sh prepare     # build the binary and every input (minutes; ~10 GiB under $WORK)
#   benches/compare.sh             # time everything (about 10 minutes on 2 cores)
#   SECTIONS="git nar" RUNS=5 benches/compare.sh
#
# Run it on a quiet machine (load average under 0.5, nothing else running): the header prints the
# load average at the start and the end. Needs: scripts/nix-oracle.sh with both Nix versions
# (`scripts/nix-oracle.sh setup all`), bash 5, coreutils, GNU time (`/usr/bin/time`), openssl;
# strace (optional: the one-pass section counts the files it opens).
#
# Settings (environment):
#   WORK          where inputs are built and kept between runs; under /tmp, which Nix sees as
#                 /host-tmp (default /tmp/nix-ingest-bench)
#   RUNS          timed runs of every command, interleaved, after one warm-up (default 9); the
#                 minimum is the figure, the median is printed beside it
#   SECTIONS      any of: git nar small multi stream memory cache (default: all)
#   NIX_VERSIONS  the Nix versions of scripts/nix-oracle.sh to time (default "2.34 2.26")
#   SMALL_FILES   files in the generated small-files tree (default 100000)
#   MEMORY_MIB    size of the file whose NAR is piped through for peak memory (default 4096)
#   OURS          the binary (default target/release/nix-ingest, built here with
#                 `cargo build --release -p nix-ingest-cli`, the README's build, unless NO_BUILD=1)
#
# Nix runs in a chroot: `scripts/nix-oracle.sh run --nix V true` is timed in the same rounds and
# its minimum subtracted from Nix's ("adjusted"); the ratios use the faster adjusted Nix, which
# favours Nix. Every answer is checked against Nix's before it is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

WORK=${WORK:-/tmp/nix-ingest-bench}
SECTIONS=${SECTIONS:-"git nar small multi stream memory cache"}
NIX_VERSIONS=${NIX_VERSIONS:-"2.34 2.26"}
SMALL_FILES=${SMALL_FILES:-100000}
MEMORY_MIB=${MEMORY_MIB:-4096}
OURS=${OURS:-target/release/nix-ingest}
ORACLE=scripts/nix-oracle.sh
PREPARE_ONLY=0
[ "${1:-}" = prepare ] && PREPARE_ONLY=1

case "$WORK" in
  /tmp/*) ;;
  *) echo "WORK must be under /tmp (Nix sees /tmp as /host-tmp)" >&2; exit 2 ;;
esac
mkdir -p "$WORK"/{trees,nar,results}
WORK=$(cd "$WORK" && pwd)
BENCH_LOG=$WORK/results/times-$(date -u +%Y%m%dT%H%M%SZ).tsv
nixpath() { echo "/host-tmp/${1#/tmp/}"; }
on() { [[ " $SECTIONS " == *" $1 "* ]]; }
log() { printf '# %s\n' "$*" >&2; }

if [ "$OURS" = target/release/nix-ingest ] && [ "${NO_BUILD:-0}" != 1 ]; then
  log "building $OURS"
  cargo build --release --quiet -p nix-ingest-cli
fi
OURS=$(realpath "$OURS")

# ---------------------------------------------------------------------------------------------
# Inputs (kept in $WORK; a `.done` marker beside each says it is complete)
# ---------------------------------------------------------------------------------------------
done_mark() { [ -e "$WORK/trees/.$1.done" ]; }
mark() { touch "$WORK/trees/.$1.done"; }
copy_tree() { # NAME SOURCE
  done_mark "$1" && return
  log "copying $2 to $WORK/trees/$1"
  rm -rf "${WORK:?}/trees/$1"
  cp -a "$2" "$WORK/trees/$1"
  mark "$1"
}
small_tree() { # N: N files in directories of 1000, 64 B … 4 KiB, some executable, a symlink each
  local n=$1 name=small-$1 d dirs size left
  done_mark "$name" && return
  log "generating $name"
  rm -rf "${WORK:?}/trees/$name"
  dirs=$(((n + 999) / 1000)); left=$n
  for ((d = 0; d < dirs; d++)); do
    local dir=$WORK/trees/$name/d$(printf %04d "$d") count=$((left < 1000 ? left : 1000))
    mkdir -p "$dir"
    size=$((64 + (d * 997) % 4032))
    head -c $((count * size)) /dev/urandom | split -a 3 -d -b "$size" - "$dir/f"
    chmod +x "$dir"/f00? 2>/dev/null || true
    ln -s f000 "$dir/link"
    left=$((left - count))
  done
  mark "$name"
}
data_tree() { # NAME MIB: one random file of MIB MiB
  done_mark "$1" && return
  log "generating $1"
  rm -rf "${WORK:?}/trees/$1"; mkdir -p "$WORK/trees/$1"
  head -c "${2}M" /dev/urandom >"$WORK/trees/$1/file"
  mark "$1"
}
make_tree() {
  case "$1" in
    usr-share) copy_tree usr-share /usr/share ;;
    small-*) small_tree "${1#small-}" ;;
    data-*) data_tree "$1" "${1#data-}" ;;
  esac
}
make_nar() { # TREE: the NAR Nix makes of it
  [ -s "$WORK/nar/$1.nar" ] && return
  make_tree "$1"
  log "dumping $1 to a NAR with nix-store --dump"
  "$ORACLE" run nix-store --dump "$(nixpath "$WORK/trees/$1")" >"$WORK/nar/$1.nar.part"
  mv "$WORK/nar/$1.nar.part" "$WORK/nar/$1.nar"
}
describe() { # TREE: "N entries, M MiB"
  local dir=$WORK/trees/$1
  echo "$(find "$dir" | wc -l) entries, $(($(du -sb --apparent-size "$dir" | cut -f1) / 1048576)) MiB"
}

if ((PREPARE_ONLY)); then
  on git || on nar || on multi && make_tree usr-share
  on small && make_tree "small-$SMALL_FILES"
  on stream && make_nar usr-share
  on memory && make_nar "data-$MEMORY_MIB"
  on cache && make_tree usr-share && copy_tree usr-share-cache "$WORK/trees/usr-share"
  log "inputs ready under $WORK"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------
declare -A NIXVER CMD
MISMATCH=0
same() { # LABEL EXPECTED GOT
  if [ "$2" != "$3" ]; then echo "!! $1: expected $2, got $3" >&2; MISMATCH=1; fi
}
ROWS=()
row() { ROWS+=("$1"); }

bench_header "nix-ingest against Nix $(for v in $NIX_VERSIONS; do printf '%s ' "$("$ORACLE" run --nix "$v" nix --version | awk '{print $NF}')"; done)"
echo "ours:  $OURS ($(cd "$(dirname "$0")/.." && git describe --always --dirty 2>/dev/null || echo '?'))"
for v in $NIX_VERSIONS; do
  NIXVER[$v]=$("$ORACLE" run --nix "$v" nix --version | awk '{print $NF}')
  echo "nix:   $("$ORACLE" run --nix "$v" nix --version) (scripts/nix-oracle.sh run --nix $v …, in a chroot)"
done
echo "times: $BENCH_LOG"

# Queues Nix's command (and the chroot's no-op) for every version; KEY-nixV, KEY-nooV.
q_nix() { # KEY NIX-ARGS…
  local key=$1 v; shift
  for v in $NIX_VERSIONS; do
    q "$key-nix$v" "$ORACLE run --nix $v $*"
    q "$key-noop$v" "$ORACLE run --nix $v true"
  done
}
# After run_queue: KEY-nix = the faster adjusted Nix; prints the per-version cells.
nix_cells() { # KEY
  local key=$1 v keys=()
  for v in $NIX_VERSIONS; do
    subtract "$key-adj$v" "$key-nix$v" "$key-noop$v"
    keys+=("$key-adj$v")
  done
  set_fastest "$key-nix" "${keys[@]}" >/dev/null
}
nix_columns() { # KEY: " | min (med) | min (med)" per version, adjusted
  local v out=""
  for v in $NIX_VERSIONS; do out+=" | $(ms_pair "$1-adj$v")"; done
  printf '%s' "$out"
}
nix_header() { local v out=""; for v in $NIX_VERSIONS; do out+=" | Nix ${NIXVER[$v]}"; done; printf '%s' "$out"; }
# " | TEXT |  | …": TEXT in the first Nix column, the others empty.
nix_pad() { local v out="" first=1; for v in $NIX_VERSIONS; do if ((first)); then out+=" | $1"; first=0; else out+=" | "; fi; done; printf '%s' "$out"; }
nix_rule() { local v out=""; for v in $NIX_VERSIONS; do out+="|---"; done; printf '%s' "$out"; }

print_commands() { # KEY…: the exact commands of the keys
  local k
  for k in "$@"; do echo "   $k: ${CMD[$k]}"; done
}
qc() { CMD[$1]=$2; q "$@"; }

# ---------------------------------------------------------------------------------------------
# Directory → git SHA-1 (/usr/share copy)
# ---------------------------------------------------------------------------------------------
if on git; then
  t=usr-share; make_tree $t; dir=$WORK/trees/$t
  echo
  echo "== directory -> git SHA-1: $t ($(describe $t))"
  expect=$("$ORACLE" run nix hash path --mode git --algo sha1 --format base16 "$(nixpath "$dir")")
  same "git $t" "$expect" "$("$OURS" hash path --mode git --algo sha1 --format base16 "$dir")"
  qc git-dc "$OURS hash path --mode git --algo sha1 $dir"
  qc git-nodc "$OURS hash path --mode git --algo sha1 --no-collision-detection $dir"
  qc git-1t "$OURS hash path --mode git --algo sha1 --threads 1 --no-collision-detection $dir"
  q_nix git "nix hash path --mode git --algo sha1 $(nixpath "$dir")"
  print_commands git-dc git-nodc git-1t
  echo "   nix: scripts/nix-oracle.sh run --nix V nix hash path --mode git --algo sha1 $(nixpath "$dir")"
  run_queue
  nix_cells git
  for k in git-dc git-nodc git-1t; do
    printf '   %-9s %s | vs Nix (adjusted, faster): %s min, %s median\n' "$k" "$(ms_pair $k)" \
      "$(ratio git-nix $k)" "$(ratio git-nix $k med)"
  done
  for v in $NIX_VERSIONS; do
    printf '   nix %-5s %s, adjusted %s\n' "$v" "$(ms_pair "git-nix$v")" "$(ms_pair "git-adj$v")"
  done
  row "| directory → git SHA-1, default build and settings (every core, collision detection on) | \`/usr/share\` copy ($(describe $t)) | $(ms_pair git-dc)$(nix_columns git) | **$(ratio git-nix git-dc)** |"
  row "| same, \`--no-collision-detection\` | | $(ms_pair git-nodc)$(nix_columns git) | **$(ratio git-nix git-nodc)** |"
  row "| same, \`--threads 1 --no-collision-detection\` | | $(ms_pair git-1t)$(nix_columns git) | **$(ratio git-nix git-1t)** |"
  echo "   targets: default >= 2.7x, without collision detection >= 3.2x, one thread without >= 1.8x"
fi

# ---------------------------------------------------------------------------------------------
# Directory → NAR SHA-256
# ---------------------------------------------------------------------------------------------
if on nar; then
  t=usr-share; make_tree $t; dir=$WORK/trees/$t
  echo
  echo "== directory -> NAR SHA-256: $t"
  expect=$("$ORACLE" run nix hash path --mode nar --algo sha256 --format base16 "$(nixpath "$dir")")
  same "nar $t" "$expect" "$("$OURS" hash path --mode nar --algo sha256 --format base16 "$dir")"
  qc nar "$OURS hash path --mode nar --algo sha256 $dir"
  qc nar-1t "$OURS hash path --mode nar --algo sha256 --threads 1 $dir"
  q_nix nar "nix hash path --mode nar --algo sha256 $(nixpath "$dir")"
  print_commands nar nar-1t
  echo "   nix: scripts/nix-oracle.sh run --nix V nix hash path --mode nar --algo sha256 $(nixpath "$dir")"
  run_queue
  nix_cells nar
  for k in nar nar-1t; do
    printf '   %-9s %s | vs Nix (adjusted, faster): %s min, %s median\n' "$k" "$(ms_pair $k)" \
      "$(ratio nar-nix $k)" "$(ratio nar-nix $k med)"
  done
  row "| directory → NAR SHA-256 (default: files read ahead on every core) | \`/usr/share\` copy | $(ms_pair nar)$(nix_columns nar) | **$(ratio nar-nix nar)** |"
  row "| same, \`--threads 1\` | | $(ms_pair nar-1t)$(nix_columns nar) | $(ratio nar-nix nar-1t) |"
  echo "   target: >= 2.2x"
fi

# ---------------------------------------------------------------------------------------------
# 100,000 small files → git SHA-1
# ---------------------------------------------------------------------------------------------
if on small; then
  t=small-$SMALL_FILES; make_tree "$t"; dir=$WORK/trees/$t
  echo
  echo "== directory -> git SHA-1: $t ($(describe "$t"))"
  expect=$("$ORACLE" run nix hash path --mode git --algo sha1 --format base16 "$(nixpath "$dir")")
  same "git $t" "$expect" "$("$OURS" hash path --mode git --algo sha1 --format base16 "$dir")"
  qc small-dc "$OURS hash path --mode git --algo sha1 $dir"
  qc small-nodc "$OURS hash path --mode git --algo sha1 --no-collision-detection $dir"
  q_nix small "nix hash path --mode git --algo sha1 $(nixpath "$dir")"
  print_commands small-dc small-nodc
  run_queue
  nix_cells small
  for k in small-dc small-nodc; do
    printf '   %-10s %s | vs Nix (adjusted, faster): %s min, %s median\n' "$k" "$(ms_pair $k)" \
      "$(ratio small-nix $k)" "$(ratio small-nix $k med)"
  done
  row "| directory → git SHA-1, default build and settings | $SMALL_FILES small files ($(describe "$t")) | $(ms_pair small-dc)$(nix_columns small) | **$(ratio small-nix small-dc)** |"
  row "| same, \`--no-collision-detection\` | | $(ms_pair small-nodc)$(nix_columns small) | $(ratio small-nix small-nodc) |"
  echo "   target: >= 3x"
fi

# ---------------------------------------------------------------------------------------------
# One pass: git SHA-1 + git SHA-256 + NAR SHA-256, each file read once
# ---------------------------------------------------------------------------------------------
if on multi; then
  t=usr-share; make_tree $t; dir=$WORK/trees/$t
  echo
  echo "== one pass: git SHA-1 + git SHA-256 + NAR SHA-256 of $t, against three runs of ours"
  qc one-g1 "$OURS hash path --mode git --algo sha1 $dir"
  qc one-g256 "$OURS hash path --mode git --algo sha256 $dir"
  qc one-n256 "$OURS hash path --mode nar --algo sha256 $dir"
  qc one-multi "$OURS hash multi --hash git:sha1,git:sha256,nar:sha256 $dir"
  print_commands one-g1 one-g256 one-n256 one-multi
  run_queue
  if num one-g1 && num one-g256 && num one-n256; then
    for s in MIN MED; do
      declare -n arr=$s
      arr[one-sum]=$(awk -v a="${arr[one-g1]}" -v b="${arr[one-g256]}" -v c="${arr[one-n256]}" 'BEGIN {printf "%.6f", a + b + c}')
    done
  fi
  echo "   three runs $(ms_pair one-sum), one pass $(ms_pair one-multi): $(ratio one-sum one-multi) faster"
  files=$(find "$dir" -type f | wc -l)
  if command -v strace >/dev/null; then
    opens=$(strace -f -c -e trace=openat -o /dev/stdout "$OURS" hash multi --hash git:sha1,git:sha256,nar:sha256 "$dir" |
      awk '$NF == "openat" {print $4}')
    dirs=$(find "$dir" -type d | wc -l)
    echo "   files opened by the one pass: $opens openat calls for $files regular files and $dirs directories (each file is opened once)"
  fi
  row "| git SHA-1 + git SHA-256 + NAR SHA-256 in one pass (each file read once), against three runs of ours | \`/usr/share\` copy | $(ms_pair one-multi)$(nix_pad "three runs of ours: $(ms_pair one-sum)") | $(ratio one-sum one-multi) |"
fi

# ---------------------------------------------------------------------------------------------
# NAR on standard input → git SHA-1, against openssl's SHA-1 of the same bytes
# ---------------------------------------------------------------------------------------------
if on stream; then
  make_nar usr-share
  nar=$WORK/nar/usr-share.nar
  bytes=$(stat -c %s "$nar")
  echo
  echo "== NAR on standard input -> git SHA-1: NAR of usr-share ($((bytes / 1048576)) MiB)"
  same "stream usr-share" "$("$OURS" hash path --mode git --algo sha1 --format base16 "$WORK/trees/usr-share")" \
    "$("$OURS" hash path --mode git --algo sha1 --format base16 --nar - <"$nar")"
  qc stream-dc "$OURS hash path --mode git --algo sha1 --nar - < $nar"
  qc stream-nodc "$OURS hash path --mode git --algo sha1 --no-collision-detection --nar - < $nar"
  qc stream-openssl "openssl dgst -sha1 < $nar"
  qc stream-sha1sum "sha1sum < $nar"
  print_commands stream-dc stream-nodc stream-openssl stream-sha1sum
  run_queue
  for k in stream-dc stream-nodc stream-openssl stream-sha1sum; do
    printf '   %-15s %s  %s  (%s of openssl)\n' "$k" "$(ms_pair $k)" "$(rate $k "$bytes")" "$(pct stream-openssl $k)"
  done
  row "| NAR on stdin → git SHA-1, without / with collision detection | NAR of the \`/usr/share\` copy | $(rate stream-nodc "$bytes") / $(rate stream-dc "$bytes")$(nix_pad "\`openssl sha1\`: $(rate stream-openssl "$bytes")") | $(pct stream-openssl stream-nodc) / $(pct stream-openssl stream-dc) of openssl |"
  echo "   target: >= 95% of openssl sha1"
fi

# ---------------------------------------------------------------------------------------------
# Peak memory
# ---------------------------------------------------------------------------------------------
if on memory; then
  make_nar "data-$MEMORY_MIB"
  nar=$WORK/nar/data-$MEMORY_MIB.nar
  echo
  echo "== peak memory (GNU time, maximum resident set)"
  peak() { /usr/bin/time -f %M bash -c "$1" 2>&1 >/dev/null | tail -1; }
  for args in "hash path --mode git --algo sha1" "hash path --mode nar --algo sha256" "hash multi --hash git:sha1,git:sha256,nar:sha256"; do
    c="cat $nar | $OURS $args --nar -"
    kib=$(peak "$c")
    printf '   %6s MiB  %s\n' "$((kib / 1024))" "$c"
    [ "$args" = "hash path --mode git --algo sha1" ] && row "| peak memory, NAR of $MEMORY_MIB MiB on stdin → git SHA-1 | | $((kib / 1024)) MiB$(nix_pad "") | target ≤ 64 MiB |"
  done
  for t in usr-share "small-$SMALL_FILES"; do
    [ -d "$WORK/trees/$t" ] || continue
    for args in "hash path --mode git --algo sha1" "hash path --mode nar --algo sha256" "hash multi --hash git:sha1,git:sha256,nar:sha256"; do
      c="$OURS $args $WORK/trees/$t"
      kib=$(peak "$c")
      printf '   %6s MiB  %s\n' "$((kib / 1024))" "$c"
    done
  done
  echo "   target: <= 64 MiB for the NAR"
fi

# ---------------------------------------------------------------------------------------------
# Re-hashing with the hash cache (--cache): unchanged, and with 1% of the files changed
# ---------------------------------------------------------------------------------------------
if on cache; then
  # A copy of the /usr/share copy of its own, since files are changed in it.
  t=usr-share; make_tree $t
  c=usr-share-cache; copy_tree $c "$WORK/trees/$t"; dir=$WORK/trees/$c
  cache=$WORK/results/$c.hashcache
  index=$WORK/results/$c.git-index
  changed=$WORK/results/$c.one-percent
  # Every 100th regular file (in a fixed order) is the 1% that changes.
  [ -s "$changed" ] || (cd "$dir" && find . -type f | LC_ALL=C sort | awk 'NR % 100 == 0' >"$changed")
  echo
  echo "== re-hash with --cache, directory -> git SHA-1: $c ($(describe $t)); $(wc -l <"$changed") files change in the 1% runs"
  if [ ! -s "$index" ]; then
    log "git index of $dir (git add -A -f)"
    GIT_DIR=$WORK/results/$c.git GIT_INDEX_FILE=$index GIT_WORK_TREE=$dir git init -q "$WORK/results/$c.git"
    GIT_DIR=$WORK/results/$c.git GIT_INDEX_FILE=$index GIT_WORK_TREE=$dir git add -A -f
  fi
  # The cache trusts stat data at least two whole seconds older than the scan that records it.
  sleep 3
  expect=$("$ORACLE" run nix hash path --mode git --algo sha1 --format base16 "$(nixpath "$dir")")
  rm -f "$cache"
  same "git $c, cache built" "$expect" "$("$OURS" hash path --mode git --algo sha1 --format base16 --cache "$cache" "$dir")"
  same "git $c, from the cache" "$expect" "$("$OURS" hash path --mode git --algo sha1 --format base16 --cache "$cache" "$dir")"
  hit="$OURS hash path --mode git --algo sha1 --cache $cache $dir"
  refresh="GIT_DIR=$WORK/results/$c.git GIT_INDEX_FILE=$index GIT_WORK_TREE=$dir git update-index -q --refresh"
  qc cache-hit "$hit"
  qc cache-git "$refresh"
  q_nix cache "nix hash path --mode git --algo sha1 $(nixpath "$dir")"
  print_commands cache-hit cache-git
  echo "   nix: scripts/nix-oracle.sh run --nix V nix hash path --mode git --algo sha1 $(nixpath "$dir")"
  run_queue
  nix_cells cache
  printf '   unchanged  %s | vs Nix (adjusted, faster): %s min, %s median | git update-index --refresh %s: ours takes %s of its time\n' \
    "$(ms_pair cache-hit)" "$(ratio cache-nix cache-hit)" "$(ratio cache-nix cache-hit med)" \
    "$(ms_pair cache-git)" "$(ratio cache-hit cache-git)"
  # 1% changed: before every run (untimed), one byte is appended to each of those files.
  touch_pct="cd $dir && while IFS= read -r f; do printf x >>\"\$f\"; done <$changed"
  bash -c "$touch_pct"
  expect=$("$ORACLE" run nix hash path --mode git --algo sha1 --format base16 "$(nixpath "$dir")")
  same "git $c, 1% changed" "$expect" "$("$OURS" hash path --mode git --algo sha1 --format base16 --cache "$cache" "$dir")"
  qc cache-pct "$hit" "$touch_pct"
  q_nix cachepct "nix hash path --mode git --algo sha1 $(nixpath "$dir")"
  print_commands cache-pct
  echo "   untimed before each run: $touch_pct"
  run_queue
  nix_cells cachepct
  printf '   1%% changed %s | vs Nix (adjusted, faster): %s min, %s median\n' \
    "$(ms_pair cache-pct)" "$(ratio cachepct-nix cache-pct)" "$(ratio cachepct-nix cache-pct med)"
  row "| re-hash with \`--cache\`, nothing changed (\`git update-index --refresh\`: $(ms_pair cache-git)) | \`/usr/share\` copy ($(describe $t)) | $(ms_pair cache-hit)$(nix_columns cache) | **$(ratio cache-nix cache-hit)** |"
  row "| re-hash with \`--cache\`, 1% of the files changed | | $(ms_pair cache-pct)$(nix_columns cachepct) | **$(ratio cachepct-nix cache-pct)** |"
  echo "   targets: unchanged >= 15x Nix and within 2x of git update-index --refresh; 1% changed >= 8x"
fi

echo
echo "load:  $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end"
echo
echo "== markdown (Nix times have the chroot's start-up subtracted; ratios are of minimums against the faster Nix)"
echo
echo "Measured $(date -u +%Y-%m-%d) with \`benches/compare.sh\` (RUNS=$RUNS): $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), load average $(cut -d' ' -f1 /proc/loadavg) at the end, warm page cache; minimum of $RUNS interleaved runs (median in brackets)."
echo
echo "| work | input | nix-ingest$(nix_header) | ratio |"
echo "|---|---|---$(nix_rule)|---|"
for r in "${ROWS[@]}"; do echo "$r"; done
if [ "$MISMATCH" != 0 ]; then echo "!! some answers differed (see above)"; exit 1; fi
