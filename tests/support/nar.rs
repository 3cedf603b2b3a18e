//! A NAR token encoder for tests: archives built string by string, valid or not, remembering
//! where each string starts (the offsets errors must name).
#![allow(dead_code)]

/// An archive under construction.
#[derive(Debug, Clone, Default)]
pub struct Nar {
    pub bytes: Vec<u8>,
}

impl Nar {
    /// Nothing yet, not even the magic.
    pub fn empty() -> Self {
        Nar::default()
    }

    /// Just the magic string `nix-archive-1`.
    pub fn magic() -> Self {
        let mut n = Nar::default();
        n.s(b"nix-archive-1");
        n
    }

    /// The offset of the next byte.
    pub fn pos(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Appends a string (64-bit little-endian length, bytes, zero padding to 8) and returns
    /// where it starts.
    pub fn s(&mut self, s: &[u8]) -> u64 {
        let at = self.pos();
        self.bytes
            .extend_from_slice(&(s.len() as u64).to_le_bytes());
        self.bytes.extend_from_slice(s);
        self.bytes.resize(self.bytes.len().next_multiple_of(8), 0);
        at
    }

    /// Appends several strings and returns where the first starts.
    pub fn ss(&mut self, strings: &[&[u8]]) -> u64 {
        let at = self.pos();
        for s in strings {
            self.s(s);
        }
        at
    }

    /// Appends a bare length field and returns where it starts.
    pub fn len_field(&mut self, len: u64) -> u64 {
        let at = self.pos();
        self.bytes.extend_from_slice(&len.to_le_bytes());
        at
    }

    /// Appends raw bytes and returns where they start.
    pub fn raw(&mut self, bytes: &[u8]) -> u64 {
        let at = self.pos();
        self.bytes.extend_from_slice(bytes);
        at
    }

    /// A regular file node `( type regular [executable ""] contents <data> )`.
    pub fn file(&mut self, executable: bool, data: &[u8]) -> &mut Self {
        self.ss(&[b"(", b"type", b"regular"]);
        if executable {
            self.ss(&[b"executable", b""]);
        }
        self.ss(&[b"contents", data, b")"]);
        self
    }

    /// A symlink node `( type symlink target <target> )`.
    pub fn symlink(&mut self, target: &[u8]) -> &mut Self {
        self.ss(&[b"(", b"type", b"symlink", b"target", target, b")"]);
        self
    }

    /// Opens a directory node: `( type directory`.
    pub fn dir_open(&mut self) -> &mut Self {
        self.ss(&[b"(", b"type", b"directory"]);
        self
    }

    /// Opens an entry: `entry ( name <name> node`; its node follows.
    pub fn entry(&mut self, name: &[u8]) -> &mut Self {
        self.ss(&[b"entry", b"(", b"name", name, b"node"]);
        self
    }

    /// `)`: closes a node or an entry.
    pub fn close(&mut self) -> &mut Self {
        self.s(b")");
        self
    }

    /// `levels` directories nested as the single entry `d` of their parent (the root counts),
    /// the innermost holding `leaf` (written by the closure as the innermost's entries, if any),
    /// all closed.
    pub fn chain(levels: usize, leaf: impl FnOnce(&mut Nar)) -> Nar {
        let mut n = Nar::magic();
        for level in 0..levels {
            if level > 0 {
                n.entry(b"d");
            }
            n.dir_open();
        }
        leaf(&mut n);
        for level in 0..levels {
            n.close();
            if level + 1 < levels {
                n.close();
            }
        }
        n
    }
}
