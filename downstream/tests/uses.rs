//! What users of nix-ingest do, each in a few lines of the public API, judged against real Nix:
//! the golden files under the library's `tests/data/` (each names the command that made it).

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use nix_ingest::Want;
use nix_ingest::content_address::ContentAddress;
use nix_ingest::event::SinkError;
use nix_ingest::path_info::Request;
use nix_ingest::store_path::References;
use nix_ingest::verify::{self, Claim, Digest};
use nix_ingest::{Algorithm, FileIngestionMethod, Hash, NarInfo, Options, StoreDir};
use nix_ingest_downstream::{Contents, NarOf};

/// The library's golden data.
fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel)
}

fn read(rel: &str) -> String {
    fs::read_to_string(data(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The tree `tests/data/narinfo/gen.sh` had Nix add: `bla/`, `foo`, `bar -> foo`, an executable.
fn narinfo_tree(parent: &Path) -> PathBuf {
    let tree = parent.join("tree");
    fs::create_dir_all(tree.join("bla")).unwrap();
    fs::write(tree.join("foo"), "Hello World!\n").unwrap();
    symlink("foo", tree.join("bar")).unwrap();
    fs::write(tree.join("exe"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(tree.join("exe"), fs::Permissions::from_mode(0o755)).unwrap();
    tree
}

/// The narinfo Nix 2.34.8 wrote for `store_path` with `nix copy --to file://…?compression=none`.
fn nix_narinfo(store_path: &str) -> String {
    let hash_part = &store_path["/nix/store/".len()..][..32];
    read(&format!("narinfo/2.34/cache-none/{hash_part}.narinfo"))
}

fn nix_paths() -> Vec<String> {
    read("narinfo/2.34/paths.txt")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An `expect KEY BASE16` line of a golden tree description.
fn tree_expect(tree: &str, key: &str) -> String {
    read(&format!("trees/{tree}.txt"))
        .lines()
        .find_map(|l| l.strip_prefix(&format!("expect {key} ")).map(str::to_owned))
        .unwrap_or_else(|| panic!("{tree}: no {key}"))
}

/// The tree from Nix's own git-hashing tests (`tests/data/trees/nix-tests.txt`).
fn nix_tests_tree(parent: &Path) -> PathBuf {
    let tree = parent.join("nix-tests");
    fs::create_dir_all(tree.join("bla")).unwrap();
    fs::write(tree.join("foo"), "Hello World!\n").unwrap();
    symlink("foo", tree.join("bar")).unwrap();
    tree
}

#[test]
fn narinfo_for_a_directory_with_git_and_nar_content_addresses() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let tree = narinfo_tree(dir.path());
    let paths = nix_paths();

    for (name, method, algorithm, nix_path) in [
        ("tree", FileIngestionMethod::Git, Algorithm::Sha1, &paths[0]),
        (
            "tree-nar",
            FileIngestionMethod::Nar,
            Algorithm::Sha256,
            &paths[1],
        ),
    ] {
        let info = Request::new(name, method, algorithm).from_path(&tree, &Options::new())?;
        let narinfo = info.to_narinfo();

        assert_eq!(info.full_path(), *nix_path);
        assert_eq!(narinfo.to_string(), nix_narinfo(nix_path), "{name}");
        // And back: the text Nix wrote parses to the same narinfo.
        assert_eq!(
            NarInfo::parse(&nix_narinfo(nix_path), &StoreDir::default())?,
            narinfo
        );
    }
    Ok(())
}

#[test]
fn git_and_nar_digests_and_size_from_a_nar_file_in_one_pass() -> anyhow::Result<()> {
    let nix = NarInfo::parse(&nix_narinfo(&nix_paths()[0]), &StoreDir::default())?;
    let nar = fs::File::open(data(&format!("narinfo/2.34/cache-none/{}", nix.url)))?;

    let info = Request::new("tree", FileIngestionMethod::Git, Algorithm::Sha1)
        .from_nar(nar, &Options::new())?;

    assert_eq!(Some(*info.ca()), nix.ca);
    assert_eq!(*info.nar_hash(), nix.nar_hash);
    assert_eq!(info.nar_size(), nix.nar_size);
    Ok(())
}

#[test]
fn a_custom_method_is_used_like_the_built_in_ones() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let tree = nix_tests_tree(dir.path());
    // `nix hash path --mode nar --algo blake3` (Nix 2.34.8) and `--algo sha256`.
    let blake3 = Hash::parse_unprefixed(
        &tree_expect("nix-tests", "nix-nar-blake3"),
        Algorithm::Blake3,
    )?;
    let sha256 = Hash::parse_unprefixed(
        &tree_expect("nix-tests", "nix-nar-sha256"),
        Algorithm::Sha256,
    )?;

    // One call, printed with its own algorithm's name, as `nix hash path` prints it.
    let got =
        nix_ingest::Options::default().hash_path(&tree, Want::custom(&NarOf, Algorithm::Blake3))?;
    assert_eq!(got, blake3);
    assert!(got.to_string().starts_with("blake3-"));

    // Beside Nix's methods in one walk, and from a NAR stream.
    let options = Options::new();
    let both = options.hash_path_multi(
        &tree,
        &[
            Want::custom(&NarOf, Algorithm::Blake3),
            Want::new(FileIngestionMethod::Nar, Algorithm::Sha256),
        ],
    )?;
    assert_eq!(both, [blake3, sha256]);
    let mut nar = Vec::new();
    options.dump_nar(&tree, &mut nar)?;
    assert_eq!(
        options.hash_nar(&nar[..], Want::custom(&NarOf, Algorithm::Blake3))?,
        blake3
    );

    // In a path info and in a verified upload.
    let info = Request::new("nix-tests", FileIngestionMethod::Nar, Algorithm::Sha256)
        .digest(Want::custom(&NarOf, Algorithm::Blake3))
        .from_nar(&nar[..], &options)?;
    assert_eq!(info.digests(), [blake3]);
    let claim = Claim::new("nix-tests", *info.ca()).digest(NarOf, blake3);
    verify::verify_nar(&nar[..], &claim, &StoreDir::default(), &options)?;
    let wrong =
        Claim::new("nix-tests", *info.ca()).digest(NarOf, Hash::digest(Algorithm::Blake3, b""));
    let err = verify::verify_nar(&nar[..], &wrong, &StoreDir::default(), &options).unwrap_err();
    assert!(
        matches!(&err, verify::VerifyError::HashMismatch { what: Digest::Method(m), .. } if m == "nar-of"),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_sha1_collision_in_a_custom_method_is_the_error_nix_methods_give() -> anyhow::Result<()> {
    // SHAttered (shattered.io): its flat SHA-1, 38762cf7… (`sha1sum`), is a collision attack.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("shattered.pdf");
    fs::copy(data("shattered-1.pdf"), &file)?;
    let collision = |e: nix_ingest::ingest::IngestError| {
        let e = anyhow::Error::from(e);
        e.chain().find_map(|c| match c.downcast_ref::<SinkError>() {
            Some(SinkError::Sha1Collision { digest, .. }) => Some(digest.clone()),
            _ => None,
        })
    };
    let ours = nix_ingest::Options::default()
        .hash_path(&file, Want::custom(&Contents, Algorithm::Sha1))
        .unwrap_err();
    let builtin = nix_ingest::Options::default()
        .hash_path(&file, Want::new(FileIngestionMethod::Flat, Algorithm::Sha1))
        .unwrap_err();
    let sha1sum = Some("38762cf7f55934b34d179ae6a4c80cadccbb7f0a".to_owned());
    assert_eq!(
        (collision(ours), collision(builtin)),
        (sha1sum.clone(), sha1sum)
    );

    // Without detection, as Nix: the colliding digest.
    let nix = Options::new().collision_detection(false);
    assert_eq!(
        nix.hash_path(&file, Want::custom(&Contents, Algorithm::Sha1))?
            .encode(nix_ingest::Format::Base16),
        "38762cf7f55934b34d179ae6a4c80cadccbb7f0a"
    );
    Ok(())
}

#[test]
fn content_addresses_parse_round_trip_and_make_nix_store_paths() -> anyhow::Result<()> {
    // `ca PATH CA REFS` lines: what `nix path-info --json` recorded for objects Nix 2.34.8 added.
    let golden = read("store_paths-2.34.txt");
    let mut checked = 0;
    for line in golden.lines().filter_map(|l| l.strip_prefix("ca ")) {
        let [path, ca, refs] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("{line}")
        };
        let ca: ContentAddress = ca.parse()?;
        assert_eq!(ca.to_string(), line.split(' ').nth(1).unwrap());

        let store = StoreDir::default();
        let mut references = References::default();
        for r in refs.split(',').filter(|&r| r != "-") {
            if r == path {
                references.self_ref = true;
            } else {
                references.others.insert(store.parse_path(r)?);
            }
        }
        if references.self_ref {
            continue; // Nix hashes these modulo their own hash part; see the verify docs.
        }
        let name = &path[path.find('-').unwrap() + 1..];
        let made = store.make_path_from_ca(name, &ca, &references)?;
        assert_eq!(store.display_path(&made), path);
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} content addresses");
    Ok(())
}

#[test]
fn bad_content_addresses_say_what_and_where() {
    let message = |s: &str| {
        format!(
            "{:#}",
            anyhow::Error::from(s.parse::<ContentAddress>().unwrap_err())
        )
    };

    // Nix writes a NAR hash `fixed:r:…`; `recursive` is the name of the method, not the prefix.
    let m = message("fixed:recursive:sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
    assert!(m.contains("'r:'"), "{m}");

    // nix32 has no 'e': the character and its position are named.
    let m = message("fixed:r:sha256:0mdqa9w1p6cmlie976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
    assert!(m.contains("'e' at position 14"), "{m}");

    // Echoed input is escaped: a trailing newline shows as \n.
    let m = message("fixed:r:sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73\n");
    assert!(m.contains("\\n") && !m.contains('\n'), "{m}");

    // Each cause once.
    for m in [message("text:sha1"), message("fixed:git:sha1:zz")] {
        let parts: Vec<&str> = m.split(": ").collect();
        let mut unique = parts.clone();
        unique.dedup();
        assert_eq!(parts, unique, "{m}");
    }
}

#[tokio::test]
async fn the_same_from_a_tokio_async_read() -> anyhow::Result<()> {
    let nix = NarInfo::parse(&nix_narinfo(&nix_paths()[0]), &StoreDir::default())?;
    let nar_path = data(&format!("narinfo/2.34/cache-none/{}", nix.url));
    let options = Options::new();

    let info = Request::new("tree", FileIngestionMethod::Git, Algorithm::Sha1)
        .from_nar_async(tokio::fs::File::open(&nar_path).await?, &options)
        .await?;
    assert_eq!(
        (Some(*info.ca()), *info.nar_hash(), info.nar_size()),
        (nix.ca, nix.nar_hash, nix.nar_size)
    );

    let git = options
        .hash_nar_async(
            tokio::fs::File::open(&nar_path).await?,
            Want::new(FileIngestionMethod::Git, Algorithm::Sha1),
        )
        .await?;
    assert_eq!(
        Some(ContentAddress::fixed(FileIngestionMethod::Git, git)),
        nix.ca
    );

    let claim = Claim::new("tree", nix.ca.unwrap())
        .nar_hash(nix.nar_hash)
        .nar_size(nix.nar_size);
    let verified = verify::verify_nar_async(
        tokio::fs::File::open(&nar_path).await?,
        &claim,
        &StoreDir::default(),
        &options,
    )
    .await?;
    assert_eq!(
        StoreDir::default().display_path(&verified.path),
        nix_paths()[0]
    );
    Ok(())
}
