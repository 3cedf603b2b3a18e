#!/usr/bin/env bash
# Builds the crate with every combination of its features, so that no feature relies on another
# it does not enable, and no combination breaks the build.
#
#   scripts/check-features.sh                 # `cargo check --lib` of every combination, then
#                                             # `--all-targets` (tests, examples, benches) with no
#                                             # features, the default ones and all of them
#   scripts/check-features.sh --all-targets   # `--all-targets` for every combination (slower)
#
# The features are read from the [features] table of Cargo.toml (one `name = [...]` per line).
# Combinations that enable the same set once a feature's own features are added (`parallel`
# enables `fs`, `gix` enables `gix-hash`) are built once. Uses the shared target directory; prints
# one line per build and the total time; exits non-zero if any build failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

all_targets_everywhere=false
case "${1:-}" in
  --all-targets) all_targets_everywhere=true ;;
  "") ;;
  *) echo "usage: $0 [--all-targets]" >&2; exit 2 ;;
esac

# name -> the crate features it enables (dep: entries dropped).
declare -A enables=()
features=()
while IFS= read -r line; do
  name=${line%%=*}; name=${name//[[:space:]]/}
  list=${line#*=}
  [ "$name" = default ] && continue
  features+=("$name")
  deps=""
  for item in $(tr -d '[]",' <<<"$list"); do
    case "$item" in dep:*|*/*) ;; *) deps+=" $item" ;; esac
  done
  enables[$name]=$deps
done < <(awk '/^\[features\]/{f=1; next} /^\[/{f=0} f && /^[A-Za-z0-9_-]+[[:space:]]*=/' Cargo.toml)

# The set a list of features turns into, sorted and comma-separated.
closure() {
  declare -A have=()
  local todo=("$@") f
  while [ ${#todo[@]} -gt 0 ]; do
    f=${todo[0]}; todo=("${todo[@]:1}")
    [ -n "${have[$f]:-}" ] && continue
    have[$f]=1
    for g in ${enables[$f]:-}; do todo+=("$g"); done
  done
  printf '%s\n' "${!have[@]}" | sort | paste -sd, -
}

failures=()
builds=0
start=$SECONDS

build() { # build LABEL CARGO-ARGS…
  local label=$1 t=$SECONDS log
  shift
  builds=$((builds + 1))
  log=$(mktemp)
  if cargo check --locked --quiet --keep-going "$@" >"$log" 2>&1 && ! grep -q '^warning' "$log"; then
    printf 'ok    %-60s %3ds\n' "$label" $((SECONDS - t))
  else
    printf 'FAIL  %-60s %3ds\n' "$label" $((SECONDS - t))
    cat "$log"
    failures+=("$label")
  fi
  rm -f "$log"
}

n=${#features[@]}
echo "features: ${features[*]}"
declare -A seen=()
for ((mask = 0; mask < (1 << n); mask++)); do
  chosen=()
  for ((i = 0; i < n; i++)); do
    if (( mask & (1 << i) )); then chosen+=("${features[$i]}"); fi
  done
  set_=$(closure "${chosen[@]}")
  [ -n "${seen[x$set_]:-}" ] && continue
  seen[x$set_]=1
  targets=(--lib)
  $all_targets_everywhere && targets=(--all-targets)
  build "${targets[*]} [${set_:-no features}]" "${targets[@]}" --no-default-features --features "$set_"
done

if ! $all_targets_everywhere; then
  build "--all-targets [no features]" --all-targets --no-default-features
  build "--all-targets [default]" --all-targets
  build "--all-targets [all features]" --all-targets --all-features
fi

echo "${builds} builds in $((SECONDS - start))s"
if [ ${#failures[@]} -gt 0 ]; then
  printf 'failed: %s\n' "${failures[@]}"
  exit 1
fi
