# Timing helpers shared by the benchmark scripts (source it: `. benches/lib.sh`).
#
#   bench_header "title"          # date, host, cores, CPU, load average, RUNS
#   q KEY "COMMAND" ["PREPARE"]   # queue a command (PREPARE runs untimed before each run)
#   run_queue                     # run the queue interleaved; fills MIN[KEY], MED[KEY], TIMES[KEY]
#   ms KEY / ms_pair KEY          # "123.4 ms" / "123.4 (125.0)" (minimum, median in brackets)
#   ratio SLOW FAST [min|med]     # how many times faster FAST is, from minimums by default
#   rate KEY BYTES                # MiB/s from the minimum
#   load_avg                      # the 1-minute load average now
#
# Timing: one warm-up run of every queued command (the page cache is warm for every tool, and a
# command that fails is reported and left out), then RUNS rounds that each run every command
# once, in an order rotated every round. Commands that are compared run interleaved, so on a
# machine whose load changes they see the same conditions. Times are wall clock, taken with
# bash's $EPOCHREALTIME around `bash -c COMMAND` (the ~1 ms start-up of `bash -c` is in every
# time). The minimum of the runs is the figure least disturbed by anything else running; the
# median is printed beside it.
#
# Settings: RUNS (default 9), BENCH_LOG (a TSV file that gets one line per command: key, minimum,
# median, every time in seconds, the command).

RUNS=${RUNS:-9}
declare -A MIN MED TIMES
QK=() QC=() QP=()

bench_log() { [ -n "${BENCH_LOG:-}" ] && printf '%s\n' "$*" >>"$BENCH_LOG"; true; }

load_avg() { cut -d' ' -f1 /proc/loadavg; }

bench_header() { # TITLE
  echo "== $1"
  echo "date:  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host:  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
    "SHA instructions: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)"
  echo "load:  $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"
  echo "runs:  minimum of $RUNS interleaved runs after one warm-up (median in brackets)"
}

q() { QK+=("$1"); QC+=("$2"); QP+=("${3:-}"); }

run_queue() {
  local n=${#QK[@]} i j r t0 t1
  local -a failed
  for ((i = 0; i < n; i++)); do
    failed[i]=0
    TIMES[${QK[i]}]=""
    [ -n "${QP[i]}" ] && bash -c "${QP[i]}" >/dev/null 2>&1
    if ! bash -c "${QC[i]}" >/dev/null 2>"${TMPDIR:-/tmp}/bench-$$.err"; then
      failed[i]=1
      MIN[${QK[i]}]=FAIL
      MED[${QK[i]}]=FAIL
      echo "!! FAILED ${QK[i]}: ${QC[i]}: $(tail -1 "${TMPDIR:-/tmp}/bench-$$.err")" >&2
    fi
  done
  rm -f "${TMPDIR:-/tmp}/bench-$$.err"
  for ((r = 0; r < RUNS; r++)); do
    for ((j = 0; j < n; j++)); do
      i=$(((j + r) % n))
      ((failed[i])) && continue
      [ -n "${QP[i]}" ] && bash -c "${QP[i]}" >/dev/null 2>&1
      t0=${EPOCHREALTIME/./}
      bash -c "${QC[i]}" >/dev/null 2>&1
      t1=${EPOCHREALTIME/./}
      TIMES[${QK[i]}]+="$((t1 - t0)) "
    done
  done
  for ((i = 0; i < n; i++)); do
    ((failed[i])) && continue
    local sorted
    sorted=$(tr ' ' '\n' <<<"${TIMES[${QK[i]}]}" | grep . | sort -n)
    MIN[${QK[i]}]=$(head -1 <<<"$sorted" | awk '{printf "%.6f", $1 / 1e6}')
    MED[${QK[i]}]=$(awk '{a[NR] = $1} END {m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.6f", m / 1e6}' <<<"$sorted")
    bench_log "$(printf '%s\t%s\t%s\t%s\t%s' "${QK[i]}" "${MIN[${QK[i]}]}" "${MED[${QK[i]}]}" \
      "$(awk '{for (i = 1; i <= NF; i++) printf "%s%.6f", (i > 1 ? " " : ""), $i / 1e6}' <<<"${TIMES[${QK[i]}]}")" "${QC[i]}")"
  done
  QK=() QC=() QP=()
}

is_num() { [[ ${1:-} =~ ^[0-9.]+$ ]]; }
num() { is_num "${MIN[$1]:-}"; }

ms() { # KEY: the minimum in ms
  if num "$1"; then awk -v t="${MIN[$1]}" 'BEGIN {printf "%.1f ms", t * 1000}'; else printf '%s' "${MIN[$1]:--}"; fi
}

ms_pair() { # KEY: "min (median)" in ms
  if num "$1"; then
    awk -v a="${MIN[$1]}" -v b="${MED[$1]}" 'BEGIN {printf "%.0f (%.0f) ms", a * 1000, b * 1000}'
  else printf '%s' "${MIN[$1]:--}"; fi
}

ratio() { # SLOW FAST [min|med]: how many times faster FAST is
  local which=${3:-min} a b
  if [ "$which" = med ]; then a=${MED[$1]:-}; b=${MED[$2]:-}; else a=${MIN[$1]:-}; b=${MIN[$2]:-}; fi
  if is_num "$a" && is_num "$b"; then awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2fx", a / b}'; else printf -- -; fi
}

rate() { # KEY BYTES: MiB/s from the minimum
  if num "$1"; then awk -v t="${MIN[$1]}" -v b="$2" 'BEGIN {printf "%.0f MiB/s", b / t / 1048576}'; else printf -- -; fi
}

pct() { # BASE KEY: KEY's throughput as a percentage of BASE's (from minimums)
  if num "$1" && num "$2"; then awk -v a="${MIN[$1]}" -v b="${MIN[$2]}" 'BEGIN {printf "%.0f%%", 100 * a / b}'; else printf -- -; fi
}

# set_fastest NEW-KEY KEY…: NEW-KEY's minimum and median are those of the KEY with the smallest
# minimum; prints that KEY.
set_fastest() {
  local new=$1 best="" k
  shift
  for k in "$@"; do
    num "$k" || continue
    if [ -z "$best" ] || awk -v a="${MIN[$k]}" -v b="${MIN[$best]}" 'BEGIN {exit !(a < b)}'; then best=$k; fi
  done
  if [ -n "$best" ]; then MIN[$new]=${MIN[$best]}; MED[$new]=${MED[$best]}; fi
  echo "$best"
}

# subtract NEW-KEY KEY BASE: NEW-KEY = KEY less BASE (minimum less minimum, median less median),
# at least 0.5 ms.
subtract() {
  num "$2" && num "$3" || return 0
  MIN[$1]=$(awk -v a="${MIN[$2]}" -v b="${MIN[$3]}" 'BEGIN {d = a - b; printf "%.6f", (d > 0.0005 ? d : 0.0005)}')
  MED[$1]=$(awk -v a="${MED[$2]}" -v b="${MED[$3]}" 'BEGIN {d = a - b; printf "%.6f", (d > 0.0005 ? d : 0.0005)}')
}
