//! NAR bytes built string by string, for malformed and hostile archives whose every byte offset
//! a test knows.

/// Builds NAR bytes token by token: a string is its length (64-bit little-endian), its bytes and
/// zero padding to a multiple of 8, as the NAR format says. [`NarBytes::pos`] gives the offset of
/// the next byte, so a test can note where a refusal must point.
///
/// ```
/// use nix_ingest_test_support::NarBytes;
///
/// let mut nar = NarBytes::magic();
/// assert_eq!(nar.pos(), 24); // 8 (length) + 13 ("nix-archive-1") + 3 (padding)
/// nar.ss(&[b"(", b"type", b"regular", b"contents"]).s(b"hi").s(b")");
/// assert_eq!(nar.bytes().len() % 8, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NarBytes(Vec<u8>);

impl NarBytes {
    /// No bytes yet.
    pub fn new() -> Self {
        NarBytes(Vec::new())
    }

    /// Just the magic string `nix-archive-1`.
    pub fn magic() -> Self {
        let mut n = NarBytes::new();
        n.s(b"nix-archive-1");
        n
    }

    /// The magic and the head of a root directory: `( type directory`.
    pub fn root_dir() -> Self {
        let mut n = NarBytes::magic();
        n.ss(&[b"(", b"type", b"directory"]);
        n
    }

    /// The strings `tokens`, from nothing (no magic added).
    pub fn of(tokens: &[&[u8]]) -> Vec<u8> {
        let mut n = NarBytes::new();
        n.ss(tokens);
        n.0
    }

    /// The offset of the next byte.
    pub fn pos(&self) -> u64 {
        self.0.len() as u64
    }

    /// A string: length, bytes, zero padding to 8.
    pub fn s(&mut self, s: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(s.len() as u64).to_le_bytes());
        self.0.extend_from_slice(s);
        self.0.resize(self.0.len().next_multiple_of(8), 0);
        self
    }

    /// Several strings.
    pub fn ss(&mut self, strings: &[&[u8]]) -> &mut Self {
        for s in strings {
            self.s(s);
        }
        self
    }

    /// A bare 64-bit length field, with nothing after it.
    pub fn n(&mut self, n: u64) -> &mut Self {
        self.0.extend_from_slice(&n.to_le_bytes());
        self
    }

    /// Bytes as they are.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }

    /// An entry holding a symlink `name -> x`.
    pub fn link_entry(&mut self, name: &[u8]) -> &mut Self {
        self.ss(&[b"entry", b"(", b"name", name, b"node"]);
        self.ss(&[b"(", b"type", b"symlink", b"target", b"x", b")", b")"])
    }

    /// The bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes so far, to corrupt in place.
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    /// The bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}
