#!/usr/bin/env bash
# Bytes on disk and serving speed of the binary cache's storage backends, with real Nix 2.34.8
# pushing real trees to nix-ingest-binary-cache on the loopback.
#
#   benches/storage.sh sizes [history|releases|all]   # bytes on disk (default: all corpora)
#   benches/storage.sh serve [history|releases|all]   # GET speed, git backend vs .nar file
#                                                     # (run it on a quiet machine)
#
# Corpora:
#   history   the source trees of the last 50 commits of main of this repository (`git archive`
#             of each into a directory), 50 store paths
#   releases  the /usr trees of the Debian trixie and sid roots of scripts/nix-oracle.sh (the
#             chroots of Nix 2.26 and 2.34), copied, 2 store paths
#
# Each tree is added to a private Nix store in the work directory (`nix store add --mode git
# --hash-algo sha1`, Nix 2.34.8 in the chroot of scripts/nix-oracle.sh), then for each backend a
# fresh service (`nix-ingest-binary-cache`, release build of this workspace) gets the corpus from
# `nix copy --to 'http://127.0.0.1:PORT?compression=C'`:
#   none, xz, zstd   the directory backend (--dir), NARs stored as Nix sent them
#   git              `--storage git:REPO` (when the binary has it), then its `pack` step
# and the bytes on disk are `du -sb` (apparent size: the sum of file sizes) of everything the
# service was given to keep (its --dir, and the git repository), narinfos included. The NAR bytes
# are the sum of the NarSize of the corpus' narinfos.
#
# `serve` pushes the corpus to the directory backend with compression=none and to the git
# backend (packed), checks that both serve the NARs of the largest paths with the NarHash of
# their narinfos, then times `curl -o /dev/null` of each NAR from each backend, and git's own
# read of the path's objects (benches/lib.sh: one warm-up, then RUNS rounds, interleaved; minimum
# and median).
#
# Settings (environment):
#   HISTORY_REPO     the repository of the history corpus (default: this one)
#   HISTORY_REF      its branch or commit (default main)
#   HISTORY_COMMITS  how many commits (default 50)
#   MODE             git (default) or nar: how the trees are added (--mode git --hash-algo sha1,
#                    or --mode nar); the NARs are the same either way
#   BACKENDS         the backends of `sizes` (default "none xz zstd git"; git is left out when
#                    the binary has no git storage)
#   SERVE_PATHS      how many of each corpus' largest paths `serve` times (default 2)
#   RUNS             timed rounds of `serve` (default 9)
#   SETTLE           seconds `serve` waits at most, before timing, for the 1-minute load average
#                    to fall below 0.5 after its own pushing and packing (default 300)
#   NO_BUILD=1       use the release binary as it is (default: cargo build --release first)
#   KEEP=1           keep the work directory (under /tmp) and say where it is
#
# Needs root (the chroots; scripts/nix-oracle.sh setup makes them once) and curl. Everything it
# starts (services) and makes (a directory under /tmp) goes when it ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
. scripts/binary-cache-lib.sh

mode=${1:-}
which=${2:-all}
case "$mode" in
  sizes | serve) ;;
  *)
    echo "usage: $0 sizes|serve [history|releases|all]" >&2
    exit 2
    ;;
esac
case "$which" in
  all) corpora=(history releases) ;;
  history | releases) corpora=("$which") ;;
  *)
    echo "$0: unknown corpus '$which' (history, releases or all)" >&2
    exit 2
    ;;
esac
invocation="benches/storage.sh $*"

ORACLE=scripts/nix-oracle.sh
HISTORY_REPO=${HISTORY_REPO:-.}
HISTORY_REF=${HISTORY_REF:-main}
HISTORY_COMMITS=${HISTORY_COMMITS:-50}
MODE=${MODE:-git}
case "$MODE" in
  git) add_flags=(--mode git --hash-algo sha1) ;;
  nar) add_flags=(--mode nar) ;;
  *)
    echo "$0: MODE must be git or nar" >&2
    exit 2
    ;;
esac
bin=$(readlink -f "${CARGO_TARGET_DIR:-target}")/release/nix-ingest-binary-cache

die() {
  echo "storage.sh: $*" >&2
  exit 1
}

command -v curl >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
}
"$ORACLE" setup sid >/dev/null
[[ " ${corpora[*]} " != *" releases "* ]] || "$ORACLE" setup trixie >/dev/null
if [ "${NO_BUILD:-}" != 1 ]; then
  cargo build --release --locked -q -p nix-ingest-binary-cache
fi
[ -x "$bin" ] || die "no $bin (build it: cargo build --release -p nix-ingest-binary-cache)"

# The git backend, when this build has it.
has_git() { "$bin" --help 2>/dev/null | grep -q 'git:'; }

work=$(mktemp -d /tmp/nix-ingest-storage.XXXXXX)
inside=/host-tmp/${work#/tmp/} # the same directory, as Nix in the chroot sees it
servers=() child=
cleanup() {
  local p
  if [ -n "$child" ]; then
    kill -TERM -- "-$child" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 -- "-$child" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  for p in "${servers[@]}"; do bc_stop "$p"; done
  if [ "${KEEP:-}" = 1 ]; then
    echo "kept $work" >&2
  else
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bg CMD…: CMD in a process group of its own (its id in $child while it runs), waited for; its
# status is bg's. A signal to this script interrupts the wait (bash would run the trap only once a
# foreground command had ended), and the cleanup ends the whole group, Nix in the chroot included.
bg() {
  setsid "$@" &
  child=$!
  local status=0
  wait "$child" || status=$?
  child=
  return "$status"
}

# nix HOME ARGS…: Nix 2.34 in its chroot, with its own HOME (no narinfo cache shared between
# services).
nix() {
  local home=$1
  shift
  mkdir -p "$work/home/$home"
  bg "$ORACLE" run --nix 2.34 env HOME="$inside/home/$home" nix "$@"
}
nix_version=$(nix version --version)

# Commands run for the tables, printed beside them.
declare -A COMMANDS

# ---- corpora ----------------------------------------------------------------------------------

# make_corpus NAME: the trees of the corpus under $work/corpus/NAME, one directory each, added to
# the private store; their store paths in $work/paths-NAME, and a description in DESC[NAME].
declare -A DESC
make_corpus() {
  local corpus=$1 dir=$work/corpus/$1 name rev i=0 suite root
  mkdir -p "$dir"
  case "$corpus" in
    history)
      local revs
      mapfile -t revs < <(git -C "$HISTORY_REPO" rev-list -n "$HISTORY_COMMITS" "$HISTORY_REF")
      [ ${#revs[@]} = "$HISTORY_COMMITS" ] ||
        die "$HISTORY_REF of $HISTORY_REPO has ${#revs[@]} commits, not $HISTORY_COMMITS"
      for rev in "${revs[@]}"; do
        i=$((i + 1))
        name=$(printf 'nix-ingest-src-%02d-%s' "$i" "${rev:0:12}")
        mkdir "$dir/$name"
        git -C "$HISTORY_REPO" archive "$rev" | tar -x -C "$dir/$name"
      done
      DESC[$corpus]="the source trees of the last $HISTORY_COMMITS commits of $HISTORY_REF (git archive, ${revs[-1]:0:12}..${revs[0]:0:12})"
      COMMANDS[$corpus-corpus]="git rev-list -n $HISTORY_COMMITS $HISTORY_REF, then for each: git archive REV | tar -x -C DIR"
      ;;
    releases)
      DESC[$corpus]="/usr of the Debian roots of scripts/nix-oracle.sh:"
      for suite in trixie sid; do
        root=$("$ORACLE" dir --nix "$suite")
        [ -d "$root/usr" ] || die "no $root/usr (run: $ORACLE setup $suite)"
        name=debian-$suite-usr
        bg cp -ax "$root/usr" "$dir/$name"
        DESC[$corpus]+=" $suite ($(cat "$root/etc/debian_version" 2>/dev/null || echo '?'))"
      done
      COMMANDS[$corpus-corpus]="cp -ax \$($ORACLE dir --nix SUITE)/usr DIR, SUITE = trixie, sid"
      ;;
  esac
  : >"$work/paths-$corpus"
  for name in "$dir"/*; do
    name=${name##*/}
    nix add store add --store "$inside/store" "${add_flags[@]}" --name "$name" "$inside/corpus/$corpus/$name" \
      >>"$work/paths-$corpus"
  done
  COMMANDS[$corpus-add]="nix store add --store STORE ${add_flags[*]} --name NAME DIR"
  DESC[$corpus]+="; $(wc -l <"$work/paths-$corpus") store paths, $(find "$dir" -type f | wc -l) files, $(du -sb "$dir" | cut -f1) bytes of trees (du -sb)"
}

# ---- pushing ----------------------------------------------------------------------------------

# push CORPUS BACKEND: a fresh service for BACKEND gets the corpus from nix copy; it keeps running
# (its pid in SERVER[CORPUS-BACKEND], its URL in URL[…]), its storage in $work/cache-CORPUS-BACKEND.
declare -A SERVER URL
push() {
  local corpus=$1 backend=$2 key=$1-$2 d=$work/cache-$1-$2 query compression
  local args=(--dir "$d/dir")
  case "$backend" in
    none | xz | zstd) compression=$backend ;;
    git)
      args+=(--storage "git:$d/git")
      compression=zstd # what Nix sends; the git backend keeps trees, not what was sent
      ;;
    *) die "unknown backend $backend" ;;
  esac
  query="?compression=$compression"
  mkdir -p "$d"
  bc_start "$work/log-$key" "$bin" "${args[@]}" || {
    tail -n 20 "$work/log-$key" >&2
    die "the service for $key did not start"
  }
  servers+=("$BC_PID")
  SERVER[$key]=$BC_PID
  URL[$key]=http://127.0.0.1:$BC_PORT
  local started=$SECONDS
  mapfile -t paths <"$work/paths-$corpus"
  nix "push-$key" copy --from "$inside/store" --to "${URL[$key]}$query" "${paths[@]}" 2>"$work/log-$key-copy" || {
    tail -n 20 "$work/log-$key-copy" "$work/log-$key" >&2
    die "nix copy of $corpus to the $backend backend failed"
  }
  echo "pushed $corpus to $backend in $((SECONDS - started)) s" >&2
  COMMANDS[$corpus-push-$backend]="nix-ingest-binary-cache ${args[*]//$work/W} --listen 127.0.0.1:0; nix copy --from STORE --to 'http://127.0.0.1:PORT$query' PATHS…"
  if [ "$backend" = git ]; then
    started=$SECONDS
    bg "$bin" pack --storage "git:$d/git" >>"$work/log-$key-pack" 2>&1 ||
      { cat "$work/log-$key-pack" >&2; die "pack of $corpus failed"; }
    echo "packed $corpus in $((SECONDS - started)) s" >&2
    COMMANDS[$corpus-pack]="nix-ingest-binary-cache pack --storage git:W/cache-$corpus-git/git (while the service runs)"
  fi
}

stop() { # CORPUS BACKEND
  bc_stop "${SERVER[$1-$2]}"
}

# bytes CORPUS BACKEND: everything the backend keeps, du -sb
bytes() { du -sb "$work/cache-$1-$2" | cut -f1; }

# The sum of the NarSize of the narinfos of the directory backend with compression=none.
nar_bytes() {
  cat "$work/cache-$1-none/dir/"*.narinfo | sed -n 's/^NarSize: //p' | awk '{s += $1} END {print s}'
}

mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
pct_of() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f%%", 100 * a / b}'; }
yes_no() { if awk -v a="$1" -v b="$2" 'BEGIN {exit !(a < b)}'; then echo yes; else echo NO; fi; }
le() { if awk -v a="$1" -v b="$2" 'BEGIN {exit !(a <= b)}'; then echo yes; else echo NO; fi; }

print_context() {
  echo "command: $invocation (MODE=$MODE)"
  echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
  echo "Nix:     $nix_version"
  echo "binary:  nix-ingest-binary-cache $("$bin" --version | awk '{print $2}'), release build, at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src binary-cache Cargo.lock || echo " with uncommitted changes")"
}

# ---- sizes ------------------------------------------------------------------------------------

sizes() {
  local backends corpus b kept=()
  read -r -a backends <<<"${BACKENDS:-none xz zstd git}"
  for b in "${backends[@]}"; do
    if [ "$b" = git ] && ! has_git; then
      echo "this build of nix-ingest-binary-cache has no git storage: the git backend is left out" >&2
      continue
    fi
    kept+=("$b")
  done
  [[ " ${kept[*]} " == *" none "* ]] || kept=(none "${kept[@]}") # the NAR bytes
  declare -A B GITINFO
  for corpus in "${corpora[@]}"; do
    make_corpus "$corpus"
    for b in "${kept[@]}"; do
      push "$corpus" "$b"
      stop "$corpus" "$b"
      B[$corpus-$b]=$(bytes "$corpus" "$b")
      if [ "$b" = git ]; then
        local repo=$work/cache-$corpus-git/git
        GITINFO[$corpus]="repository $(du -sb "$repo" | cut -f1) bytes ($(git -C "$repo" count-objects -v |
          awk '/^in-pack:/ {p = $2} /^size-pack:/ {k = $2} /^count:/ {l = $2} END {printf "%d objects in packs of %d KiB, %d loose", p, k, l}')), --dir $(du -sb "$work/cache-$corpus-git/dir" | cut -f1) bytes"
      fi
    done
    B[$corpus-nar]=$(nar_bytes "$corpus")
    DESC[$corpus]+="; $(sed -n 's/^NarHash: //p' "$work/cache-$corpus-none/dir/"*.narinfo | sort -u | wc -l) distinct NARs"
  done

  for corpus in "${corpora[@]}"; do
    local nar=${B[$corpus-nar]}
    echo
    echo "== sizes: $corpus — ${DESC[$corpus]}"
    print_context
    echo "corpus:  ${COMMANDS[$corpus-corpus]}"
    echo "added:   ${COMMANDS[$corpus-add]}"
    for b in "${kept[@]}"; do echo "push:    ${COMMANDS[$corpus-push-$b]}"; done
    [ -z "${COMMANDS[$corpus-pack]:-}" ] || echo "pack:    ${COMMANDS[$corpus-pack]}"
    echo "bytes:   du -sb of everything the service keeps (--dir and the git repository), narinfos included"
    [ -z "${GITINFO[$corpus]:-}" ] || echo "git:     ${GITINFO[$corpus]}"
    echo
    echo "| $corpus | bytes on disk | MiB | of the NAR bytes |"
    echo "|---|---:|---:|---:|"
    echo "| NARs uncompressed (sum of NarSize) | $nar | $(mib "$nar") | 100% |"
    for b in "${kept[@]}"; do
      local label
      case "$b" in
        none) label="directory backend, compression=none" ;;
        xz | zstd) label="directory backend, compression=$b" ;;
        git) label="git backend, packed" ;;
      esac
      echo "| $label | ${B[$corpus-$b]} | $(mib "${B[$corpus-$b]}") | $(pct_of "${B[$corpus-$b]}" "$nar") |"
    done
    if [ -n "${B[$corpus-git]:-}" ]; then
      local g=${B[$corpus-git]}
      echo
      case "$corpus" in
        history)
          echo "target: git ≤ 15% of the NAR bytes: $(pct_of "$g" "$nar") — $(le "$g" "$(awk -v n="$nar" 'BEGIN {print 0.15 * n}')")"
          [ -z "${B[$corpus-xz]:-}" ] ||
            echo "target: git < xz: git is $(pct_of "$g" "${B[$corpus-xz]}") of xz — $(yes_no "$g" "${B[$corpus-xz]}")"
          ;;
        releases)
          [ -z "${B[$corpus-zstd]:-}" ] ||
            echo "target: git < zstd: git is $(pct_of "$g" "${B[$corpus-zstd]}") of zstd — $(yes_no "$g" "${B[$corpus-zstd]}")"
          [ -z "${B[$corpus-xz]:-}" ] ||
            echo "beside: git is $(pct_of "$g" "${B[$corpus-xz]}") of xz"
          ;;
      esac
    fi
  done
  echo
  echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# ---- serve ------------------------------------------------------------------------------------

# largest CORPUS N: the hash parts of the N paths with the largest NarSize, largest first.
largest() {
  local f
  for f in "$work/cache-$1-none/dir/"*.narinfo; do
    printf '%s %s\n' "$(sed -n 's/^NarSize: //p' "$f")" "$(basename "$f" .narinfo)"
  done | sort -rn | head -n "$2" | cut -d' ' -f2
}

# nar_url CORPUS BACKEND HASH: the NAR's URL in the narinfo that backend serves.
nar_url() {
  local u
  u=$(curl -sSf "${URL[$1-$2]}/$3.narinfo" | sed -n 's/^URL: //p')
  [ -n "$u" ] || die "no URL in the narinfo of $3 from the $2 backend"
  echo "${URL[$1-$2]}/$u"
}

serve() {
  has_git || die "this build of nix-ingest-binary-cache has no git storage (--storage git:PATH): nothing to compare"
  local corpus hash narinfo narhash got b u
  local keys=()
  declare -A SIZE UDIR UGIT NAME REPO
  for corpus in "${corpora[@]}"; do
    make_corpus "$corpus"
    push "$corpus" none
    push "$corpus" git
    for hash in $(largest "$corpus" "${SERVE_PATHS:-2}"); do
      narinfo=$work/cache-$corpus-none/dir/$hash.narinfo
      narhash=$(sed -n 's/^NarHash: sha256://p' "$narinfo")
      for b in none git; do
        grep -qx 'Compression: none' <(curl -sSf "${URL[$corpus-$b]}/$hash.narinfo") ||
          die "the $b backend's narinfo of $hash does not say Compression: none"
        u=$(nar_url "$corpus" "$b" "$hash")
        # Both answers are the NAR of the narinfo, byte for byte.
        got=$(curl -sSf "$u" | sha256sum | cut -d' ' -f1)
        got=$(nix serve hash convert --hash-algo sha256 --to nix32 "$got")
        [ "$got" = "$narhash" ] || die "the $b backend served $hash with sha256:$got, the narinfo says sha256:$narhash"
        if [ "$b" = none ]; then UDIR[$hash]=$u; else UGIT[$hash]=$u; fi
      done
      NAME[$hash]=$(sed -n 's|^StorePath: .*/[^-]*-||p' "$narinfo")
      SIZE[$hash]=$(sed -n 's/^NarSize: //p' "$narinfo")
      REPO[$hash]=$work/cache-$corpus-git/git
      git -C "${REPO[$hash]}" rev-parse -q --verify "refs/nix/$hash" >/dev/null ||
        die "the git backend has no refs/nix/$hash"
      keys+=("$hash")
    done
  done

  for hash in "${keys[@]}"; do
    q "$hash-git" "curl -sSf -o /dev/null '${UGIT[$hash]}'"
    q "$hash-dir" "curl -sSf -o /dev/null '${UDIR[$hash]}'"
    # What reading the path's objects costs git itself (inflating, resolving deltas), no NAR.
    q "$hash-read" "git -C '${REPO[$hash]}' rev-list --objects refs/nix/$hash | cut -d' ' -f1 |
      git -C '${REPO[$hash]}' cat-file --batch >/dev/null"
  done
  # The 1-minute load average still counts the pushing and packing above: wait for it to fall.
  local load_start load_end waited=0
  while ! awk -v l="$(load_avg)" 'BEGIN {exit !(l < 0.5)}' && [ "$waited" -lt "${SETTLE:-300}" ]; do
    sleep 5
    waited=$((waited + 5))
  done
  echo "waited $waited s for the load average to fall below 0.5 (it is $(load_avg))" >&2
  load_start=$(load_avg)
  echo
  bench_header "serving a NAR: the git backend (packed) vs the .nar file of the directory backend"
  run_queue
  load_end=$(load_avg)
  echo
  print_context
  echo "GET:     curl -sSf -o /dev/null http://127.0.0.1:PORT/nar/NARHASH.nar (both backends name the NAR by its NarHash)"
  echo "git:     git rev-list --objects refs/nix/HASH | cut -d' ' -f1 | git cat-file --batch >/dev/null (git $(git --version | cut -d' ' -f3))"
  echo
  echo "| store path | NAR bytes | git backend, min (median) | .nar file, min (median) | git as fast as the file: min (median) | git's own read of the objects |"
  echo "|---|---:|---:|---:|---:|---:|"
  for hash in "${keys[@]}"; do
    local med_pct
    med_pct=$(awk -v a="${MED[$hash-dir]:-0}" -v b="${MED[$hash-git]:-0}" 'BEGIN {if (b > 0) printf "%.0f%%", 100 * a / b; else printf "-"}')
    echo "| ${NAME[$hash]} | ${SIZE[$hash]} | $(ms_pair "$hash-git") | $(ms_pair "$hash-dir") | $(pct "$hash-dir" "$hash-git") ($med_pct) | $(ms_pair "$hash-read") |"
  done
  echo
  echo "target: git ≥ 80% as fast as the .nar file (from minimums)"
  echo "load: $load_start at the start of the timing, $load_end at the end (1 min; the timed commands"
  echo "      themselves keep a core busy, so the end figure counts them too)"
  if ! awk -v a="$load_start" 'BEGIN {exit !(a < 0.5)}'; then
    echo "NOT A QUIET MACHINE (load ≥ 0.5 at the start): these times do not count"
  fi
}

"$mode"
