#!/usr/bin/env bash
# Regenerates the golden data of tests/formats.rs from real Nix: 2.26.3 (the trixie chroot of
# scripts/nix-oracle.sh) into 2.26/, and 2.34.8 (the sid chroot) into 2.34/.
#
#   tests/data/formats/gen.sh
#
# For each Nix, in the oracle's private store:
# - adds a tree with awkward names (quotes, a backslash, a control character, non-ASCII, spaces),
#   an executable, an empty file, an empty directory and symlinks (`nix store add --mode nar`), a
#   flat file, and a text with a reference;
# - builds a content-addressed derivation (`__contentAddressed = true`) that refers to the tree;
#   builds sign with key.sec (secret-key-files), and `nix store sign` signs the added paths;
# - copies everything, the derivation output as `DRV^out`, into a binary cache with
#   `nix copy --to 'file://…?compression=none&write-nar-listing=1'`, and keeps what Nix wrote:
#   `*.narinfo`, `*.ls` (NAR listings), `realisations/*.doi`, `nar/*.nar`;
# - keeps `nix path-info --json` of the local store and of the cache (2.34: `--json-format 1`
#   and `2`; 2.26: `--json`), `nix store ls --json -R` from the cache (read through the `.ls`
#   listings) and `nix nar ls --json -R` of each NAR (Nix's own listing of the NAR itself).
#
# key.sec/key.pub are a throwaway test key made here with `nix key generate-secret`.
# Builds need a pseudo-terminal, so each build mounts a private devpts inside the oracle's
# private mount namespace (gone when the command ends). Needs root (the oracles are chroots).
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=tests/data/formats
T=$(mktemp -d /tmp/nix-ingest-fmt.XXXXXX)
trap 'rm -rf "$T"' EXIT
H=/host-tmp/${T#/tmp/}

# The objects (the same bytes for both versions).
S=$T/src
mkdir -p "$S/tree/dir/sub" "$S/tree/empty-dir" "$S/tree/odd"
printf 'Hello World!\n' > "$S/tree/foo"
printf '#!/bin/sh\necho hi\n' > "$S/tree/exe"; chmod 755 "$S/tree/exe"
: > "$S/tree/empty"
ln -s foo "$S/tree/link"
ln -s '../foo' "$S/tree/dir/up"
ln -s '/nix/store/does-not-exist "quoted"' "$S/tree/dir/abs"
printf 'deep\n' > "$S/tree/dir/sub/deep"
printf 'q' > "$S/tree/odd/a\"b"
printf 'b' > "$S/tree/odd/back\\slash"
printf 'c' > "$S/tree/odd/ctl$(printf '\001')x"
printf 'd' > "$S/tree/odd/é ü"
printf 'e' > "$S/tree/odd/tab$(printf '\t')x"
printf 'f' > "$S/tree/odd/del$(printf '\177')x"
printf 'hello\n' > "$S/hello"
cat > "$S/ca.nix" <<'NIX'
{ tree }:
derivation {
  name = "ca-out";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "/bin/mkdir $out; echo built > $out/file; /bin/ln -s ${tree} $out/tree" ];
  __contentAddressed = true;
  outputHashMode = "recursive";
  outputHashAlgo = "sha256";
}
NIX
chmod -R go-w "$S"

gen() {
  local ver=$1
  local D=$OUT/$ver
  export NIX_ORACLE_EXTRA_CONFIG="extra-experimental-features = ca-derivations
sandbox = false
substituters =
secret-key-files = $H/key.sec"
  local O=(scripts/nix-oracle.sh run --nix "$ver")
  rm -rf "$D"; mkdir -p "$D"
  local tree flat text drv out
  tree=$("${O[@]}" nix store add --mode nar --hash-algo sha256 "$H/src/tree")
  flat=$("${O[@]}" nix store add --mode flat --hash-algo sha256 "$H/src/hello")
  text=$("${O[@]}" nix eval --raw --expr 'builtins.toFile "refs" "see ${builtins.toFile "a" "a"}"')
  drv=$("${O[@]}" nix eval --impure --raw --expr "(import $H/src/ca.nix { tree = builtins.storePath \"$tree\"; }).drvPath")
  out=$("${O[@]}" sh -c 'mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts &&
    mount --bind /dev/pts/ptmx /dev/ptmx && nix build --no-link --print-out-paths "$1^out"' sh "$drv")
  "${O[@]}" nix store sign --key-file "$H/key.sec" "$tree" "$flat" "$text"
  local paths=("$tree" "$flat" "$text" "$out")
  printf '%s\n' "${paths[@]}" > "$D/paths.txt"
  printf '%s\n' "$drv" > "$D/drv.txt"
  local url="file://$H/cache-$ver?compression=none&write-nar-listing=1"
  "${O[@]}" nix copy --to "$url" "$tree" "$flat" "$text" "$drv^out" 2>/dev/null
  mkdir -p "$D/cache"
  (cd "$T/cache-$ver" && tar cf - ./*.narinfo ./*.ls nix-cache-info nar realisations) | tar xf - -C "$D/cache"
  local cache="file://$H/cache-$ver"
  if [ "$ver" = 2.34 ]; then
    for f in 1 2; do
      "${O[@]}" nix path-info --json --json-format "$f" "${paths[@]}" > "$D/path-info-format-$f.json"
      "${O[@]}" nix path-info --json --json-format "$f" --store "$cache" "${paths[@]}" > "$D/path-info-cache-format-$f.json"
    done
  else
    "${O[@]}" nix path-info --json "${paths[@]}" > "$D/path-info.json"
    "${O[@]}" nix path-info --json --store "$cache" "${paths[@]}" > "$D/path-info-cache.json"
  fi
  local p
  for p in "$tree" "$flat" "$out"; do
    local base=${p#/nix/store/}
    "${O[@]}" nix store ls --json -R --store "$cache" "$p" > "$D/store-ls-$base.json"
    "${O[@]}" nix store ls --json -R --store "$cache" "$p/" > "$D/store-ls-slash-$base.json" 2>/dev/null || rm -f "$D/store-ls-slash-$base.json"
  done
  local nar
  for nar in "$D"/cache/nar/*.nar; do
    "${O[@]}" nix nar ls --json -R "$H/cache-$ver/nar/$(basename "$nar")" / > "$D/nar-ls-$(basename "$nar" .nar).json"
  done
  "${O[@]}" nix --version > "$D/nix-version.txt"
}

mkdir -p "$OUT"
if [ ! -f "$OUT/key.sec" ]; then
  scripts/nix-oracle.sh run nix key generate-secret --key-name nix-ingest-test-1 > "$OUT/key.sec"
fi
scripts/nix-oracle.sh run nix key convert-secret-to-public < "$OUT/key.sec" > "$OUT/key.pub"
cp "$OUT/key.sec" "$T/key.sec"
gen 2.34
gen 2.26
