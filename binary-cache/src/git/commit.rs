//! A store path's commit: its message (store path, root, narinfo), encoded and read back.

use super::*;

/// A store path's commit, read back.
#[derive(Debug, Clone)]
pub struct PathCommit {
    /// The commit.
    pub id: Hash,
    /// Its tree.
    pub tree: Hash,
    /// Its parents.
    pub parents: Vec<Hash>,
    /// What the root is.
    pub mode: Mode,
    /// The root's git id (the tree itself for a directory).
    pub root: Hash,
    /// The narinfo the cache serves.
    pub narinfo: String,
    /// The store path as printed (the message's first line).
    pub printed: String,
}

/// The message of a path's commit.
pub(super) fn message(printed: &str, mode: Mode, root: &Hash, narinfo: &str) -> String {
    format!(
        "{printed}\nRoot: {} {}\n\n{narinfo}",
        kind_name(mode),
        hex(root)
    )
}

/// The body of a path's commit.
pub(super) fn commit_body(tree: &Hash, parents: &[Hash], message: &str) -> Vec<u8> {
    let mut body = format!("tree {}\n", hex(tree));
    for p in parents {
        body.push_str(&format!("parent {}\n", hex(p)));
    }
    body.push_str(&format!("author {IDENT}\ncommitter {IDENT}\n\n{message}"));
    body.into_bytes()
}

/// The tree a root that is a file or symlink is wrapped in: one entry named `base_name`.
pub(super) fn wrapper_tree(
    algorithm: Algorithm,
    base_name: &str,
    mode: Mode,
    root: &Hash,
) -> (Hash, Vec<u8>) {
    let mut entries = [TreeEntry {
        mode,
        name: base_name.as_bytes().to_vec(),
        id: *root,
    }];
    let body = encode_tree(&mut entries);
    (object_id(algorithm, ObjectKind::Tree, &body), body)
}

pub(super) fn parse_commit(algorithm: Algorithm, id: Hash, body: &[u8]) -> io::Result<PathCommit> {
    let text =
        std::str::from_utf8(body).map_err(|_| bad(format!("commit {} is not UTF-8", hex(&id))))?;
    let (headers, message) = text
        .split_once("\n\n")
        .ok_or_else(|| bad(format!("commit {} has no message", hex(&id))))?;
    let parse_id = |s: &str| {
        Hash::parse_unprefixed(s, algorithm)
            .map_err(|e| bad(format!("commit {}: bad id {s:?}: {e}", hex(&id))))
    };
    let mut tree = None;
    let mut parents = Vec::new();
    for line in headers.lines() {
        if let Some(t) = line.strip_prefix("tree ") {
            tree = Some(parse_id(t)?);
        } else if let Some(p) = line.strip_prefix("parent ") {
            parents.push(parse_id(p)?);
        }
    }
    let tree = tree.ok_or_else(|| bad(format!("commit {} has no tree", hex(&id))))?;
    let not_ours = || bad(format!("commit {} is not a store path's commit", hex(&id)));
    let (head, narinfo) = message.split_once("\n\n").ok_or_else(not_ours)?;
    let (printed, root_line) = head.split_once('\n').ok_or_else(not_ours)?;
    let (kind, root) = root_line
        .strip_prefix("Root: ")
        .and_then(|r| r.split_once(' '))
        .ok_or_else(not_ours)?;
    let mode = kind_of(kind).ok_or_else(not_ours)?;
    Ok(PathCommit {
        id,
        tree,
        parents,
        mode,
        root: parse_id(root)?,
        narinfo: narinfo.to_owned(),
        printed: printed.to_owned(),
    })
}
