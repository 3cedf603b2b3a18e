//! Honest errors: no error's `Display` repeats its `source()`, so `anyhow`'s `{:#}` prints every
//! cause once; echoed input is escaped; hints where a user likely erred.
#![cfg(feature = "fs")]

use std::error::Error as StdError;
use std::io::{self, Read};

use nix_ingest::Want;
use nix_ingest::event::Recorder;
use nix_ingest::verify::{self, Claim};
use nix_ingest::{Algorithm, ContentAddress, FileIngestionMethod, Options, StoreDir, nar};

/// Checks the property on every link of `e`'s chain, and that `{:#}` through anyhow prints each
/// cause's own text exactly once.
fn check(e: anyhow::Error) -> String {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(e.as_ref());
    let mut links = Vec::new();
    while let Some(c) = cause {
        if let Some(s) = c.source() {
            let (outer, inner) = (c.to_string(), s.to_string());
            assert!(
                !outer.contains(&inner),
                "{outer:?} repeats its source {inner:?}"
            );
        }
        links.push(c.to_string());
        cause = c.source();
    }
    let all = format!("{e:#}");
    for link in &links {
        assert_eq!(all.matches(link.as_str()).count(), 1, "{link:?} in {all:?}");
    }
    all
}

struct Failing;

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other("the disk is on fire"))
    }
}

#[test]
fn every_cause_once() {
    let missing = std::path::Path::new("/nonexistent/nix-ingest-test");
    for threads in [0, 1] {
        let e = Options::new()
            .threads(threads)
            .hash_path(
                missing,
                Want::new(FileIngestionMethod::Git, Algorithm::Sha1),
            )
            .unwrap_err();
        let text = check(e.into());
        assert_eq!(
            text.matches("No such file or directory").count(),
            1,
            "{text}"
        );
    }
    let e = nix_ingest::fs::dump(
        missing,
        &mut Recorder::default(),
        &nix_ingest::Settings::default(),
    )
    .unwrap_err();
    check(e.into());

    let e = nar::read(
        Failing,
        &mut Recorder::default(),
        &nix_ingest::Limits::default(),
    )
    .unwrap_err();
    let text = check(e.into());
    assert!(text.contains("the disk is on fire"), "{text}");
    let e = nix_ingest::Options::default()
        .hash_nar(
            Failing,
            Want::new(FileIngestionMethod::Nar, Algorithm::Sha256),
        )
        .unwrap_err();
    check(e.into());

    let ca: ContentAddress = "fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
        .parse()
        .unwrap();
    let e = verify::verify_nar(
        &b"nix-archive-1"[..],
        &Claim::new("x", ca),
        &StoreDir::default(),
        &Options::default(),
    )
    .unwrap_err();
    check(e.into());

    let e = "fixed:sha256:not-a-hash"
        .parse::<ContentAddress>()
        .unwrap_err();
    check(e.into());
    let e = StoreDir::default()
        .parse_path("/nix/store/tooshort")
        .unwrap_err();
    check(e.into());
}

#[test]
fn echoed_input_is_escaped() {
    let e = "fixed:git:sha1:abc\n"
        .parse::<ContentAddress>()
        .unwrap_err();
    let text = check(e.into());
    assert!(text.contains("\\n"), "{text}");
    assert!(!text.contains('\n'), "{text}");
}

#[test]
fn recursive_names_the_prefix() {
    let e = "fixed:recursive:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
        .parse::<ContentAddress>()
        .unwrap_err();
    let text = check(e.into());
    assert!(text.contains("'r:'"), "{text}");
}

/// The error types of the other modules, each triggered once and formatted through anyhow.
#[test]
fn every_module_s_errors_print_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");

    // A narinfo line that is not a store path names the line.
    let e =
        nix_ingest::NarInfo::parse("StorePath: not-a-path\n", &StoreDir::default()).unwrap_err();
    let text = check(e.into());
    assert!(text.contains("line 1"), "{text}");

    // A nix32 digest with a character nix32 lacks names it and its position.
    let e = nix_ingest::Hash::parse("sha1:0000e000000000000000000000000000").unwrap_err();
    let text = check(e.into());
    assert!(text.contains("'e' at position 4"), "{text}");

    // Unpacking a NAR from a failing reader, and into a target that exists.
    let e = Options::default()
        .unpack_nar(Failing, &missing)
        .unwrap_err();
    let text = check(e.into());
    assert!(text.contains("the disk is on fire"), "{text}");
    let e = Options::default()
        .unpack_nar(&b""[..], dir.path())
        .unwrap_err();
    check(e.into());

    // Path info of a NAR that fails half-way, and of a path that is not there.
    let request =
        nix_ingest::path_info::Request::new("x", FileIngestionMethod::Git, Algorithm::Sha1);
    let e = request.from_nar(Failing, &Options::default()).unwrap_err();
    check(e.into());
    let e = request
        .from_path(&missing, &Options::default())
        .unwrap_err();
    let text = check(e.into());
    assert_eq!(
        text.matches("No such file or directory").count(),
        1,
        "{text}"
    );

    // A Nix command-line path under a missing directory.
    let resolved = nix_ingest::nix_path::resolve(&missing.join("x/")).unwrap();
    let e = resolved.path().unwrap_err();
    check(e.into());

    // The hash cache: a missing tree.
    let cache = nix_ingest::cache::HashCache::new(dir.path().join("cache"));
    let e = cache
        .hash_git(
            &missing,
            &[Algorithm::Sha1],
            &nix_ingest::Settings::default(),
        )
        .unwrap_err();
    let text = check(e.into());
    assert_eq!(
        text.matches("No such file or directory").count(),
        1,
        "{text}"
    );

    // A CID that is not one.
    let e = nix_ingest::cid::parse_git_raw_cid("bnot-a-cid").unwrap_err();
    check(e.into());
}
