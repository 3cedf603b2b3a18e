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
# Uploads need credentials (--auth-file, an Argon2 hash): Nix sends them from a netrc file, and
# without them (or with a wrong password) `nix copy --to` is refused with 401 and nothing is kept.
# The cache signs what it accepts (--signing-key, a key made by Nix): a fresh store with
# require-sigs and only the cache's public key substitutes a CA path and a signed input-addressed
# path. A genuine `nix copy --to` goes through while authenticated attackers announce 8 GiB
# bodies and send one byte, and another trickles a byte a second.
# Needs root (the chroots) and the oracle chroots (scripts/nix-oracle.sh setup).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/binary-cache-lib.sh
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2.34 2.26)

command -v curl >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
}
for v in "${versions[@]}"; do scripts/nix-oracle.sh setup "$v" >/dev/null; done
cargo build --locked -q -p nix-ingest-binary-cache
bin=${CARGO_TARGET_DIR:-target}/debug/nix-ingest-binary-cache

work=$(mktemp -d /tmp/nix-ingest-bc-e2e.XXXXXX)
inside=/host-tmp/${work#/tmp/}
pid=
cleanup() {
  bc_stop "$pid"
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [ ! -f "$work/service.log" ] || tail -n 20 "$work/service.log" >&2; exit 1; }
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }

# A signing key made by Nix; the service trusts its public half for paths without a CA.
scripts/nix-oracle.sh run --nix "${versions[0]}" nix key generate-secret --key-name e2e-1 >"$work/key.sec"
scripts/nix-oracle.sh run --nix "${versions[0]}" nix key convert-secret-to-public <"$work/key.sec" >"$work/key.pub"
# The cache's own key, also made by Nix: it signs every path the cache accepts.
scripts/nix-oracle.sh run --nix "${versions[0]}" nix key generate-secret --key-name e2e-cache-1 >"$work/cache.sec"
scripts/nix-oracle.sh run --nix "${versions[0]}" nix key convert-secret-to-public <"$work/cache.sec" >"$work/cache.pub"
# The uploader: an Argon2 hash in the auth file, the password in Nix's netrc file.
password="e2e-$RANDOM-$RANDOM"
printf '%s\n' "$password" | "$bin" hash-password >"$work/hash"
printf 'alice:%s\n' "$(cat "$work/hash")" >"$work/users"
printf 'machine 127.0.0.1 login alice password %s\n' "$password" >"$work/netrc"
printf 'machine 127.0.0.1 login alice password wrong-%s\n' "$password" >"$work/netrc-wrong"
auth=(-u "alice:$password")
if ! bc_start "$work/service.log" "$bin" --dir "$work/cache" --trusted-public-key "$(cat "$work/key.pub")" \
  --auth-file "$work/users" --signing-key "$work/cache.sec" --request-timeout 30; then
  pid=$BC_PID
  fail "the service did not start"
fi
pid=$BC_PID port=$BC_PORT
url=http://127.0.0.1:$port

for v in "${versions[@]}"; do
  home=$inside/home-$v
  mkdir -p "$work/home-$v"
  # A fresh HOME per version: no narinfo cache from an earlier run.
  nix() { scripts/nix-oracle.sh run --nix "$v" env HOME="$home" nix --option netrc-file "$inside/netrc" "$@"; }
  nix_anon() { scripts/nix-oracle.sh run --nix "$v" env HOME="$home" nix "$@"; }
  nix_store() { scripts/nix-oracle.sh run --nix "$v" env HOME="$home" nix-store "$@"; }
  echo "== Nix $(nix --version)"

  # Without credentials, or with a wrong password: refused, nothing kept.
  t=$work/anon-$v
  mkdir -p "$t"
  printf 'uploaded without credentials, Nix %s\n' "$v" >"$t/file"
  path=$(nix store add --mode git --hash-algo sha1 --name anon "$inside/anon-$v")
  hash=$(basename "$path" | cut -c1-32)
  staged_before=$(find "$work/cache/.staging" -maxdepth 1 -type f | wc -l)
  if nix_anon copy --to "$url" "$path" 2>"$t/err"; then fail "nix $v: nix copy --to without credentials succeeded"; fi
  if nix_anon copy --option netrc-file "$inside/netrc-wrong" --to "$url" "$path" 2>>"$t/err"; then
    fail "nix $v: nix copy --to with a wrong password succeeded"
  fi
  grep -q '401' "$t/err" || fail "nix $v: no 401 in: $(cat "$t/err")"
  [ ! -e "$work/cache/$hash.narinfo" ] || fail "nix $v: an upload without credentials was stored"
  [ "$(find "$work/cache/.staging" -maxdepth 1 -type f | wc -l)" = "$staged_before" ] ||
    fail "nix $v: an upload without credentials was staged"
  grep -q 'user=alice status=401' "$work/service.log" || fail "nix $v: the refusal does not name the user"
  ok "nix $v: nix copy --to without credentials or with a wrong password refused (401), nothing kept"

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
  put() { curl -sS "${auth[@]}" -o "$t/answer" -w '%{http_code}' -X PUT --data-binary "@$1" "$url/$2"; }
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

  # require-sigs with only the cache's key: the cache's signature is enough, for the signed
  # input-addressed path and for a CA path.
  grep -q '^Sig: e2e-cache-1:' "$work/cache/$hash.narinfo" || fail "nix $v: the cache did not sign $path"
  for how in copy realise; do
    store=$inside/fresh-cache-key-$how-$v
    if [ $how = copy ]; then
      nix copy --from "$url" --to "$store" --option require-sigs true \
        --option trusted-public-keys "$(cat "$work/cache.pub")" "$path" "${paths[0]}" ||
        fail "nix $v: nix copy --from with only the cache's key"
    else
      nix_store --store "$store" --realise "$path" "${paths[0]}" --option substituters "$url" \
        --option require-sigs true --option trusted-public-keys "$(cat "$work/cache.pub")" >/dev/null ||
        fail "nix $v: substitution with only the cache's key"
    fi
    diff -r "$t/signed" "/tmp/${store#/host-tmp/}$path" >/dev/null || fail "nix $v: $how: $path differs"
  done
  ok "nix $v: require-sigs with only the cache's public key: nix copy --from and substitution of a signed and a CA path"

  # Attackers with credentials announce 8 GiB and send one byte, or trickle a byte a second;
  # a genuine nix copy goes through meanwhile.
  attackers=()
  for i in 1 2; do
    (
      exec 3<>"/dev/tcp/127.0.0.1/$port"
      printf 'PUT /nar/%s.nar HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Length: 8589934592\r\n\r\nx' \
        "$(printf '%052d' "$i")" "$(printf 'alice:%s' "$password" | base64 -w0)" >&3
      read -r -t 60 <&3 || true
    ) &
    attackers+=($!)
  done
  (
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'PUT /nar/%s.nar HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Length: 100000\r\n\r\n' \
      "$(printf '%052d' 3)" "$(printf 'alice:%s' "$password" | base64 -w0)" >&3
    for _ in $(seq 60); do printf x >&3 2>/dev/null || break; sleep 1; done
  ) &
  attackers+=($!)
  sleep 1
  mkdir -p "$t/genuine"
  head -c 200000 /dev/urandom >"$t/genuine/data"
  path=$(nix store add --mode git --hash-algo sha1 --name genuine "$inside/forge-$v/genuine")
  started=$SECONDS
  timeout 120 scripts/nix-oracle.sh run --nix "$v" env HOME="$home" nix --option netrc-file "$inside/netrc" \
    copy --to "$url" "$path" || fail "nix $v: a genuine upload during the attacks failed"
  [ -f "$work/cache/$(basename "$path" | cut -c1-32).narinfo" ] || fail "nix $v: the genuine upload was not kept"
  ok "nix $v: a genuine nix copy --to went through in $((SECONDS - started)) s while attackers held fake 8 GiB and trickling uploads"
  kill "${attackers[@]}" 2>/dev/null || true
  wait "${attackers[@]}" 2>/dev/null || true
done

# Nothing of the forgeries reached the cache: every NAR there belongs to a narinfo.
for n in "$work"/cache/nar/*; do
  grep -qx "URL: nar/$(basename "$n")" "$work"/cache/*.narinfo || fail "orphan NAR file $n"
done
ok "every NAR file in the cache belongs to an accepted narinfo"
# Garbage collection with a size budget while Nix uploads a new closure (a tree and a text path
# that refers to it): old paths go, the new closure stays whole, and no narinfo ever names a
# missing NAR file or reference.
closed() {
  local f url r
  for f in "$work"/cache/*.narinfo; do
    [ -e "$f" ] || continue
    url=$(sed -n 's/^URL: //p' "$f" 2>/dev/null) || continue
    [ -n "$url" ] || continue # removed while read
    [ -e "$f" ] || continue
    [ -e "$work/cache/$url" ] || { [ ! -e "$f" ] && continue; fail "gc: $f names a missing $url"; }
    for r in $(sed -n 's/^References: //p' "$f"); do
      [ -e "$work/cache/${r:0:32}.narinfo" ] || { [ ! -e "$f" ] && continue; fail "gc: $f refers to a missing $r"; }
    done
  done
}
v=${versions[0]}
home=$inside/home-$v
nix() { scripts/nix-oracle.sh run --nix "$v" env HOME="$home" nix --option netrc-file "$inside/netrc" "$@"; }
before=$(ls "$work"/cache/*.narinfo | wc -l)
touch -m -d '30 days ago' "$work"/cache/*.narinfo
mkdir -p "$work/gc-tree"
head -c 100000 /dev/urandom >"$work/gc-tree/data"
tree=$(nix store add --mode git --hash-algo sha1 --name gc-tree "$inside/gc-tree")
user=$(nix eval --raw --impure --expr "builtins.toFile \"gc-user\" \"uses \${builtins.storePath \"$tree\"}\"")
budget=400000
nix copy --to "$url" "$user" >"$work/gc-copy.log" 2>&1 &
copier=$!
collections=0
while kill -0 "$copier" 2>/dev/null; do
  "$bin" gc --dir "$work/cache" --max-size "$budget" >>"$work/gc.log" || fail "gc failed: $(tail -n 3 "$work/gc.log")"
  closed
  collections=$((collections + 1))
done
wait "$copier" || fail "nix copy --to during gc: $(cat "$work/gc-copy.log")"
"$bin" gc --dir "$work/cache" --max-size "$budget" >>"$work/gc.log" || fail "gc failed"
closed
after=$(ls "$work"/cache/*.narinfo | wc -l)
for p in "$tree" "$user"; do
  [ -f "$work/cache/$(basename "$p" | cut -c1-32).narinfo" ] || fail "gc removed the new $p"
done
[ "$after" -lt "$before" ] || fail "gc removed nothing ($before narinfos before, $after after)"
total=$(cat "$work"/cache/*.narinfo | wc -c)
for n in "$work"/cache/nar/*; do total=$((total + $(stat -c %s "$n"))); done
[ "$total" -le "$budget" ] || fail "gc left $total bytes, over the budget of $budget"
nix copy --from "$url" --to "$inside/fresh-after-gc" "$user" || fail "nix $v: nix copy --from after gc"
ok "gc --max-size $budget ($collections runs during nix copy --to, one after): $before narinfos before, $after after ($total bytes), the new closure whole and fetched back by Nix $v"

grep -q 'user=alice' "$work/service.log" || fail "accepted uploads do not name their user in the log"
ok "the log names the uploader"
peak=$(sed -n 's/^VmHWM:[ \t]*//p' "/proc/$pid/status")
echo "service peak memory (VmHWM): $peak"
grep -c '"accepted"\|accepted' "$work/service.log" >/dev/null || true
echo "$passed passed, 0 failed"
