#!/usr/bin/env bash
# Times the command-line tool `nix-ingest` against real Nix and git on the same trees and NARs, in
# one run, and prints medians and ratios.
#
#   benches/compare.sh                       # everything (tens of minutes, ~16 GiB under $WORK)
#   SECTIONS="git nar" RUNS=7 benches/compare.sh
#
# Needs: scripts/nix-oracle.sh (a chroot with Nix; run `scripts/nix-oracle.sh setup` once), git,
# bash 5, GNU time (`/usr/bin/time`), coreutils' sha1sum and sha256sum, openssl (optional).
#
# Settings (environment):
#   WORK              where inputs are built and kept between runs; must be under /tmp, which Nix
#                     sees as /host-tmp (default /tmp/nix-ingest-bench)
#   RUNS              timed runs per command, after one warm-up run (default 5; median reported;
#                     runs of the commands compared with each other are interleaved)
#   SECTIONS          any of: git nar stream onepass memory linear (default: all)
#   TREES             trees for the git and nar sections (default: usr-share rust-lib small-100000
#                     large)
#   SMALL_FILES       file count of the generated small-files tree (default 100000)
#   LARGE_COUNT, LARGE_MIB   the large-files tree: LARGE_COUNT files of LARGE_MIB MiB (default 4
#                     files of 512 MiB)
#   LINEAR_FILES      file counts for the linearity table (default "1000 10000 100000")
#   LINEAR_MIB        data sizes for the linearity table, MiB (default "1 16 256 1024 4096"); the
#                     largest is also the NAR of the peak-memory test
#   OURS              the binary to time (default target/release/nix-ingest, built here unless
#                     NO_BUILD=1)
#   OURS_PAR, OURS_1T, OURS_DC, OURS_MULTI, OURS_NODC
#                     override the flags found by reading `$OURS hash path --help` (see below)
#   OURS_SEQ          flags of an extra variant timed as "seq" (e.g. a streaming one-thread walk)
#
# Ours is timed as:
#   par   git SHA-1 on every core, without collision detection   (--threads 0 --no-collision-detection)
#   1t    the same on one thread                                 (--threads 1 --no-collision-detection)
#   dc    git SHA-1 on every core with collision detection       (--threads 0)
#   multi git SHA-1 + git SHA-256 + NAR SHA-256 in one pass      (hash multi --hash git:sha1,git:sha256,nar:sha256)
# When the binary lacks a flag, the closest thing it has is used and the header says so.
#
# Nix runs inside the chroot: every Nix time includes entering it, so the no-op
# `scripts/nix-oracle.sh run true` is timed too and Nix is reported both as measured and with that
# start-up subtracted ("nix-adj"); ratios use the adjusted time, which favours Nix.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=${WORK:-/tmp/nix-ingest-bench}
RUNS=${RUNS:-5}
SECTIONS=${SECTIONS:-"git nar stream onepass memory linear"}
SMALL_FILES=${SMALL_FILES:-100000}
TREES=${TREES:-"usr-share rust-lib small-$SMALL_FILES large"}
LARGE_COUNT=${LARGE_COUNT:-4}
LARGE_MIB=${LARGE_MIB:-512}
LINEAR_FILES=${LINEAR_FILES:-"1000 10000 100000"}
LINEAR_MIB=${LINEAR_MIB:-"1 16 256 1024 4096"}
OURS=${OURS:-target/release/nix-ingest}
ORACLE=scripts/nix-oracle.sh
NPROC=$(nproc)

case "$WORK" in
  /tmp/*) ;;
  *) echo "WORK must be under /tmp (Nix sees /tmp as /host-tmp)" >&2; exit 2 ;;
esac
mkdir -p "$WORK"/{trees,nar,results,git}
WORK=$(cd "$WORK" && pwd)
nixpath() { echo "/host-tmp/${1#/tmp/}"; }
has() { command -v "$1" >/dev/null 2>&1; }
on() { [[ " $SECTIONS " == *" $1 "* ]]; }
log() { printf '# %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# The binary and its flags
# ---------------------------------------------------------------------------------------------
if [ "$OURS" = target/release/nix-ingest ] && [ "${NO_BUILD:-0}" != 1 ]; then
  log "building $OURS"
  cargo build --release --quiet -p nix-ingest-cli
fi
OURS=$(realpath "$OURS")
HELP=$("$OURS" hash path --help 2>&1; "$OURS" hash --help 2>&1 || true)
flag() { grep -q -- "$1" <<<"$HELP"; }
NOTES=()
if [ -z "${OURS_NODC+x}" ]; then
  if flag --no-collision-detection; then OURS_NODC=--no-collision-detection
  else OURS_NODC=""; NOTES+=("no --no-collision-detection flag: 'par' and '1t' detect SHA-1 collisions too"); fi
fi
if [ -n "${OURS_PAR+x}${OURS_1T+x}${OURS_DC+x}" ]; then
  : "${OURS_PAR:=}" "${OURS_1T:=}" "${OURS_DC:=}"
elif flag --threads; then
  : "${OURS_PAR:=--threads 0 $OURS_NODC}" "${OURS_1T:=--threads 1 $OURS_NODC}" "${OURS_DC:=--threads 0}"
else
  NOTES+=("no --threads flag: 'par', '1t' and 'dc' run the binary's default (RAYON_NUM_THREADS set)")
  : "${OURS_PAR:=$OURS_NODC}" "${OURS_1T:=$OURS_NODC}" "${OURS_DC:=}"
fi
if [ -z "${OURS_MULTI+x}" ]; then
  if flag multi; then OURS_MULTI="hash multi --hash git:sha1,git:sha256,nar:sha256"
  else OURS_MULTI=""; NOTES+=("no hash multi subcommand: no one-pass figure"); fi
fi
ours() { # VARIANT-ENV ARGS… : the command line for ours
  local env=$1; shift
  echo "$env $OURS $*"
}

# ---------------------------------------------------------------------------------------------
# Timing. Commands are queued (`q KEY COMMAND [PREPARE]`) and `run_queue` runs them interleaved:
# one warm-up run of each (warm page cache for every tool), then $RUNS rounds that each run every
# command once, in a rotated order. On a shared machine the load changes from minute to minute;
# interleaving gives every tool the same conditions, so the ratios stay honest. Times are wall
# clock (bash's $EPOCHREALTIME around `bash -c`, whose own start-up, ~1 ms, is in every time).
# ---------------------------------------------------------------------------------------------
declare -A MED
QK=() QC=() QP=()
q() { QK+=("$1"); QC+=("$2"); QP+=("${3:-}"); }
run_queue() {
  local n=${#QK[@]} i j r t0 t1
  local -a times failed
  for ((i = 0; i < n; i++)); do
    times[i]=""; failed[i]=0
    [ -n "${QP[i]}" ] && bash -c "${QP[i]}" >/dev/null 2>&1
    if ! bash -c "${QC[i]}" >/dev/null 2>"$WORK/results/${QK[i]}.err"; then
      failed[i]=1; MED[${QK[i]}]=FAIL
      log "FAILED ${QK[i]}: ${QC[i]} ($(tail -1 "$WORK/results/${QK[i]}.err"))"
    fi
  done
  for ((r = 0; r < RUNS; r++)); do
    for ((j = 0; j < n; j++)); do
      i=$(((j + r) % n))
      ((failed[i])) && continue
      [ -n "${QP[i]}" ] && bash -c "${QP[i]}" >/dev/null 2>&1
      t0=${EPOCHREALTIME/./}
      bash -c "${QC[i]}" >/dev/null 2>&1
      t1=${EPOCHREALTIME/./}
      times[i]+="$((t1 - t0)) "
    done
  done
  for ((i = 0; i < n; i++)); do
    ((failed[i])) && continue
    MED[${QK[i]}]=$(tr ' ' '\n' <<<"${times[i]}" | grep . | sort -n |
      awk '{a[NR] = $1} END {m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.6f", m / 1e6}')
    printf '%s\t%s\t%s\t%s\n' "${QK[i]}" "${MED[${QK[i]}]}" "${times[i]}" "${QC[i]}" >>"$WORK/results/medians.tsv"
  done
  QK=() QC=() QP=()
}
num() { [[ ${MED[$1]:-} =~ ^[0-9.]+$ ]]; }
ms() { if num "$1"; then awk -v t="${MED[$1]}" 'BEGIN {printf "%9.1f ms", t * 1000}'; else printf '%12s' "${MED[$1]:--}"; fi; }
# nix-adj: Nix's time less the chroot's start-up.
adjust() { # KEY [NOOP-KEY]
  local z=${2:-noop}
  num "$1" && num "$z" && MED[$1-adj]=$(awk -v a="${MED[$1]}" -v b="${MED[$z]}" 'BEGIN {d = a - b; printf "%.6f", (d > 0.0005 ? d : 0.0005)}'); true; }
ratio() { # SLOW FAST: how many times faster FAST is
  if num "$1" && num "$2"; then awk -v a="${MED[$1]}" -v b="${MED[$2]}" 'BEGIN {printf "%6.2fx", a / b}'; else printf '%7s' -; fi
}
rate() { # KEY BYTES
  if num "$1"; then awk -v t="${MED[$1]}" -v b="$2" 'BEGIN {printf "%8.0f MiB/s", b / t / 1048576}'; else printf '%14s' -; fi
}
pct() { # BASE KEY: KEY's throughput as a percentage of BASE's
  if num "$1" && num "$2"; then awk -v a="${MED[$1]}" -v b="${MED[$2]}" 'BEGIN {printf "%.0f", 100 * a / b}'; else printf -- -; fi
}
per() { num "$1" && awk -v t="${MED[$1]}" -v n="$2" 'BEGIN {printf "%8.2f us/file", t / n * 1e6}'; }
size_of() { du -sb --apparent-size "$1" | cut -f1; }
count_of() { find "$1" | wc -l; }

# ---------------------------------------------------------------------------------------------
# Inputs (kept in $WORK between runs; a `.done` marker beside each says it is complete)
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
small_tree() { # N: N files in directories of 1000, 64 B … 4 KiB, some executable, some symlinks
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
data_tree() { # NAME COUNT MIB: a directory of COUNT random files of MIB MiB
  local name=$1 count=$2 mib=$3 i
  done_mark "$name" && return
  log "generating $name ($count x $mib MiB)"
  rm -rf "${WORK:?}/trees/$name"; mkdir -p "$WORK/trees/$name"
  for ((i = 0; i < count; i++)); do
    head -c "${mib}M" /dev/urandom >"$WORK/trees/$name/file$i"
  done
  mark "$name"
}
make_tree() {
  case "$1" in
    usr-share) copy_tree usr-share /usr/share ;;
    rust-lib) copy_tree rust-lib "$(rustc --print sysroot)/lib" ;;
    small-*) small_tree "${1#small-}" ;;
    large) data_tree large "$LARGE_COUNT" "$LARGE_MIB" ;;
    data-*) data_tree "$1" 1 "${1#data-}" ;;
  esac
}
make_nar() { # TREE: the NAR Nix makes of it
  [ -s "$WORK/nar/$1.nar" ] && return
  make_tree "$1"
  log "dumping $1 to a NAR with nix-store --dump"
  "$ORACLE" run nix-store --dump "$(nixpath "$WORK/trees/$1")" >"$WORK/nar/$1.nar.part"
  mv "$WORK/nar/$1.nar.part" "$WORK/nar/$1.nar"
}

# ---------------------------------------------------------------------------------------------
# Checks: every tool must give the same answer before its time means anything
# ---------------------------------------------------------------------------------------------
same() { # LABEL EXPECTED GOT
  if [ "$2" != "$3" ]; then echo "!! $1: expected $2, got $3" >&2; MISMATCH=1; fi
}
MISMATCH=0

echo "== nix-ingest vs Nix vs git ($(date -u +%Y-%m-%dT%H:%MZ), $NPROC cores, median of $RUNS runs after 1 warm-up)"
echo "ours:  $OURS"
echo "       par='$OURS_PAR'  1t='$OURS_1T'  dc='$OURS_DC'  multi='$OURS_MULTI'"
for n in "${NOTES[@]}"; do echo "       note: $n"; done
echo "nix:   $("$ORACLE" run nix --version) (inside a chroot)"
echo "git:   $(git --version)"
echo "load:  $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; the machine is shared, so compare ratios, not absolute times)"
: >"$WORK/results/medians.tsv"

q noop "$ORACLE run true"
q nix-start "$ORACLE run nix --version"
q spawn "true"
run_queue
echo "start-up: chroot (scripts/nix-oracle.sh run true) $(ms noop); nix --version in it $(ms nix-start);" \
  "bash -c true $(ms spawn)"

# ---------------------------------------------------------------------------------------------
# Directory → git SHA-1
# ---------------------------------------------------------------------------------------------
if on git; then
  echo
  echo "== directory -> git SHA-1 (nix hash path --mode git --algo sha1; git add -A && git write-tree)"
  printf '%-14s %8s %8s | %12s %12s %12s %12s %12s %12s %12s | %7s %7s %7s %7s\n' \
    tree files MiB ours-par ours-1t ours-seq ours-dc nix nix-adj git \
    par/nix 1t/nix dc/nix par/git
  for t in $TREES; do
    make_tree "$t"
    dir=$WORK/trees/$t
    expect=$("$ORACLE" run nix hash path --mode git --algo sha1 --format base16 "$(nixpath "$dir")")
    same "$t nix vs ours-par" "$expect" "$(env RAYON_NUM_THREADS=$NPROC "$OURS" hash path --mode git --algo sha1 --format base16 $OURS_PAR "$dir")"
    gd=$WORK/git/$t.git
    if [ ! -d "$gd" ]; then git init -q --bare "$gd" && git --git-dir="$gd" config core.bare false; fi
    q "git-$t-par" "$(ours "RAYON_NUM_THREADS=$NPROC" hash path --mode git --algo sha1 --format base16 $OURS_PAR "$dir")"
    q "git-$t-1t" "$(ours RAYON_NUM_THREADS=1 hash path --mode git --algo sha1 --format base16 $OURS_1T "$dir")"
    q "git-$t-dc" "$(ours "RAYON_NUM_THREADS=$NPROC" hash path --mode git --algo sha1 --format base16 $OURS_DC "$dir")"
    [ -z "${OURS_SEQ:-}" ] || q "git-$t-seq" "$(ours RAYON_NUM_THREADS=1 hash path --mode git --algo sha1 --format base16 $OURS_SEQ "$dir")"
    q "git-$t-nix" "$ORACLE run nix hash path --mode git --algo sha1 --format base16 $(nixpath "$dir")"
    q "git-$t-noop" "$ORACLE run true"
    # git hashes every file again (the index is removed before each run); objects written by the
    # warm-up run are not compressed again. Git leaves out empty directories, so its tree id may
    # differ from Nix's.
    q "git-$t-git" "export GIT_DIR=$gd GIT_WORK_TREE=$dir; git -c core.fsync=none -c gc.auto=0 add -A -f && git write-tree" \
      "rm -f $gd/index"
    run_queue
    adjust "git-$t-nix" "git-$t-noop"
    gitid=$(GIT_DIR=$gd git write-tree 2>/dev/null || true)
    [ "$gitid" = "$expect" ] || echo "   (git's tree id for $t, $gitid, is not Nix's $expect: git leaves out empty directories)"
    printf '%-14s %8s %8s | %s %s %s %s %s %s %s | %s %s %s %s\n' "$t" "$(count_of "$dir")" \
      "$(($(size_of "$dir") / 1048576))" \
      "$(ms "git-$t-par")" "$(ms "git-$t-1t")" "$(ms "git-$t-seq")" "$(ms "git-$t-dc")" \
      "$(ms "git-$t-nix")" "$(ms "git-$t-nix-adj")" "$(ms "git-$t-git")" \
      "$(ratio "git-$t-nix-adj" "git-$t-par")" "$(ratio "git-$t-nix-adj" "git-$t-1t")" \
      "$(ratio "git-$t-nix-adj" "git-$t-dc")" "$(ratio "git-$t-git" "git-$t-par")"
  done
  echo "targets: par/nix >= 3x, 1t/nix >= 1.7x, dc/nix >= 2.5x"
fi

# ---------------------------------------------------------------------------------------------
# Directory → NAR SHA-256
# ---------------------------------------------------------------------------------------------
if on nar; then
  echo
  echo "== directory -> NAR SHA-256 (nix hash path --mode nar --algo sha256)"
  printf '%-14s | %12s %12s %12s | %7s\n' tree ours nix nix-adj ours/nix
  for t in $TREES; do
    make_tree "$t"
    dir=$WORK/trees/$t
    expect=$("$ORACLE" run nix hash path --mode nar --algo sha256 --format base16 "$(nixpath "$dir")")
    same "$t NAR sha256 nix vs ours" "$expect" "$("$OURS" hash path --mode nar --algo sha256 --format base16 "$dir")"
    q "nar-$t-ours" "$OURS hash path --mode nar --algo sha256 --format base16 $dir"
    q "nar-$t-nix" "$ORACLE run nix hash path --mode nar --algo sha256 --format base16 $(nixpath "$dir")"
    q "nar-$t-noop" "$ORACLE run true"
    run_queue
    adjust "nar-$t-nix" "nar-$t-noop"
    printf '%-14s | %s %s %s | %s\n' "$t" "$(ms "nar-$t-ours")" "$(ms "nar-$t-nix")" \
      "$(ms "nar-$t-nix-adj")" "$(ratio "nar-$t-nix-adj" "nar-$t-ours")"
  done
  echo "target: ours/nix >= 1.5x"
fi

# ---------------------------------------------------------------------------------------------
# NAR stream → git SHA-1, against a raw SHA-1 of the same bytes
# ---------------------------------------------------------------------------------------------
if on stream; then
  echo
  echo "== NAR on stdin -> git SHA-1, vs a raw SHA-1 of the same bytes (all read the NAR file on stdin)"
  echo "   (coreutils' sha1sum hashes in software; openssl uses the CPU's SHA instructions, as we do)"
  printf '%-14s %8s | %14s %14s %14s %14s %14s | %9s %9s %9s\n' nar MiB ours ours-dc sha1sum \
    "openssl sha1" sha256sum ours/sha1 dc/sha1 ours/ossl
  for t in usr-share large; do
    make_nar "$t"
    nar=$WORK/nar/$t.nar
    bytes=$(stat -c %s "$nar")
    same "$t NAR->git vs dir->git" "$("$OURS" hash path --mode git --algo sha1 --format base16 $OURS_PAR "$WORK/trees/$t")" \
      "$("$OURS" hash path --mode git --algo sha1 --format base16 $OURS_NODC --nar - <"$nar")"
    q "stream-$t-ours" "$OURS hash path --mode git --algo sha1 --format base16 $OURS_NODC --nar - < $nar"
    q "stream-$t-dc" "$OURS hash path --mode git --algo sha1 --format base16 --nar - < $nar"
    q "stream-$t-sha1sum" "sha1sum < $nar"
    q "stream-$t-sha256sum" "sha256sum < $nar"
    has openssl && q "stream-$t-openssl" "openssl dgst -sha1 < $nar"
    run_queue
    printf '%-14s %8s | %s %s %s %s %s | %8s%% %8s%% %8s%%\n' "$t" "$((bytes / 1048576))" \
      "$(rate "stream-$t-ours" "$bytes")" "$(rate "stream-$t-dc" "$bytes")" \
      "$(rate "stream-$t-sha1sum" "$bytes")" "$(rate "stream-$t-openssl" "$bytes")" \
      "$(rate "stream-$t-sha256sum" "$bytes")" \
      "$(pct "stream-$t-sha1sum" "stream-$t-ours")" "$(pct "stream-$t-sha1sum" "stream-$t-dc")" \
      "$(pct "stream-$t-openssl" "stream-$t-ours")"
  done
  echo "target: ours >= 90% of a raw SHA-1's throughput"
fi

# ---------------------------------------------------------------------------------------------
# One pass (git SHA-1 + git SHA-256 + NAR SHA-256) vs three runs
# ---------------------------------------------------------------------------------------------
if on onepass; then
  echo
  echo "== one pass git SHA-1 + git SHA-256 + NAR SHA-256, vs three separate runs of ours"
  printf '%-14s | %12s %12s %12s %12s %12s | %7s\n' input git-sha1 git-sha256 nar-sha256 "sum of 3" \
    "one pass" speedup
  for t in $TREES nar:usr-share nar:large; do
    case "$t" in
      nar:*) make_nar "${t#nar:}"; in="--nar - < $WORK/nar/${t#nar:}.nar" ;;
      *) make_tree "$t"; in="$WORK/trees/$t" ;;
    esac
    k="one-${t/:/-}"
    q "$k-g1" "$OURS hash path --mode git --algo sha1 --format base16 $in"
    q "$k-g256" "$OURS hash path --mode git --algo sha256 --format base16 $in"
    q "$k-n256" "$OURS hash path --mode nar --algo sha256 --format base16 $in"
    q "$k-multi" "$OURS $OURS_MULTI --format base16 $in"
    run_queue
    if num "$k-g1" && num "$k-g256" && num "$k-n256"; then
      MED[$k-sum]=$(awk -v a="${MED[$k-g1]}" -v b="${MED[$k-g256]}" -v c="${MED[$k-n256]}" 'BEGIN {printf "%.6f", a + b + c}')
    fi
    printf '%-14s | %s %s %s %s %s | %s\n' "$t" "$(ms "$k-g1")" "$(ms "$k-g256")" "$(ms "$k-n256")" \
      "$(ms "$k-sum")" "$(ms "$k-multi")" "$(ratio "$k-sum" "$k-multi")"
  done
  echo "target: one pass >= 1.8x faster than three runs (each run with the binary's default flags)"
fi

# ---------------------------------------------------------------------------------------------
# Peak memory: a large NAR through a pipe
# ---------------------------------------------------------------------------------------------
if on memory; then
  echo
  biggest=$(tr ' ' '\n' <<<"$LINEAR_MIB" | sort -n | tail -1)
  make_nar "data-$biggest"
  nar=$WORK/nar/data-$biggest.nar
  echo "== peak memory (GNU time max RSS), $(($(stat -c %s "$nar") / 1048576)) MiB NAR piped on stdin"
  for args in "hash path --mode git --algo sha1" "hash path --mode git --algo sha1 $OURS_NODC" "hash path --mode nar --algo sha256" "$OURS_MULTI"; do
    rss=$(cat "$nar" | /usr/bin/time -f %M "$OURS" $args --nar - 2>&1 >/dev/null | tail -1)
    printf '%-60s %8s KiB (%s MiB)\n' "ours $args" "$rss" "$((rss / 1024))"
  done
  rss=$(cat "$nar" | /usr/bin/time -f %M sha1sum 2>&1 >/dev/null | tail -1)
  printf '%-60s %8s KiB\n' "sha1sum (reference)" "$rss"
  echo "target: <= 64 MiB"
fi

# ---------------------------------------------------------------------------------------------
# Linearity
# ---------------------------------------------------------------------------------------------
if on linear; then
  echo
  echo "== linearity: directory -> git SHA-1 (ours par, Nix adjusted) by file count and by size"
  printf '%-14s | %12s %12s | %14s %14s\n' input ours nix-adj "ours per unit" "nix per unit"
  for n in $LINEAR_FILES; do
    t=small-$n; make_tree "$t"; dir=$WORK/trees/$t
    if [ -z "${MED[git-$t-par]:-}" ]; then
      q "git-$t-par" "$(ours "RAYON_NUM_THREADS=$NPROC" hash path --mode git --algo sha1 --format base16 $OURS_PAR "$dir")"
      q "git-$t-nix" "$ORACLE run nix hash path --mode git --algo sha1 --format base16 $(nixpath "$dir")"
      q "git-$t-noop" "$ORACLE run true"
      run_queue
      adjust "git-$t-nix" "git-$t-noop"
    fi
    printf '%-14s | %s %s | %14s %14s\n' "$n files" "$(ms "git-$t-par")" "$(ms "git-$t-nix-adj")" \
      "$(per "git-$t-par" "$n")" "$(per "git-$t-nix-adj" "$n")"
  done
  for mib in $LINEAR_MIB; do
    t=data-$mib; make_tree "$t"; dir=$WORK/trees/$t
    q "git-$t-par" "$(ours "RAYON_NUM_THREADS=$NPROC" hash path --mode git --algo sha1 --format base16 $OURS_PAR "$dir")"
    q "git-$t-nix" "$ORACLE run nix hash path --mode git --algo sha1 --format base16 $(nixpath "$dir")"
    q "git-$t-noop" "$ORACLE run true"
    run_queue
    adjust "git-$t-nix" "git-$t-noop"
    printf '%-14s | %s %s | %14s %14s\n' "$mib MiB file" "$(ms "git-$t-par")" "$(ms "git-$t-nix-adj")" \
      "$(rate "git-$t-par" $((mib * 1048576)))" "$(rate "git-$t-nix-adj" $((mib * 1048576)))"
  done
fi

echo
echo "medians (seconds) and commands: $WORK/results/medians.tsv"
if [ "$MISMATCH" != 0 ]; then echo "!! some answers differed (see above)"; exit 1; fi
