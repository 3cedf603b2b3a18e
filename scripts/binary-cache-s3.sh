#!/usr/bin/env bash
# The binary cache on S3, against a real S3-compatible server (moto's server mode from PyPI,
# installed and started by scripts/s3-server.sh on the loopback):
#  1. the Rust test of two services on one bucket (tests/s3.rs);
#  2. real Nix (2.34 and 2.26, the oracle chroots) pushes with `nix copy --to` through one
#     service and fetches the paths back through another service on the same bucket into a fresh
#     store, byte for byte, with require-sigs and only the cache's key.
#
#   scripts/binary-cache-s3.sh [2.34|2.26]…
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2.34 2.26)
command -v curl >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
}
command -v python3 >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
}
for v in "${versions[@]}"; do scripts/nix-oracle.sh setup "$v" >/dev/null; done

work=$(mktemp -d /tmp/nix-ingest-bc-s3.XXXXXX)
inside=/host-tmp/${work#/tmp/}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  # The services, started in the command substitutions of `start` (subshells), by their ids.
  if [ -f "$work/service-pids" ]; then
    while read -r p; do kill "$p" 2>/dev/null || true; done <"$work/service-pids"
  fi
  [ ! -f "$work/pid" ] || kill "$(cat "$work/pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$work"/*.log; do echo "== $f" >&2; tail -n 20 "$f" >&2; done; exit 1; }
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }

scripts/s3-server.sh "$work"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
storage="s3://cache?endpoint=http://127.0.0.1:$(cat "$work/port")&region=us-east-1"

NIX_INGEST_TEST_S3=$storage cargo test -q -p nix-ingest-binary-cache --test s3 -- --ignored
ok "two services on one bucket (tests/s3.rs)"

cargo build -q -p nix-ingest-binary-cache
bin=${CARGO_TARGET_DIR:-target}/debug/nix-ingest-binary-cache
scripts/nix-oracle.sh run --nix "${versions[0]}" nix key generate-secret --key-name s3-cache-1 >"$work/cache.sec"
scripts/nix-oracle.sh run --nix "${versions[0]}" nix key convert-secret-to-public <"$work/cache.sec" >"$work/cache.pub"
start() {
  # Made before the service starts: the loop below reads it before the service may have written.
  touch "$work/$1.log"
  "$bin" --dir "$work/$1" --listen 127.0.0.1:0 --storage "$storage" --signing-key "$work/cache.sec" \
    >"$work/$1.log" 2>&1 &
  pids+=($!)
  echo $! >>"$work/service-pids"
  local port=
  for _ in $(seq 100); do
    port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/$1.log")
    [ -z "$port" ] || break
    sleep 0.1
  done
  [ -n "$port" ] || fail "service $1 did not start"
  echo "http://127.0.0.1:$port"
}
a=$(start a)
b=$(start b)

for v in "${versions[@]}"; do
  home=$inside/home-$v
  mkdir -p "$work/home-$v"
  nix() { scripts/nix-oracle.sh run --nix "$v" env HOME="$home" nix "$@"; }
  t=$work/tree-$v
  mkdir -p "$t/sub"
  printf 'pushed through one service, fetched through another, Nix %s\n' "$v" >"$t/file"
  head -c 200000 /dev/urandom >"$t/sub/random"
  tree=$(nix store add --mode git --hash-algo sha1 --name s3-tree "$inside/tree-$v")
  user=$(nix eval --raw --impure --expr "builtins.toFile \"s3-user\" \"uses \${builtins.storePath \"$tree\"}\"")
  nix copy --to "$a?write-nar-listing=1" "$user" || fail "nix $v: nix copy --to $a"
  nix copy --from "$b" --to "$inside/fresh-$v" --option require-sigs true \
    --option trusted-public-keys "$(cat "$work/cache.pub")" "$user" || fail "nix $v: nix copy --from $b"
  diff -r "$t" "$work/fresh-$v$tree" >/dev/null || fail "nix $v: $tree differs after the round trip"
  cmp "$work/fresh-$v$user" <(printf 'uses %s' "$tree") || fail "nix $v: $user differs"
  ok "nix $v: nix copy --to one service, --from another on the same bucket, require-sigs with the cache's key: identical"
  # The NAR listing Nix uploaded through one service was checked and kept in the bucket: the
  # other service serves it, and Nix lists the path through it.
  hash=$(basename "$tree" | cut -c1-32)
  curl -fsS "$b/$hash.ls" | grep -q '"random"' || fail "nix $v: $hash.ls is not served from the bucket"
  nix store ls --store "$b" --json "$tree/sub/" | grep -q '"random"' || fail "nix $v: nix store ls through $b"
  ok "nix $v: the NAR listing uploaded through one service is served by the other from the bucket"
done
echo "$passed passed, 0 failed"
