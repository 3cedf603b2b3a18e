#!/usr/bin/env bash
# End to end: real Nix (2.34 and 2.26, the chroots of scripts/nix-oracle.sh) pushes to and pulls
# from nix-ingest-binary-cache on the loopback.
#
#   scripts/binary-cache-e2e.sh              # both Nix versions
#   scripts/binary-cache-e2e.sh 2.26         # one
#
# For each version: `nix store add --mode git` of a few trees, `nix copy --to http://…` with
# compression none, the default (xz) and zstd — all accepted; into fresh stores, `nix copy --from`
# and substitution (`nix-store --realise` with the cache as substituter) fetch them back without
# signatures, byte for byte; then uploads forged from what `nix copy --to file://…` writes (a
# tampered NAR, a wrong CA, a mismatched NarHash) are refused and leave nothing in the cache.
# Needs root (the chroots) and the oracle chroots (scripts/nix-oracle.sh setup).
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2.34 2.26)

command -v curl >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
}
for v in "${versions[@]}"; do scripts/nix-oracle.sh setup "$v" >/dev/null; done
cargo build --locked -q -p nix-ingest-binary-cache
bin=target/debug/nix-ingest-binary-cache

work=$(mktemp -d /tmp/nix-ingest-bc-e2e.XXXXXX)
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

# A signing key made by Nix; the service trusts its public half for paths without a CA.
scripts/nix-oracle.sh run --nix "${versions[0]}" nix key generate-secret --key-name e2e-1 >"$work/key.sec"
scripts/nix-oracle.sh run --nix "${versions[0]}" nix key convert-secret-to-public <"$work/key.sec" >"$work/key.pub"
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

for v in "${versions[@]}"; do
  home=$inside/home-$v
  mkdir -p "$work/home-$v"
  # A fresh HOME per version: no narinfo cache from an earlier run.
  nix() { scripts/nix-oracle.sh run --nix "$v" env HOME="$home" nix "$@"; }
  nix_store() { scripts/nix-oracle.sh run --nix "$v" env HOME="$home" nix-store "$@"; }
  echo "== Nix $(nix --version)"

  paths=()
  for compression in none xz zstd; do
    t=$work/tree-$v-$compression
    mkdir -p "$t/sub/empty"
    printf 'made for Nix %s, compression %s\n' "$v" "$compression" >"$t/file"
    head -c 300000 /dev/urandom >"$t/sub/random"
    printf '#!/bin/sh\necho hi\n' >"$t/sub/run"
    chmod +x "$t/sub/run"
    ln -s ../file "$t/sub/link"
    chmod -R go-w "$t"
    path=$(nix store add --mode git --hash-algo sha1 --name "tree-$compression" "$inside/tree-$v-$compression")
    to=$url
    [ "$compression" = xz ] || to="$url?compression=$compression"
    nix copy --to "$to" "$path" || fail "nix $v: nix copy --to $to $path was refused"
    hash=$(basename "$path" | cut -c1-32)
    [ -f "$work/cache/$hash.narinfo" ] || fail "no narinfo for $path in the cache"
    grep -qx "Compression: $compression" "$work/cache/$hash.narinfo" ||
      fail "narinfo of $path: $(cat "$work/cache/$hash.narinfo")"
    grep -q '^CA: fixed:git:sha1:' "$work/cache/$hash.narinfo" || fail "no git CA for $path"
    ok "nix $v: nix copy --to $to (git CA, compression $compression) accepted"
    paths+=("$path")
  done

  # Fetch back into fresh stores, without signatures (content addresses check out).
  nix copy --from "$url" --to "$inside/fresh-copy-$v" "${paths[@]}" ||
    fail "nix $v: nix copy --from $url"
  nix_store --store "$inside/fresh-subst-$v" --realise "${paths[@]}" \
    --option substituters "$url" >/dev/null || fail "nix $v: substitution from $url"
  nix build --no-link --store "$inside/fresh-build-$v" --substituters "$url" "${paths[@]}" ||
    fail "nix $v: nix build --substituters $url"
  for path in "${paths[@]}"; do
    c=${path##*-}
    for store in fresh-copy-$v fresh-subst-$v fresh-build-$v; do
      diff -r "$work/tree-$v-$c" "$work/$store$path" >/dev/null ||
        fail "nix $v: $store$path differs from the tree it was added from"
    done
  done
  ok "nix $v: nix copy --from, nix-store --realise and nix build --substituters fetched ${#paths[@]} paths back, identical"

  # Forgeries, made from what Nix itself writes to a file:// cache.
  t=$work/forge-$v
  mkdir -p "$t/dir"
  printf 'Hello from the forger, Nix %s\n' "$v" >"$t/dir/greeting"
  path=$(nix store add --mode git --hash-algo sha1 --name forged "$inside/forge-$v/dir")
  nix copy --to "file://$inside/forge-$v/cache?compression=none" "$path"
  hash=$(basename "$path" | cut -c1-32)
  narinfo=$t/cache/$hash.narinfo
  nar=$t/cache/$(sed -n 's/^URL: //p' "$narinfo")
  put() { curl -sS -o "$t/answer" -w '%{http_code}' -X PUT --data-binary "@$1" "$url/$2"; }
  nix32() { nix hash file --type sha256 --base32 "/host-tmp/${1#/tmp/}" 2>/dev/null; }
  expect_refused() {
    local what=$1 status=$2 file=$3
    got=$(put "$file" "$hash.narinfo")
    [ "$got" = "$status" ] || fail "nix $v: $what: HTTP $got, expected $status: $(cat "$t/answer")"
    [ ! -e "$work/cache/$hash.narinfo" ] || fail "nix $v: $what was stored"
    ok "nix $v: $what refused with $got: $(cat "$t/answer")"
  }

  # 1. A tampered NAR (one byte of the file changed), every hash in the narinfo recomputed.
  cp "$nar" "$t/tampered.nar"
  offset=$(grep -obUa 'Hello' "$t/tampered.nar" | head -n1 | cut -d: -f1)
  printf 'J' | dd of="$t/tampered.nar" bs=1 seek="$offset" conv=notrunc status=none
  th=$(nix32 "$t/tampered.nar")
  [ "$(put "$t/tampered.nar" "nar/$th.nar")" = 200 ] || fail "staging the tampered NAR: $(cat "$t/answer")"
  sed -e "s|^URL: .*|URL: nar/$th.nar|" -e "s|^FileHash: .*|FileHash: sha256:$th|" \
    -e "s|^NarHash: .*|NarHash: sha256:$th|" "$narinfo" >"$t/tampered.narinfo"
  expect_refused "a tampered NAR" 422 "$t/tampered.narinfo"

  # The genuine NAR, staged for the next two.
  fh=$(sed -n 's/^FileHash: sha256://p' "$narinfo")
  [ "$(put "$nar" "nar/$fh.nar")" = 200 ] || fail "staging the NAR: $(cat "$t/answer")"
  # 2. A wrong CA (another path's).
  other_ca=$(sed -n 's/^CA: //p' "$work/cache/$(basename "${paths[0]}" | cut -c1-32).narinfo")
  sed "s|^CA: .*|CA: $other_ca|" "$narinfo" >"$t/wrong-ca.narinfo"
  expect_refused "a wrong CA" 422 "$t/wrong-ca.narinfo"
  # 3. A NarHash that is not the NAR's.
  sed "s|^NarHash: .*|NarHash: sha256:$th|" "$narinfo" >"$t/wrong-narhash.narinfo"
  expect_refused "a mismatched NarHash" 422 "$t/wrong-narhash.narinfo"
  # 4. No CA and no signature.
  grep -v '^CA:' "$narinfo" >"$t/no-ca.narinfo"
  expect_refused "a path without CA or signature" 403 "$t/no-ca.narinfo"
  # The genuine narinfo is then accepted.
  [ "$(put "$narinfo" "$hash.narinfo")" = 200 ] || fail "the genuine narinfo: $(cat "$t/answer")"
  ok "nix $v: the genuine narinfo accepted after the forgeries"

  # A path without CA, signed by Nix with the trusted key: accepted, and real Nix fetches it only
  # when it trusts the key too.
  mkdir -p "$t/signed"
  printf 'signed, not content-addressed, Nix %s\n' "$v" >"$t/signed/file"
  path=$(nix store add --mode nar --name signed "$inside/forge-$v/signed")
  nix copy --to "file://$inside/forge-$v/signed-cache?compression=xz&secret-key=$inside/key.sec" "$path"
  hash=$(basename "$path" | cut -c1-32)
  grep -v '^CA:' "$t/signed-cache/$hash.narinfo" >"$t/signed.narinfo"
  grep -q '^Sig: e2e-1:' "$t/signed.narinfo" || fail "nix $v did not sign $path"
  file=$(sed -n 's/^URL: //p' "$t/signed.narinfo")
  [ "$(put "$t/signed-cache/$file" "$file")" = 200 ] || fail "staging the signed NAR: $(cat "$t/answer")"
  got=$(put "$t/signed.narinfo" "$hash.narinfo")
  [ "$got" = 200 ] || fail "nix $v: a signed path without CA: HTTP $got: $(cat "$t/answer")"
  ok "nix $v: a path without CA signed by the trusted key accepted: $(cat "$t/answer")"
  if nix copy --from "$url" --to "$inside/fresh-untrusting-$v" "$path" 2>/dev/null; then
    fail "nix $v took an unsigned-for-it path without CA"
  fi
  nix copy --from "$url" --to "$inside/fresh-trusting-$v" \
    --option trusted-public-keys "$(cat "$work/key.pub")" "$path" ||
    fail "nix $v: nix copy --from of the signed path"
  ok "nix $v: real Nix fetches the signed path only when it trusts the key"
done

# Nothing of the forgeries reached the cache: every NAR there belongs to a narinfo.
for n in "$work"/cache/nar/*; do
  grep -qx "URL: nar/$(basename "$n")" "$work"/cache/*.narinfo || fail "orphan NAR file $n"
done
ok "every NAR file in the cache belongs to an accepted narinfo"
peak=$(sed -n 's/^VmHWM:[ \t]*//p' "/proc/$pid/status")
echo "service peak memory (VmHWM): $peak"
grep -c '"accepted"\|accepted' "$work/service.log" >/dev/null || true
echo "$passed passed, 0 failed"
