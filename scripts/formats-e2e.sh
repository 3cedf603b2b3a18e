#!/usr/bin/env bash
# End to end with real Nix (2.34 and 2.26, the chroots of scripts/nix-oracle.sh) and
# nix-ingest-binary-cache on the loopback: NAR listings and realisations.
#
#   scripts/formats-e2e.sh              # both Nix versions
#   scripts/formats-e2e.sh 2.34         # one
#
# For each version:
# - `nix copy --to 'http://…?write-nar-listing=1'` (compression none and xz) is accepted, and the
#   cache keeps the same `.ls` bytes Nix writes to a file:// cache for the same path;
#   `nix store ls --store http://… --json -R` and `-lR` print what they print from that file://
#   cache; a listing that does not match the NAR is refused (uploaded after the narinfo) or
#   dropped (uploaded before it);
# - the output of a content-addressed derivation, built with a signing key the cache trusts, is
#   copied with `nix copy --to http://… DRV^out` (realisation accepted) and substituted by drv
#   output into a fresh store; a realisation without a trusted signature, or of an output the
#   cache does not hold, is refused with a clear message.
# Builds need a pseudo-terminal: each build mounts a private devpts inside the oracle's private
# mount namespace (gone when the command ends). Needs root and the oracle chroots.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2.34 2.26)

command -v curl >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
}
for v in "${versions[@]}"; do scripts/nix-oracle.sh setup "$v" >/dev/null; done
cargo build -q -p nix-ingest-binary-cache
bin=${CARGO_TARGET_DIR:-target}/debug/nix-ingest-binary-cache

work=$(mktemp -d /tmp/nix-ingest-fmt-e2e.XXXXXX)
inside=/host-tmp/${work#/tmp/}
pid=
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  [ -z "$pid" ] || wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [ ! -f "$work/service.log" ] || tail -n 20 "$work/service.log" >&2; exit 1; }
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }

# Two keys made by Nix: the cache trusts the first only.
scripts/nix-oracle.sh run --nix "${versions[0]}" nix key generate-secret --key-name fmt-e2e-1 >"$work/key.sec"
scripts/nix-oracle.sh run --nix "${versions[0]}" nix key convert-secret-to-public <"$work/key.sec" >"$work/key.pub"
scripts/nix-oracle.sh run --nix "${versions[0]}" nix key generate-secret --key-name untrusted-1 >"$work/other.sec"
: >"$work/service.log"
"$bin" --dir "$work/cache" --listen 127.0.0.1:0 --trusted-public-key "$(cat "$work/key.pub")" \
  >"$work/service.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/service.log")
  [ -z "$port" ] || break
  sleep 0.1
done
[ -n "$port" ] || fail "the service did not start"
url=http://127.0.0.1:$port
put() { curl -sS -o "$work/answer" -w '%{http_code}' -X PUT --data-binary "@$1" "$url/$2"; }

for v in "${versions[@]}"; do
  home=$inside/home-$v
  mkdir -p "$work/home-$v"
  config="extra-experimental-features = ca-derivations
sandbox = false
substituters =
narinfo-cache-negative-ttl = 0"
  nix() { NIX_ORACLE_EXTRA_CONFIG="$config" scripts/nix-oracle.sh run --nix "$v" env HOME="$home" nix "$@"; }
  # A build, signed with key $1 (secret-key-files).
  nix_build() {
    local key=$1
    shift
    NIX_ORACLE_EXTRA_CONFIG="$config
secret-key-files = $inside/$key" scripts/nix-oracle.sh run --nix "$v" env HOME="$home" sh -c \
      'mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts && mount --bind /dev/pts/ptmx /dev/ptmx && exec nix build "$@"' \
      sh "$@"
  }
  echo "== Nix $(nix --version)"

  # NAR listings.
  t=$work/tree-$v
  mkdir -p "$t/dir/sub" "$t/empty"
  printf 'listed by Nix %s\n' "$v" >"$t/file"
  printf '#!/bin/sh\necho hi\n' >"$t/dir/run"
  chmod +x "$t/dir/run"
  printf 'odd\n' >"$t/dir/sub/a \"quoted\" name é"
  ln -s ../file "$t/dir/link"
  head -c 100000 /dev/urandom >"$t/dir/random"
  chmod -R go-w "$t"
  for compression in none xz; do
    path=$(nix store add --mode nar --name "listed-$compression" "$inside/tree-$v")
    hash=$(basename "$path" | cut -c1-32)
    nix copy --to "$url?write-nar-listing=1&compression=$compression" "$path" ||
      fail "nix $v: nix copy --to $url?write-nar-listing=1 $path"
    [ -f "$work/cache/$hash.ls" ] || fail "nix $v: no $hash.ls kept: $(tail -n 5 "$work/service.log")"
    nix copy --to "file://$inside/file-$v?write-nar-listing=1&compression=$compression" "$path"
    cmp "$work/cache/$hash.ls" "$work/file-$v/$hash.ls" ||
      fail "nix $v: the kept $hash.ls differs from what Nix writes to a file:// cache"
    ok "nix $v: nix copy --to http://…?write-nar-listing=1 (compression $compression): $hash.ls kept, the bytes Nix writes"
    for args in "--json -R" "-lR"; do
      # shellcheck disable=SC2086
      nix store ls --store "$url" $args "$path/" >"$work/ls-http" || fail "nix $v: nix store ls --store $url $args"
      # shellcheck disable=SC2086
      nix store ls --store "file://$inside/file-$v" $args "$path/" >"$work/ls-file"
      cmp "$work/ls-http" "$work/ls-file" || fail "nix $v: nix store ls $args differs between http:// and file://"
      [ -s "$work/ls-http" ] || fail "nix $v: nix store ls $args printed nothing"
    done
    ok "nix $v: nix store ls --json -R and -lR list $path from the cache as from a file:// cache"
  done

  # A listing that does not match the NAR the cache holds: refused.
  sed 's/"size":100000/"size":100001/' "$work/cache/$hash.ls" >"$work/wrong.ls"
  cmp -s "$work/wrong.ls" "$work/cache/$hash.ls" && fail "the forged listing is not different"
  rm "$work/cache/$hash.ls"
  got=$(put "$work/wrong.ls" "$hash.ls")
  [ "$got" = 422 ] || fail "nix $v: a mismatching listing: HTTP $got: $(cat "$work/answer")"
  [ ! -e "$work/cache/$hash.ls" ] || fail "nix $v: the mismatching listing was kept"
  ok "nix $v: a listing that does not match the NAR refused with $got: $(cat "$work/answer")"
  got=$(put "$work/file-$v/$hash.ls" "$hash.ls")
  [ "$got" = 200 ] || fail "nix $v: the genuine listing: HTTP $got: $(cat "$work/answer")"
  # Uploaded before its path: held, then dropped when the NAR shows it wrong.
  path=$(nix store add --mode nar --name "listed-late" "$inside/tree-$v")
  hash=$(basename "$path" | cut -c1-32)
  got=$(put "$work/wrong.ls" "$hash.ls")
  [ "$got" = 200 ] || fail "nix $v: a listing before its narinfo: HTTP $got: $(cat "$work/answer")"
  nix copy --to "$url?compression=none" "$path" || fail "nix $v: nix copy $path"
  [ -f "$work/cache/$hash.narinfo" ] || fail "nix $v: $path not kept"
  [ ! -e "$work/cache/$hash.ls" ] || fail "nix $v: a mismatching early listing was kept"
  grep -q "listing dropped" "$work/service.log" || fail "nix $v: no warning for the dropped listing"
  ok "nix $v: a mismatching listing uploaded before its path dropped once the NAR arrived"

  # Realisations of a content-addressed derivation, new in each run (the oracle's store keeps
  # what earlier runs built, signed with their keys).
  cat >"$work/ca-$v.nix" <<EOF
{ salt }:
derivation {
  name = "ca-e2e";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "/bin/mkdir \$out; echo \${salt} > \$out/file" ];
  __contentAddressed = true;
  outputHashMode = "recursive";
  outputHashAlgo = "sha256";
}
EOF
  drv_of() { nix eval --impure --raw --expr "(import $inside/ca-$v.nix { salt = \"$1\"; }).drvPath"; }
  drv=$(drv_of "trusted $v ${work##*.}")
  out=$(nix_build key.sec --no-link --print-out-paths "$drv^out")
  nix copy --to "$url" "$drv^out" || fail "nix $v: nix copy --to $url $drv^out"
  doi=$(grep -l "\"outPath\":\"$(basename "$out")\"" "$work"/cache/realisations/*.doi || true)
  doi=${doi##*/}
  [ -n "$doi" ] || fail "nix $v: no realisation kept for $out: $(tail -n 5 "$work/service.log")"
  ok "nix $v: nix copy --to http://… $drv^out: realisation $doi kept"
  # Into a fresh store: the derivation, then its output by substitution through the realisation.
  fresh=$inside/fresh-$v
  nix copy --to "$fresh" "$drv"
  nix build --no-link --store "$fresh" --substituters "$url" \
    --option trusted-public-keys "$(cat "$work/key.pub")" --max-jobs 0 "$drv^out" ||
    fail "nix $v: substituting $drv^out from the cache"
  [ -f "$work/fresh-$v$out/file" ] || fail "nix $v: $out not substituted"
  ok "nix $v: $drv^out substituted into a fresh store through the kept realisation"

  # Signed by a key the cache does not trust: refused.
  drv=$(drv_of "untrusted $v ${work##*.}")
  out=$(nix_build other.sec --no-link --print-out-paths "$drv^out")
  if nix copy --to "$url" "$drv^out" 2>"$work/copy.err"; then
    fail "nix $v: a realisation signed by an untrusted key was accepted"
  fi
  grep -q "not signed by a key this cache trusts" "$work/service.log" || fail "nix $v: no clear refusal"
  ok "nix $v: a realisation without a trusted signature refused: $(grep -o 'realisation sha256[^"]*trusted signature' "$work/service.log" | tail -n 1)"
  # Of an output the cache does not hold: refused (409).
  f=$(ls "$work/cache/realisations/" | head -n 1)
  sed "s/\"outPath\":\"[a-z0-9]*-/\"outPath\":\"00000000000000000000000000000000-/" \
    "$work/cache/realisations/$f" >"$work/missing.doi"
  got=$(put "$work/missing.doi" "realisations/$f")
  [ "$got" = 409 ] || fail "nix $v: a realisation of a missing output: HTTP $got: $(cat "$work/answer")"
  ok "nix $v: a realisation of an output not in the cache refused with $got: $(cat "$work/answer")"
done
echo "$passed passed, 0 failed"
