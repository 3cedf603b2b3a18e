//! NAR listings: the `.ls` JSON a binary cache keeps beside a NAR.
//!
//! `nix copy --to 'file://…?write-nar-listing=1'` writes `<hash part>.ls` next to each
//! `<hash part>.narinfo`: the tree of the NAR, with each regular file's size and the offset of
//! its contents in the (uncompressed) NAR, so that `nix store ls` and `nix store cat` can read
//! one file without fetching the whole archive. Nix 2.26 and 2.34 write the same bytes:
//!
//! ```text
//! {"root":{"entries":{"bin":{"entries":{"hello":{"executable":true,"narOffset":400,"size":13,"type":"regular"}},"type":"directory"},
//!  "lib":{"target":"bin","type":"symlink"}},"type":"directory"},"version":1}
//! ```
//!
//! (one line, no spaces; members and entries sorted). [`ListingBuilder`] makes a [`Listing`] in
//! one pass over any source's [events](crate::event) — a NAR being read ([`Listing::from_nar`]),
//! a directory walked ([`Options::nar_listing`], feature `fs`) — computing each file's NAR offset
//! from the archive's grammar, without the archive's bytes. [`Tee`](crate::event::Tee) it with
//! a [`NarHasher`](super::NarHasher) to get the NAR hash in the same pass. With the `serde`
//! feature, a listing is written and read in Nix's JSON: `serde_json::to_string` gives Nix's
//! bytes.
//!
//! ```
//! use nix_ingest::nar::listing::{Listing, Node};
//! use nix_ingest::{Limits, Options};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("bin"))?;
//! std::fs::write(dir.path().join("bin/hello"), "Hello World!\n")?;
//! let mut bytes = Vec::new();
//! Options::default().dump_nar(dir.path(), &mut bytes)?;
//!
//! let listing = Listing::from_nar(&bytes[..], &Limits::default())?;
//! let Some(Node::Regular { size, nar_offset, .. }) = listing.get("bin/hello") else { panic!() };
//! assert_eq!(*size, Some(13));
//! let at = nar_offset.unwrap() as usize;
//! assert_eq!(&bytes[at..at + 13], b"Hello World!\n");
//! // With the `serde` feature, Nix's bytes:
//! # #[cfg(feature = "serde")]
//! assert_eq!(
//!     serde_json::to_string(&listing)?,
//!     r#"{"root":{"entries":{"bin":{"entries":{"hello":{"narOffset":368,"size":13,"type":"regular"}},"type":"directory"}},"type":"directory"},"version":1}"#
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where Nix differs
//!
//! - Names and symlink targets must be UTF-8: Nix's JSON library refuses to write anything else
//!   (`nix copy` fails), and the builder refuses it up front, naming the path.
//! - Nix reads a `narOffset` of 0 as none (no NAR has contents at offset 0); so does
//!   [`Listing`]'s `Deserialize`.
//! - `serde_json` stops at 128 levels of nesting unless told otherwise
//!   (`Deserializer::disable_recursion_limit`); Nix has no such limit.

// Without `fs`, links to what it adds point at the full documentation.
#![cfg_attr(
    not(feature = "fs"),
    doc = "",
    doc = "[`Options::nar_listing`]: https://docs.rs/nix-ingest/latest/nix_ingest/struct.Options.html#method.nar_listing"
)]
#![cfg_attr(
    feature = "fs",
    doc = "",
    doc = "[`Options::nar_listing`]: crate::Options::nar_listing"
)]

use std::collections::BTreeMap;

use crate::event::{Event, Sink, SinkError};

/// A NAR listing: `{"root": …, "version": 1}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listing {
    /// The archive's root object.
    pub root: Node,
}

/// One object of a [`Listing`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Node {
    /// A regular file.
    Regular {
        /// `executable` (written only when true).
        executable: bool,
        /// `size`: its length in bytes.
        size: Option<u64>,
        /// `narOffset`: where its contents start in the uncompressed NAR.
        nar_offset: Option<u64>,
    },
    /// A symbolic link.
    Symlink {
        /// `target`.
        target: String,
    },
    /// A directory.
    Directory {
        /// `entries`, by name (sorted as Nix sorts them: by bytes).
        entries: BTreeMap<String, Node>,
    },
}

impl Listing {
    /// The listing of a NAR read from `reader`, in one pass (the archive is checked as
    /// [`nar::read`](super::read) checks it).
    pub fn from_nar<R: std::io::Read>(
        reader: R,
        limits: &crate::Limits,
    ) -> Result<Listing, super::ReadError> {
        let mut builder = ListingBuilder::new();
        super::read(reader, &mut builder, limits)?;
        builder.finish().map_err(|e| super::ReadError::Io {
            offset: 0,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        })
    }

    /// The object at `path` (`/`-separated, relative to the root; `""` is the root), as
    /// `nix store ls STORE_PATH/path` finds it. Symlinks are not followed.
    pub fn get(&self, path: &str) -> Option<&Node> {
        let mut node = &self.root;
        for name in path.split('/').filter(|n| !n.is_empty()) {
            match node {
                Node::Directory { entries } => node = entries.get(name)?,
                _ => return None,
            }
        }
        Some(node)
    }
}

/// The stream ended before the root object was complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("NAR listing: {0}")]
pub struct Incomplete(&'static str);

/// A [`Sink`] that makes the [`Listing`] of the object its events describe, computing NAR
/// offsets from the archive's layout. See the [module docs](self).
#[derive(Debug, Default)]
pub struct ListingBuilder {
    /// The position in the NAR the next string would be written at.
    pos: u64,
    /// The open directories: their name in the parent and their entries so far.
    open: Vec<(Option<String>, BTreeMap<String, Node>)>,
    /// The file being read: its name, its node, its announced size and the bytes seen.
    file: Option<(Option<String>, Node, u64, u64)>,
    /// The finished root.
    root: Option<Node>,
    /// Whether the archive's header (`nix-archive-1`) is counted in `pos`.
    started: bool,
}

/// The bytes of a NAR string of `len` bytes: its length, then the bytes padded to 8.
const fn string_len(len: u64) -> u64 {
    8 + len.div_ceil(8) * 8
}

/// `string_len` of a literal.
const fn lit(s: &str) -> u64 {
    string_len(s.len() as u64)
}

impl ListingBuilder {
    /// A builder at the start of an archive.
    pub fn new() -> Self {
        ListingBuilder::default()
    }

    /// The listing, once the root object is complete.
    pub fn finish(self) -> Result<Listing, Incomplete> {
        match self.root {
            Some(root) => Ok(Listing { root }),
            None => Err(Incomplete("the stream ended before the root object")),
        }
    }

    /// The path of the open directories, for error messages.
    fn path(&self, name: Option<&str>) -> String {
        let mut p = String::new();
        for n in self
            .open
            .iter()
            .filter_map(|(n, _)| n.as_deref())
            .chain(name)
        {
            p.push('/');
            p.push_str(n);
        }
        if p.is_empty() { "/".to_owned() } else { p }
    }

    /// Starts an object: the NAR bytes before its type, and its name as UTF-8.
    fn start(&mut self, name: Option<&[u8]>) -> Result<Option<String>, SinkError> {
        if self.root.is_some() || self.file.is_some() {
            return Err(SinkError::Protocol(
                "an object after the root or inside a file",
            ));
        }
        if !self.started {
            self.started = true;
            self.pos = lit("nix-archive-1");
        }
        let name = match (name, self.open.is_empty()) {
            (None, true) => None,
            (Some(n), false) => {
                let s = std::str::from_utf8(n).map_err(|_| {
                    SinkError::Unsupported(format!(
                        "NAR listing: the name {:?} in {} is not UTF-8, which Nix's JSON cannot hold",
                        String::from_utf8_lossy(n),
                        self.path(None)
                    ))
                })?;
                // entry ( name <name> node
                self.pos += lit("entry") + lit("(") + lit("name") + string_len(n.len() as u64);
                self.pos += lit("node");
                Some(s.to_owned())
            }
            _ => return Err(SinkError::Protocol("a named root or an unnamed entry")),
        };
        // ( type
        self.pos += lit("(") + lit("type");
        Ok(name)
    }

    /// Ends an object: its `)` and, for an entry, the entry's `)`; files it in its directory.
    fn end(&mut self, name: Option<String>, node: Node) -> Result<(), SinkError> {
        self.pos += lit(")");
        match (name, self.open.last_mut()) {
            (None, None) => self.root = Some(node),
            (Some(name), Some((_, entries))) => {
                self.pos += lit(")");
                if let Some((last, _)) = entries.last_key_value()
                    && last.as_str() >= name.as_str()
                {
                    return Err(SinkError::Protocol("directory entries out of order"));
                }
                entries.insert(name, node);
            }
            _ => return Err(SinkError::Protocol("an entry outside a directory")),
        }
        Ok(())
    }
}

impl Sink for ListingBuilder {
    fn event(&mut self, event: Event<'_>) -> Result<(), SinkError> {
        match event {
            Event::DirectoryStart { name } => {
                let name = self.start(name)?;
                self.pos += lit("directory");
                self.open.push((name, BTreeMap::new()));
            }
            Event::DirectoryEnd => {
                if self.file.is_some() {
                    return Err(SinkError::Protocol("a directory end inside a file"));
                }
                let (name, entries) = self
                    .open
                    .pop()
                    .ok_or(SinkError::Protocol("a directory end without a start"))?;
                self.end(name, Node::Directory { entries })?;
            }
            Event::FileStart {
                name,
                executable,
                size,
            } => {
                let name = self.start(name)?;
                self.pos += lit("regular");
                if executable {
                    self.pos += lit("executable") + lit("");
                }
                // contents <length> <bytes padded>
                self.pos += lit("contents") + 8;
                let node = Node::Regular {
                    executable,
                    size: Some(size),
                    nar_offset: Some(self.pos),
                };
                self.pos += size.div_ceil(8) * 8;
                self.file = Some((name, node, size, 0));
            }
            Event::FileData(data) => match &mut self.file {
                Some((_, _, declared, seen)) => {
                    *seen = seen.saturating_add(data.len() as u64);
                    if *seen > *declared {
                        return Err(SinkError::SizeMismatch {
                            declared: *declared,
                            actual: *seen,
                        });
                    }
                }
                None => return Err(SinkError::Protocol("file data outside a file")),
            },
            Event::FileEnd => {
                let (name, node, declared, seen) = self
                    .file
                    .take()
                    .ok_or(SinkError::Protocol("a file end outside a file"))?;
                if seen != declared {
                    return Err(SinkError::SizeMismatch {
                        declared,
                        actual: seen,
                    });
                }
                self.end(name, node)?;
            }
            Event::Symlink { name, target } => {
                let name = self.start(name)?;
                let target_str = std::str::from_utf8(target).map_err(|_| {
                    SinkError::Unsupported(format!(
                        "NAR listing: the symlink target of {} is not UTF-8, which Nix's JSON cannot hold",
                        self.path(name.as_deref())
                    ))
                })?;
                self.pos += lit("symlink") + lit("target") + string_len(target.len() as u64);
                self.end(
                    name,
                    Node::Symlink {
                        target: target_str.to_owned(),
                    },
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
mod json {
    use std::fmt;

    use serde::de::{self, Deserializer, MapAccess, Visitor};
    use serde::ser::{SerializeMap, Serializer};
    use serde::{Deserialize, Serialize};

    use super::{Listing, Node};

    impl Serialize for Listing {
        /// `{"root": …, "version": 1}`.
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(2))?;
            map.serialize_entry("root", &self.root)?;
            map.serialize_entry("version", &1)?;
            map.end()
        }
    }

    impl Serialize for Node {
        /// As `nix store ls --json -R` writes one object: members in Nix's (sorted) order.
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(None)?;
            match self {
                Node::Regular {
                    executable,
                    size,
                    nar_offset,
                } => {
                    if *executable {
                        map.serialize_entry("executable", &true)?;
                    }
                    if let Some(o) = nar_offset {
                        map.serialize_entry("narOffset", o)?;
                    }
                    if let Some(s) = size {
                        map.serialize_entry("size", s)?;
                    }
                    map.serialize_entry("type", "regular")?;
                }
                Node::Symlink { target } => {
                    map.serialize_entry("target", target)?;
                    map.serialize_entry("type", "symlink")?;
                }
                Node::Directory { entries } => {
                    map.serialize_entry("entries", entries)?;
                    map.serialize_entry("type", "directory")?;
                }
            }
            map.end()
        }
    }

    impl<'de> Deserialize<'de> for Listing {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            #[derive(Deserialize)]
            struct Raw {
                root: Node,
                version: u32,
            }
            let raw = Raw::deserialize(deserializer)?;
            if raw.version != 1 {
                return Err(de::Error::custom(format!(
                    "unknown NAR listing version {} (known: 1)",
                    raw.version
                )));
            }
            Ok(Listing { root: raw.root })
        }
    }

    impl<'de> Deserialize<'de> for Node {
        /// Reads what Nix's `NarListing` reads: `type`, and by type `executable` (default
        /// false), `size` and `narOffset` (optional, 0 being none), `target`, or `entries`.
        /// Other members are ignored, as by Nix.
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Node;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a NAR listing object with a \"type\"")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                    let mut ty: Option<String> = None;
                    let mut executable = None;
                    let mut size = None;
                    let mut nar_offset: Option<u64> = None;
                    let mut target = None;
                    let mut entries = None;
                    while let Some(key) = map.next_key::<String>()? {
                        match key.as_str() {
                            "type" => ty = Some(map.next_value()?),
                            "executable" => executable = Some(map.next_value()?),
                            "size" => size = Some(map.next_value()?),
                            "narOffset" => nar_offset = Some(map.next_value()?),
                            "target" => target = Some(map.next_value()?),
                            "entries" => entries = Some(map.next_value()?),
                            _ => {
                                map.next_value::<de::IgnoredAny>()?;
                            }
                        }
                    }
                    match ty.as_deref() {
                        Some("regular") => Ok(Node::Regular {
                            executable: executable.unwrap_or(false),
                            size,
                            nar_offset: nar_offset.filter(|&o| o != 0),
                        }),
                        Some("symlink") => Ok(Node::Symlink {
                            target: target.ok_or_else(|| de::Error::missing_field("target"))?,
                        }),
                        Some("directory") => Ok(Node::Directory {
                            entries: entries.ok_or_else(|| de::Error::missing_field("entries"))?,
                        }),
                        Some(other) => Err(de::Error::unknown_variant(
                            other,
                            &["regular", "symlink", "directory"],
                        )),
                        None => Err(de::Error::missing_field("type")),
                    }
                }
            }
            deserializer.deserialize_map(V)
        }
    }
}
