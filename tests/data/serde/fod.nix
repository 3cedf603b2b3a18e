# Fixed-output derivations whose outputs are store objects of the private oracle store; their
# `outputHash` is given in every encoding Nix reads.
let mk = name: mode: algo: hash: derivation { inherit name; system = "x86_64-linux"; builder = "/bin/sh"; outputHashMode = mode; outputHashAlgo = algo; outputHash = hash; };
in {
  t1-nar = mk "t1" "recursive" "sha256" "sha256-MLfBLB1crQi0HH1X2L7/bb4gB4ohOLxcEZsYWkhqt2s=";
  t1-nar-sha1 = mk "t1" "nar" "sha1" "sha1:fglpidwjaq558f3ppqa2pc6d3lwl9w2y";
  t1-git = mk "t1" "git" "sha1" "f271bd966e4f70ed06c74b36b34c916a656e4fc7";
  empty-flat = mk "empty" "flat" "sha256" "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
  empty-flat-sha512 = mk "empty" "flat" "sha512" "sha512:0zdl9zrg8r3i9c1g90lgg9ip5ijzv3yhz91i0zzn3r8ap9ws784gkp9dk9j3aglhgf1amqb0pj21mh7h1nxcl18akqvvf7ggqsy30yg";
  file-flat-md5 = mk "file.txt" "flat" "md5" "md5:49y0vfajnvpfcwca68k8z47jln";
}
