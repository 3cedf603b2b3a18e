//! What a NAR listing (`<hash part>.ls`) must be to be kept: named for a path, parsed, and the
//! listing of the NAR this cache holds for that path (checked where a listing is uploaded, and
//! where one is replicated).

use nix_ingest::nar::listing::{Listing, Node};

use crate::names;
use crate::refusal::Refusal;

/// The largest listing accepted, in bytes of JSON.
pub const MAX_LISTING_SIZE: usize = 16 << 20;

/// The hash part of a `<hash part>.ls` name.
pub fn listing_name(name: &str) -> Option<&str> {
    let hash = name.strip_suffix(".ls")?;
    names::narinfo_hash_part(&format!("{hash}.narinfo")).ok()?;
    Some(hash)
}

/// The storage key of the listing of `hash_part`.
pub fn key(hash_part: &str) -> String {
    format!("{hash_part}.ls")
}

/// Parses `data`, given as the listing `<hash part>.ls`.
pub fn parse(hash_part: &str, data: &[u8]) -> Result<Listing, Refusal> {
    serde_json::from_slice(data)
        .map_err(|e| Refusal::bad_request(format!("{hash_part}.ls is not a NAR listing: {e}")))
}

/// Checks `claimed`, given as the listing of the path `printed` (hash part `hash_part`), against
/// `ours`, the listing of the NAR this cache holds for that path: what to keep if they match
/// (`ours` in Nix's JSON), 422 naming the first difference if not.
pub fn matching(
    hash_part: &str,
    printed: &str,
    claimed: &Listing,
    ours: &Listing,
) -> Result<Vec<u8>, Refusal> {
    if let Some(difference) = difference("", &claimed.root, &ours.root) {
        return Err(Refusal::unverified(format!(
            "{hash_part}.ls does not list the NAR of {printed}: {difference}"
        )));
    }
    serde_json::to_vec(ours).map_err(|e| Refusal::internal("cannot write the listing", &e))
}

/// The first place where `claimed` and `actual` differ, named by its path.
fn difference(path: &str, claimed: &Node, actual: &Node) -> Option<String> {
    let at = if path.is_empty() { "/" } else { path };
    match (claimed, actual) {
        (Node::Directory { entries: a }, Node::Directory { entries: b }) => {
            for name in a.keys().chain(b.keys()) {
                let child = format!("{path}/{name}");
                match (a.get(name), b.get(name)) {
                    (Some(x), Some(y)) => {
                        if let Some(d) = difference(&child, x, y) {
                            return Some(d);
                        }
                    }
                    (Some(_), None) => return Some(format!("{child:?} is not in the NAR")),
                    (None, _) => return Some(format!("{child:?} of the NAR is missing")),
                }
            }
            None
        }
        _ if claimed == actual => None,
        _ => Some(format!(
            "{at:?} is listed as {}, the NAR has {}",
            describe(claimed),
            describe(actual)
        )),
    }
}

fn describe(node: &Node) -> String {
    match node {
        Node::Regular {
            executable,
            size,
            nar_offset,
        } => format!(
            "a{} file of {} bytes at NAR offset {}",
            if *executable { "n executable" } else { "" },
            size.map_or("?".to_owned(), |s| s.to_string()),
            nar_offset.map_or("?".to_owned(), |s| s.to_string())
        ),
        Node::Symlink { target } => format!("a symlink to {target:?}"),
        Node::Directory { .. } => "a directory".to_owned(),
        _ => "an unknown object".to_owned(),
    }
}
