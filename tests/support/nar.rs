//! A NAR token encoder for building archives by hand, well-formed or hostile: each string is
//! its 64-bit little-endian length, its bytes and zero padding to 8 bytes.
#![allow(dead_code)]

/// An archive being built.
#[derive(Debug, Clone, Default)]
pub struct Nar(pub Vec<u8>);

impl Nar {
    /// Nothing yet.
    pub fn new() -> Self {
        Nar(Vec::new())
    }

    /// Starts with the magic string `nix-archive-1`.
    pub fn magic() -> Self {
        let mut n = Nar::new();
        n.s(b"nix-archive-1");
        n
    }

    /// Appends one string.
    pub fn s(&mut self, s: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(s.len() as u64).to_le_bytes());
        self.0.extend_from_slice(s);
        self.0.resize(self.0.len().div_ceil(8) * 8, 0);
        self
    }

    /// Appends several strings.
    pub fn ss(&mut self, strings: &[&[u8]]) -> &mut Self {
        for s in strings {
            self.s(s);
        }
        self
    }

    /// Appends raw bytes (a bare length, bad padding, garbage).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }

    /// `entry ( name NAME node` — the caller appends the node and `)` `)`.
    pub fn entry(&mut self, name: &[u8]) -> &mut Self {
        self.ss(&[b"entry", b"(", b"name", name, b"node"])
    }

    /// A regular file node.
    pub fn file(&mut self, contents: &[u8], executable: bool) -> &mut Self {
        self.ss(&[b"(", b"type", b"regular"]);
        if executable {
            self.ss(&[b"executable", b""]);
        }
        self.ss(&[b"contents", contents, b")"])
    }

    /// A symlink node.
    pub fn symlink(&mut self, target: &[u8]) -> &mut Self {
        self.ss(&[b"(", b"type", b"symlink", b"target", target, b")"])
    }

    /// The bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.clone()
    }
}
