//! The git storage backend (`--storage git:PATH`) against real git: what real Nix uploads (the
//! golden caches of tests/data, made by `nix copy --to file://…`) is served back byte for byte
//! (the NAR Nix wrote, hashing to the NarHash Nix computed), the repository passes
//! `git fsck --strict`, identical files are one blob, refs only ever name complete objects,
//! packing and collection keep the cache serving, and a second cache replicates the first.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use nix_ingest::content_address::ContentAddress;
use nix_ingest::event::{Event, Sink};
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::nar::NarWriter;
use nix_ingest::narinfo::NarInfo;
use nix_ingest::store_path::{References, StoreDir};
use nix_ingest_binary_cache::gc::Policy;
use nix_ingest_binary_cache::git::GitStorage;
use nix_ingest_binary_cache::{Config, Service};
use tower::ServiceExt;

/// /nix/store/…-tree (a directory: a file, an executable, a symlink, an empty directory) and
/// /nix/store/…-uses-tree (a single text file referring to it).
const TREE: &str = "cc432xp6lgry29razhhyx93fm9jvs4ky";
const USER: &str = "yzn8r68yrggrggjz7cz0fx9sysqlh9ix";

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn golden_narinfo(compression: &str, hash: &str) -> String {
    std::fs::read_to_string(data().join(compression).join(format!("{hash}.narinfo"))).unwrap()
}

fn field(narinfo: &str, name: &str) -> String {
    narinfo
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {narinfo}"))
        .to_owned()
}

/// The uncompressed NAR Nix wrote for `hash`.
fn golden_nar(hash: &str) -> Vec<u8> {
    let url = field(&golden_narinfo("none", hash), "URL");
    std::fs::read(data().join("none").join(url)).unwrap()
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fsck(repo: &Path) {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(["fsck", "--strict", "--no-dangling"])
        .output()
        .unwrap();
    // A bare cache has no branch: git notes that HEAD is unborn, nothing else may be said.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success()
            && stderr
                .lines()
                .all(|l| l.starts_with("notice: HEAD points to an unborn branch"))
            && out.stdout.is_empty(),
        "git fsck --strict: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every object of the repository, by id.
fn objects(repo: &Path) -> Vec<String> {
    let mut ids: Vec<String> = git(
        repo,
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname)",
        ],
    )
    .lines()
    .map(str::to_owned)
    .collect();
    ids.sort();
    ids.dedup();
    ids
}

struct Cache {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    service: Service,
}

fn open(config: impl FnOnce(Config) -> Config) -> Cache {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("cache.git");
    let service = Service::open(config(
        Config::new(dir.path().join("work"))
            .git(&repo)
            .git_pack_every(0),
    ))
    .unwrap();
    Cache {
        _dir: dir,
        repo,
        service,
    }
}

impl Cache {
    async fn request(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let response = self.service.router().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    }

    async fn put(&self, uri: &str, body: Vec<u8>) -> (StatusCode, String) {
        let (status, body) = self
            .request(
                Request::put(uri)
                    .header("content-length", body.len())
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn get(&self, uri: &str) -> (StatusCode, Vec<u8>) {
        self.request(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// Uploads a path as Nix does: its NAR file, then its narinfo.
    async fn upload(&self, narinfo: &str, nar: Vec<u8>) {
        let url = field(narinfo, "URL");
        let (status, message) = self.put(&format!("/{url}"), nar).await;
        assert_eq!(status, StatusCode::OK, "{message}");
        let hash = field(narinfo, "StorePath")[11..43].to_owned();
        let (status, message) = self
            .put(&format!("/{hash}.narinfo"), narinfo.as_bytes().to_vec())
            .await;
        assert_eq!(status, StatusCode::OK, "{message}");
    }

    async fn upload_golden(&self, compression: &str, hash: &str) {
        let narinfo = golden_narinfo(compression, hash);
        let url = field(&narinfo, "URL");
        let nar = std::fs::read(data().join(compression).join(&url)).unwrap();
        self.upload(&narinfo, nar).await;
    }

    /// The narinfo served for `hash` and the NAR its URL serves.
    async fn fetch(&self, hash: &str) -> (String, Vec<u8>) {
        let (status, narinfo) = self.get(&format!("/{hash}.narinfo")).await;
        assert_eq!(status, StatusCode::OK);
        let narinfo = String::from_utf8(narinfo).unwrap();
        let (status, nar) = self.get(&format!("/{}", field(&narinfo, "URL"))).await;
        assert_eq!(status, StatusCode::OK);
        (narinfo, nar)
    }
}

fn sha256_nix32(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        Hash::digest(Algorithm::Sha256, bytes).encode(Format::Nix32)
    )
}

#[tokio::test]
async fn what_nix_uploads_is_served_back_byte_for_byte() {
    for compression in ["none", "xz", "zstd", "bzip2"] {
        let cache = open(|c| c);
        cache.upload_golden(compression, TREE).await;
        cache.upload_golden(compression, USER).await;
        for hash in [TREE, USER] {
            let (narinfo, nar) = cache.fetch(hash).await;
            let uploaded = golden_narinfo(compression, hash);
            // What Nix computed for this path, and the NAR it wrote.
            assert_eq!(field(&narinfo, "NarHash"), field(&uploaded, "NarHash"));
            assert_eq!(field(&narinfo, "NarSize"), field(&uploaded, "NarSize"));
            assert_eq!(sha256_nix32(&nar), field(&uploaded, "NarHash"));
            assert_eq!(nar, golden_nar(hash), "{compression} {hash}");
            // Served uncompressed, its file the NAR itself.
            assert_eq!(field(&narinfo, "Compression"), "none");
            assert_eq!(field(&narinfo, "FileHash"), field(&uploaded, "NarHash"));
            assert_eq!(field(&narinfo, "CA"), field(&uploaded, "CA"));
            assert_eq!(
                field(&narinfo, "References"),
                field(&uploaded, "References")
            );
        }
        fsck(&cache.repo);
        // The commits: the tree's is its root directory; uses-tree's (one file) wraps it; its
        // parent is the tree's commit.
        let tree_commit = git(&cache.repo, &["rev-parse", &format!("refs/nix/{TREE}")]);
        let root = git(&cache.repo, &["ls-tree", &format!("refs/nix/{TREE}")]);
        assert!(
            root.contains("120000 blob") && root.contains("\tbar"),
            "{root}"
        );
        assert!(
            root.contains("100755 blob") && root.contains("\trun"),
            "{root}"
        );
        assert!(
            root.contains("040000 tree") && root.contains("\tbla"),
            "{root}"
        );
        let user = git(&cache.repo, &["ls-tree", &format!("refs/nix/{USER}")]);
        assert!(user.starts_with("100644 blob "), "{user}");
        assert!(user.ends_with(&format!("\t{USER}-uses-tree\n")), "{user}");
        assert_eq!(
            git(&cache.repo, &["rev-parse", &format!("refs/nix/{USER}^1")]),
            tree_commit
        );
        // The tree's root id is its git content address (CA fixed:git:sha1, nix32).
        let ca = field(&golden_narinfo("none", TREE), "CA");
        let tree_id = git(
            &cache.repo,
            &["rev-parse", &format!("refs/nix/{TREE}^{{tree}}")],
        );
        let tree_hash = Hash::parse_unprefixed(tree_id.trim(), Algorithm::Sha1).unwrap();
        assert_eq!(
            ca,
            format!("fixed:git:sha1:{}", tree_hash.encode(Format::Nix32))
        );
        // Uploading again changes nothing.
        let refs = git(&cache.repo, &["for-each-ref"]);
        let (status, message) = cache
            .put(
                &format!("/{TREE}.narinfo"),
                golden_narinfo(compression, TREE).into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(message.contains("already"), "{message}");
        assert_eq!(git(&cache.repo, &["for-each-ref"]), refs);
    }
}

#[tokio::test]
async fn ranges_head_and_missing_nars() {
    let cache = open(|c| c);
    cache.upload_golden("xz", TREE).await;
    let (narinfo, nar) = cache.fetch(TREE).await;
    let url = format!("/{}", field(&narinfo, "URL"));
    let (status, part) = cache
        .request(
            Request::get(&url)
                .header("range", "bytes=100-299")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part, nar[100..300]);
    let (status, part) = cache
        .request(
            Request::get(&url)
                .header("range", "bytes=-7")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part, nar[nar.len() - 7..]);
    let response = cache
        .service
        .router()
        .oneshot(Request::head(&url).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-length"],
        nar.len().to_string().as_str()
    );
    // The xz file Nix uploaded is not kept, so not announced (HEAD, which `nix copy --to` asks
    // before uploading): but a client holding the narinfo it uploaded gets the same NAR,
    // compressed again as its narinfo says.
    let xz_url = format!("/{}", field(&golden_narinfo("xz", TREE), "URL"));
    let response = cache
        .service
        .router()
        .oneshot(Request::head(&xz_url).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (status, xz) = cache.get(&xz_url).await;
    assert_eq!(status, StatusCode::OK);
    let mut decoded = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(
        &mut async_compression::tokio::bufread::XzDecoder::new(&xz[..]),
        &mut decoded,
    )
    .await
    .unwrap();
    assert_eq!(decoded, golden_nar(TREE));
    let zst_url = format!("/{}", field(&golden_narinfo("zstd", TREE), "URL"));
    assert_eq!(cache.get(&zst_url).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        cache.get(&format!("/{USER}.narinfo")).await.0,
        StatusCode::NOT_FOUND
    );
}

/// A content-addressed (fixed:r:sha256) path made of `files` (name, contents), as a narinfo
/// and its NAR.
fn ca_path(name: &str, files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let mut nar = NarWriter::new(Vec::new());
    nar.event(Event::DirectoryStart { name: None }).unwrap();
    let mut sorted = files.to_vec();
    sorted.sort();
    for (file, contents) in sorted {
        nar.event(Event::FileStart {
            name: Some(file.as_bytes()),
            executable: false,
            size: contents.len() as u64,
        })
        .unwrap();
        nar.event(Event::FileData(contents)).unwrap();
        nar.event(Event::FileEnd).unwrap();
    }
    nar.event(Event::DirectoryEnd).unwrap();
    let nar = nar.finish().unwrap();
    let nar_hash = Hash::digest(Algorithm::Sha256, &nar);
    let ca = ContentAddress::fixed(FileIngestionMethod::Nar, nar_hash);
    let store = StoreDir::default();
    let path = store
        .make_path_from_ca(name, &ca, &References::default())
        .unwrap();
    let url = format!("nar/{}.nar", nar_hash.encode(Format::Nix32));
    let mut info = NarInfo::new(store, path, url, nar_hash, nar.len() as u64);
    info.file_hash = Some(nar_hash);
    info.file_size = Some(nar.len() as u64);
    info.ca = Some(ca);
    (info.to_string(), nar)
}

fn hash_part(narinfo: &str) -> String {
    field(narinfo, "StorePath")[11..43].to_owned()
}

fn blob_id(contents: &[u8]) -> String {
    let mut child = Command::new("git")
        .args(["hash-object", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), contents).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn identical_files_are_stored_once() {
    let cache = open(|c| c);
    let shared: &[u8] = b"the same file in two store paths\n";
    let (a, a_nar) = ca_path("a", &[("shared", shared), ("only-a", b"a\n")]);
    let (b, b_nar) = ca_path("b", &[("shared", shared), ("only-b", b"b\n")]);
    cache.upload(&a, a_nar).await;
    let before = objects(&cache.repo);
    let shared_blob = blob_id(shared);
    assert!(before.contains(&shared_blob));
    cache.upload(&b, b_nar.clone()).await;
    let after = objects(&cache.repo);
    let added: Vec<&String> = after.iter().filter(|id| !before.contains(id)).collect();
    // b's own file, its root tree and its commit: the shared file is not added again.
    let expected = [
        blob_id(b"b\n"),
        git(
            &cache.repo,
            &["rev-parse", &format!("refs/nix/{}^{{tree}}", hash_part(&b))],
        )
        .trim()
        .to_owned(),
        git(
            &cache.repo,
            &["rev-parse", &format!("refs/nix/{}", hash_part(&b))],
        )
        .trim()
        .to_owned(),
    ];
    let mut added_sorted: Vec<String> = added.into_iter().cloned().collect();
    added_sorted.sort();
    let mut expected_sorted = expected.to_vec();
    expected_sorted.sort();
    assert_eq!(added_sorted, expected_sorted);
    let (_, served) = cache.fetch(&hash_part(&b)).await;
    assert_eq!(served, b_nar);
    fsck(&cache.repo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refs_only_name_complete_objects_and_packing_keeps_serving() {
    let cache = open(|c| c.git_pack_every(3));
    let repo = cache.repo.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A reader polling the repository while paths are published and packed: every ref it sees
    // names a commit whose every object is there.
    let watcher = {
        let (repo, stop) = (repo.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut polls = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = Command::new("git")
                    .arg("--git-dir")
                    .arg(&repo)
                    .args([
                        "rev-list",
                        "--objects",
                        "--missing=print",
                        "--glob=refs/nix/*",
                    ])
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success() && !text.lines().any(|l| l.starts_with('?')),
                    "a ref names a missing object: {text}{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                polls += 1;
            }
            polls
        })
    };
    let mut paths = Vec::new();
    for i in 0..8 {
        let big = vec![b'x'; 200_000 + i];
        let (info, nar) = ca_path(
            &format!("p{i}"),
            &[("big", &big), ("n", format!("{i}\n").as_bytes())],
        );
        cache.upload(&info, nar.clone()).await;
        paths.push((info, nar));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let polls = watcher.join().unwrap();
    assert!(polls > 0);
    // Packing ran in the background (every 3 publications); pack once more, from the library,
    // while NARs are being served.
    let storage = GitStorage::open(&repo, &StoreDir::default(), Default::default(), 0).unwrap();
    let packer = std::thread::spawn(move || storage.pack().unwrap());
    for _ in 0..3 {
        for (info, nar) in &paths {
            let (_, served) = cache.fetch(&hash_part(info)).await;
            assert_eq!(&served, nar);
        }
    }
    packer.join().unwrap();
    let counts = git(&repo, &["count-objects", "-v"]);
    assert!(counts.lines().any(|l| l == "count: 0"), "{counts}");
    assert!(!counts.lines().any(|l| l == "packs: 0"), "{counts}");
    for (info, nar) in &paths {
        let (_, served) = cache.fetch(&hash_part(info)).await;
        assert_eq!(&served, nar);
    }
    fsck(&repo);
}

fn age(repo: &Path, hash: &str, by: Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(repo.join("nix-ingest/access").join(hash))
        .unwrap();
    file.set_times(std::fs::FileTimes::new().set_modified(SystemTime::now() - by))
        .unwrap();
}

#[tokio::test]
async fn collection_keeps_closures_and_prunes_the_rest() {
    let day = Duration::from_secs(86400);
    let cache = open(|c| c);
    cache.upload_golden("xz", TREE).await;
    cache.upload_golden("xz", USER).await;
    let (other, other_nar) = ca_path("other", &[("f", b"only in other\n")]);
    cache.upload(&other, other_nar).await;
    let other_hash = hash_part(&other);
    // Listings go with their path.
    let listing =
        nix_ingest::nar::listing::Listing::from_nar(&golden_nar(TREE)[..], &Default::default())
            .unwrap();
    let (status, message) = cache
        .put(
            &format!("/{TREE}.ls"),
            serde_json::to_vec(&listing).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{message}");
    let (status, served) = cache.get(&format!("/{TREE}.ls")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&served).unwrap(),
        serde_json::to_value(&listing).unwrap()
    );
    for hash in [TREE, USER, other_hash.as_str()] {
        age(&cache.repo, hash, 10 * day);
    }
    // uses-tree was read recently: it and the tree it refers to stay.
    age(&cache.repo, USER, Duration::ZERO);
    let storage =
        GitStorage::open(&cache.repo, &StoreDir::default(), Default::default(), 0).unwrap();
    let other_blob = blob_id(b"only in other\n");
    let report = storage
        .collect(Policy::OlderThan(day), false, "now")
        .unwrap();
    assert_eq!(
        report.removed.iter().cloned().collect::<Vec<_>>(),
        vec![other_hash.clone()]
    );
    assert_eq!(report.kept, 2);
    assert_eq!(
        cache.get(&format!("/{other_hash}.narinfo")).await.0,
        StatusCode::NOT_FOUND
    );
    assert!(!objects(&cache.repo).contains(&other_blob));
    cache.fetch(TREE).await;
    cache.fetch(USER).await;
    fsck(&cache.repo);
    // Everything old now: all goes, with the listing.
    for hash in [TREE, USER] {
        age(&cache.repo, hash, 10 * day);
    }
    let report = storage
        .collect(Policy::OlderThan(day), false, "now")
        .unwrap();
    assert_eq!(report.removed.len(), 2);
    assert_eq!(git(&cache.repo, &["for-each-ref"]), "");
    assert_eq!(objects(&cache.repo), Vec::<String>::new());
    assert_eq!(
        cache.get(&format!("/{TREE}.ls")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_second_cache_replicates_the_first_and_verifies_it() {
    let first = open(|c| c);
    first.upload_golden("zstd", TREE).await;
    first.upload_golden("zstd", USER).await;
    let second_dir = tempfile::tempdir().unwrap();
    let second_repo = second_dir.path().join("mirror.git");
    let config = Config::new(second_dir.path().join("work")).git(&second_repo);
    let storage =
        GitStorage::open(&second_repo, &StoreDir::default(), Default::default(), 0).unwrap();
    let report = storage
        .replicate(&config, first.repo.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(report.refused, Vec::<(String, String)>::new());
    let mut published = report.published.clone();
    published.sort();
    assert_eq!(published, vec![TREE.to_owned(), USER.to_owned()]);
    let second = Service::open(config.clone()).unwrap();
    for hash in [TREE, USER] {
        let (narinfo, nar) = first.fetch(hash).await;
        let get = |uri: String| {
            let router = second.router();
            async move {
                let response = router
                    .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                response
                    .into_body()
                    .collect()
                    .await
                    .unwrap()
                    .to_bytes()
                    .to_vec()
            }
        };
        assert_eq!(get(format!("/{hash}.narinfo")).await, narinfo.as_bytes());
        let replica = get(format!("/{}", field(&narinfo, "URL"))).await;
        assert_eq!(replica, nar);
        assert_eq!(
            sha256_nix32(&replica),
            field(&golden_narinfo("none", hash), "NarHash")
        );
    }
    nothing_staged(&second_repo);
    fsck(&second_repo);
    // Again: nothing new.
    let again = storage
        .replicate(&config, first.repo.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!((again.already, again.published.len()), (2, 0));

    // A forged path in the first cache: its narinfo claims another NAR hash (the commit is
    // rewritten consistently, so only rebuilding the NAR can tell).
    let (info, nar) = ca_path("honest", &[("f", b"honest\n")]);
    first.upload(&info, nar).await;
    let h = hash_part(&info);
    let raw = git(
        &first.repo,
        &["cat-file", "commit", &format!("refs/nix/{h}")],
    );
    let claimed = field(&info, "NarHash");
    let forged_hash = sha256_nix32(b"something else");
    let forged = raw.replace(
        &format!("NarHash: {claimed}"),
        &format!("NarHash: {forged_hash}"),
    );
    assert_ne!(forged, raw);
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(&first.repo)
        .args(["hash-object", "-t", "commit", "-w", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), forged.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let forged_id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    git(
        &first.repo,
        &["update-ref", &format!("refs/nix/{h}"), &forged_id],
    );
    // And a ref that names no path's commit at all (a blob): refused on its own.
    let junk = "0000000000000000000000000000000z";
    git(
        &first.repo,
        &[
            "update-ref",
            &format!("refs/nix/{junk}"),
            &blob_id(b"honest\n"),
        ],
    );
    let report = storage
        .replicate(&config, first.repo.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(report.published, Vec::<String>::new());
    let refused: Vec<&str> = report.refused.iter().map(|(h, _)| h.as_str()).collect();
    let mut expected = vec![junk, h.as_str()];
    expected.sort();
    assert_eq!(refused, expected, "{report:?}");
    let reason = &report.refused.iter().find(|(x, _)| *x == h).unwrap().1;
    assert!(reason.contains("NAR hash mismatch"), "{reason}");
    assert_eq!(
        git(&second_repo, &["for-each-ref", &format!("refs/nix/{h}")]),
        ""
    );
    nothing_staged(&second_repo);
}

#[tokio::test]
async fn a_sha256_repository_is_used_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("sha256.git");
    let out = Command::new("git")
        .args(["init", "--bare", "--quiet", "--object-format=sha256"])
        .arg(&repo)
        .output()
        .unwrap();
    assert!(out.status.success());
    let cache = Cache {
        service: Service::open(
            Config::new(dir.path().join("work"))
                .git(&repo)
                .git_pack_every(0),
        )
        .unwrap(),
        repo,
        _dir: dir,
    };
    cache.upload_golden("xz", TREE).await;
    cache.upload_golden("xz", USER).await;
    for hash in [TREE, USER] {
        let (_, nar) = cache.fetch(hash).await;
        assert_eq!(nar, golden_nar(hash));
    }
    let id = git(&cache.repo, &["rev-parse", &format!("refs/nix/{TREE}")]);
    assert_eq!(id.trim().len(), 64);
    fsck(&cache.repo);
}

/// The golden cache of the root crate's tests/data/formats (real Nix 2.34.8, `nix copy --to
/// 'file://…?write-nar-listing=1'`): five paths with their listings, one the output of a
/// content-addressed derivation whose realisation the test key signed.
fn formats(rel: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/formats")
            .join(rel),
    )
    .unwrap()
}

#[tokio::test]
async fn listings_and_realisations_live_in_refs_and_go_with_their_paths() {
    const ALL: [&str; 5] = [
        "kmmkrxlfw7rbwdnaj9js21xg9m42q8kw",
        "cdqar1prp1xbqcldsafm9yaw6n4dq1yz",
        "8zv8i345w2xn27jrxj4cyjc6x3b4am1q",
        "hlm81fny491fq6ip5mv65l2m9apc5ljs",
        "941dch0f2ccgxzmnw4b685pxqh0b9838",
    ];
    const CA_OUT: &str = "941dch0f2ccgxzmnw4b685pxqh0b9838";
    const DOI: &str =
        "sha256:39edd3b8ba7593cc36f9dc008f86be0e4a6875fbcd16c14e386e50856ef856a7!out.doi";
    let key = String::from_utf8(formats("key.pub"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cache = open(|c| c.trust(key));
    for hash in ALL {
        // As Nix sends them: listing, NAR, narinfo.
        let (status, text) = cache
            .put(
                &format!("/{hash}.ls"),
                formats(&format!("2.34/cache/{hash}.ls")),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let info = String::from_utf8(formats(&format!("2.34/cache/{hash}.narinfo"))).unwrap();
        let url = field(&info, "URL");
        let nar = formats(&format!("2.34/cache/{url}"));
        cache.upload(&info, nar).await;
        let (status, listing) = cache.get(&format!("/{hash}.ls")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&listing).unwrap(),
            serde_json::from_slice::<serde_json::Value>(&formats(&format!("2.34/cache/{hash}.ls")))
                .unwrap()
        );
        // The NAR served hashes to what Nix said.
        let (_, nar) = cache.fetch(hash).await;
        assert_eq!(sha256_nix32(&nar), field(&info, "NarHash"));
    }
    let doi = formats(&format!("2.34/cache/realisations/{DOI}"));
    let uri = format!("/realisations/{DOI}");
    let (status, text) = cache.put(&uri, doi.clone()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(cache.get(&uri).await, (StatusCode::OK, doi.clone()));
    let refs = git(
        &cache.repo,
        &["for-each-ref", "--format=%(refname)", "refs/nix-objects/"],
    );
    assert!(
        refs.contains("refs/nix-objects/realisations/sha256%3A39edd3b8"),
        "{refs}"
    );
    fsck(&cache.repo);
    // All old but the realisation's output: it, its listing and its realisation stay.
    for hash in ALL {
        age(&cache.repo, hash, Duration::from_secs(10 * 86400));
    }
    age(&cache.repo, CA_OUT, Duration::ZERO);
    let storage =
        GitStorage::open(&cache.repo, &StoreDir::default(), Default::default(), 0).unwrap();
    let day = Duration::from_secs(86400);
    let report = storage
        .collect(Policy::OlderThan(day), false, "now")
        .unwrap();
    assert!(!report.removed.contains(CA_OUT));
    assert_eq!(cache.get(&uri).await.0, StatusCode::OK);
    assert_eq!(cache.get(&format!("/{CA_OUT}.ls")).await.0, StatusCode::OK);
    for hash in &report.removed {
        assert_eq!(
            cache.get(&format!("/{hash}.ls")).await.0,
            StatusCode::NOT_FOUND
        );
    }
    age(&cache.repo, CA_OUT, Duration::from_secs(10 * 86400));
    storage
        .collect(Policy::OlderThan(day), false, "now")
        .unwrap();
    assert_eq!(cache.get(&uri).await.0, StatusCode::NOT_FOUND);
    assert_eq!(git(&cache.repo, &["for-each-ref"]), "");
}

/// Writes `data` as a blob into `repo` and points `name` at it (a forgery in a cache's
/// repository, made behind its back).
fn forge_ref(repo: &Path, name: &str, data: &[u8]) {
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(["hash-object", "-w", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    git(repo, &["update-ref", name, &id]);
}

#[tokio::test]
async fn a_second_cache_replicates_listings_and_realisations_and_verifies_them() {
    const ALL: [&str; 5] = [
        "kmmkrxlfw7rbwdnaj9js21xg9m42q8kw",
        "cdqar1prp1xbqcldsafm9yaw6n4dq1yz",
        "8zv8i345w2xn27jrxj4cyjc6x3b4am1q",
        "hlm81fny491fq6ip5mv65l2m9apc5ljs",
        "941dch0f2ccgxzmnw4b685pxqh0b9838",
    ];
    const DOI: &str =
        "sha256:39edd3b8ba7593cc36f9dc008f86be0e4a6875fbcd16c14e386e50856ef856a7!out.doi";
    let key: nix_ingest_binary_cache::signature::PublicKey = String::from_utf8(formats("key.pub"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let first = open(|c| c.trust(key.clone()));
    for hash in ALL {
        let info = String::from_utf8(formats(&format!("2.34/cache/{hash}.narinfo"))).unwrap();
        let nar = formats(&format!("2.34/cache/{}", field(&info, "URL")));
        first.upload(&info, nar).await;
        let (status, text) = first
            .put(
                &format!("/{hash}.ls"),
                formats(&format!("2.34/cache/{hash}.ls")),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    let doi = formats(&format!("2.34/cache/realisations/{DOI}"));
    let (status, text) = first
        .put(&format!("/realisations/{DOI}"), doi.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");

    // A forged listing: the first cache's ref of FORGED.ls now names another path's listing,
    // which the service itself refuses as FORGED's.
    const FORGED: &str = ALL[0];
    let other = first.get(&format!("/{}.ls", ALL[1])).await.1;
    let (status, refusal) = first.put(&format!("/{FORGED}.ls"), other.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refusal}");
    forge_ref(
        &first.repo,
        &format!("refs/nix-objects/{FORGED}.ls"),
        &other,
    );
    assert_eq!(
        first.get(&format!("/{FORGED}.ls")).await,
        (StatusCode::OK, other)
    );
    // A forged realisation: the signed one, claimed for another output of the derivation; the
    // signature does not cover it, so the service refuses it (403).
    let forged_doi = DOI.replace("!out.doi", "!dev.doi");
    let forged = String::from_utf8(doi.clone())
        .unwrap()
        .replace("!out\"", "!dev\"");
    assert_ne!(forged.as_bytes(), &doi[..]);
    let (status, text) = first
        .put(
            &format!("/realisations/{forged_doi}"),
            forged.clone().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    let doi_refs = git(
        &first.repo,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/nix-objects/realisations/",
        ],
    );
    let [doi_ref] = doi_refs.lines().collect::<Vec<_>>()[..] else {
        panic!("{doi_refs}")
    };
    let forged_ref = doi_ref.replace("!out.doi", "!dev.doi");
    forge_ref(&first.repo, &forged_ref, forged.as_bytes());
    // And a listing whose path the first cache does not hold.
    const ABSENT: &str = "0000000000000000000000000000000z";
    forge_ref(
        &first.repo,
        &format!("refs/nix-objects/{ABSENT}.ls"),
        &formats(&format!("2.34/cache/{}.ls", ALL[1])),
    );

    let second_dir = tempfile::tempdir().unwrap();
    let second_repo = second_dir.path().join("mirror.git");
    let config = Config::new(second_dir.path().join("work"))
        .git(&second_repo)
        .trust(key.clone());
    let storage =
        GitStorage::open(&second_repo, &StoreDir::default(), Default::default(), 0).unwrap();
    let report = storage
        .replicate(&config, first.repo.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(report.refused, Vec::<(String, String)>::new());
    assert_eq!(report.published.len(), ALL.len());
    let mut listings = report.listings.published.clone();
    listings.sort();
    let mut expected: Vec<String> = ALL[1..].iter().map(|h| format!("{h}.ls")).collect();
    expected.sort();
    assert_eq!(listings, expected, "{report:?}");
    assert_eq!(
        (report.listings.already, report.listings.skipped),
        (0, 1),
        "{report:?}"
    );
    let [(name, reason)] = &report.listings.refused[..] else {
        panic!("{report:?}")
    };
    assert_eq!(name, &format!("{FORGED}.ls"));
    // The reason the service gives for the same listing.
    assert_eq!(reason, refusal.trim_end());
    let strip = |r: &str| r.strip_prefix("refs/nix-objects/").unwrap().to_owned();
    assert_eq!(report.realisations.published, vec![strip(doi_ref)]);
    let [(name, reason)] = &report.realisations.refused[..] else {
        panic!("{report:?}")
    };
    assert_eq!(name, &strip(&forged_ref));
    assert!(
        reason.contains("is not signed by a key this cache trusts"),
        "{reason}"
    );

    let second = Service::open(config.clone()).unwrap();
    let get = |uri: String| {
        let router = second.router();
        async move {
            let response = router
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, body.to_vec())
        }
    };
    for hash in &ALL[1..] {
        let uri = format!("/{hash}.ls");
        let served = first.get(&uri).await;
        assert_eq!(served.0, StatusCode::OK);
        assert_eq!(get(uri).await, served);
    }
    let uri = format!("/realisations/{DOI}");
    assert_eq!(get(uri.clone()).await, (StatusCode::OK, doi.clone()));
    assert_eq!(first.get(&uri).await, (StatusCode::OK, doi));
    assert_eq!(get(format!("/{FORGED}.ls")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get(format!("/realisations/{forged_doi}")).await.0,
        StatusCode::NOT_FOUND
    );
    nothing_staged(&second_repo);
    fsck(&second_repo);

    // Again: what is here is here already; the forgeries are refused again.
    let again = storage
        .replicate(&config, first.repo.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(again.already, ALL.len());
    assert_eq!(
        (
            again.listings.published.len(),
            again.listings.already,
            again.listings.skipped,
            again.listings.refused.len()
        ),
        (0, 4, 1, 1)
    );
    assert_eq!(
        (
            again.realisations.published.len(),
            again.realisations.already,
            again.realisations.refused.len()
        ),
        (0, 1, 1)
    );
    nothing_staged(&second_repo);

    // Pushed instead of fetched: the same checks, the same outcome, the same bytes served.
    let third_dir = tempfile::tempdir().unwrap();
    let third_repo = third_dir.path().join("pushed.git");
    let third_config = Config::new(third_dir.path().join("work"))
        .git(&third_repo)
        .trust(key);
    let third = GitStorage::open(&third_repo, &StoreDir::default(), Default::default(), 0).unwrap();
    let sender =
        GitStorage::open(&first.repo, &StoreDir::default(), Default::default(), 0).unwrap();
    sender.push(third_repo.to_str().unwrap()).await.unwrap();
    let pushed = third.receive(&third_config).await.unwrap();
    let sorted = |mut r: nix_ingest_binary_cache::git::Replicated| {
        r.published.sort();
        r.listings.published.sort();
        r.realisations.published.sort();
        r
    };
    assert_eq!(sorted(pushed), sorted(report));
    let third_service = Service::open(third_config).unwrap();
    for hash in &ALL[1..] {
        let uri = format!("/{hash}.ls");
        assert_eq!(get_from(&third_service, &uri).await, first.get(&uri).await);
    }
    assert_eq!(
        get_from(&third_service, &format!("/realisations/{DOI}")).await,
        first.get(&format!("/realisations/{DOI}")).await
    );
    assert_eq!(
        get_from(&third_service, &format!("/{FORGED}.ls")).await.0,
        StatusCode::NOT_FOUND
    );
    nothing_staged(&third_repo);
    fsck(&third_repo);
}

#[tokio::test]
async fn a_corrupt_object_is_never_served_as_the_nar() {
    let cache = open(|c| c);
    let (info, nar) = ca_path(
        "victim",
        &[("f", b"the real contents\n"), ("g", b"other\n")],
    );
    cache.upload(&info, nar).await;
    // The loose file of f's blob now holds g's blob: git itself does not notice when reading.
    let loose = |id: &str| cache.repo.join("objects").join(&id[..2]).join(&id[2..]);
    let (f, g) = (blob_id(b"the real contents\n"), blob_id(b"other\n"));
    let mut perms = std::fs::metadata(loose(&f)).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(loose(&f), perms).unwrap();
    std::fs::copy(loose(&g), loose(&f)).unwrap();
    let url = format!("/{}", field(&info, "URL"));
    let response = cache
        .service
        .router()
        .oneshot(Request::get(&url).body(Body::empty()).unwrap())
        .await
        .unwrap();
    // The headers went out before the object was read: the body fails instead of ending.
    assert!(response.into_body().collect().await.is_err());
}

#[tokio::test]
async fn a_path_whose_references_are_missing_is_refused_and_leaves_no_ref() {
    let cache = open(|c| c);
    let narinfo = golden_narinfo("xz", USER);
    let url = field(&narinfo, "URL");
    let nar = std::fs::read(data().join("xz").join(&url)).unwrap();
    assert_eq!(cache.put(&format!("/{url}"), nar).await.0, StatusCode::OK);
    let (status, message) = cache
        .put(&format!("/{USER}.narinfo"), narinfo.into_bytes())
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{message}");
    assert!(message.contains("upload it first"), "{message}");
    assert_eq!(git(&cache.repo, &["for-each-ref"]), "");
    // Once the tree is there, the same upload goes through, its commit's parent the tree's.
    cache.upload_golden("xz", TREE).await;
    cache.upload_golden("xz", USER).await;
    assert_eq!(
        git(&cache.repo, &["rev-parse", &format!("refs/nix/{USER}^@")]),
        git(&cache.repo, &["rev-parse", &format!("refs/nix/{TREE}")])
    );
}

/// Nothing waits in the incoming or quarantine refs of `repo`.
fn nothing_staged(repo: &Path) {
    for staging in ["refs/nix-incoming/", "refs/nix-quarantine/"] {
        assert_eq!(git(repo, &["for-each-ref", staging]), "", "{staging}");
    }
}

/// Runs the service binary with `args`: whether it succeeded, its output and its errors.
fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nix-ingest-binary-cache"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The service binary's subcommands on git storage.
#[tokio::test]
async fn the_command_line_replicates_packs_and_collects() {
    let first = open(|c| c);
    first.upload_golden("xz", TREE).await;
    first.upload_golden("xz", USER).await;
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror.git");
    let storage = format!("git:{}", mirror.display());
    let (ok, stdout, stderr) = run(&[
        "replicate",
        "--storage",
        &storage,
        "--from",
        first.repo.to_str().unwrap(),
    ]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l == "2 paths published, 0 already here, 0 refused"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = run(&["pack", "--storage", &storage]);
    assert!(ok, "{stdout}{stderr}");
    let counts = git(&mirror, &["count-objects", "-v"]);
    assert!(counts.lines().any(|l| l == "count: 0"), "{counts}");
    fsck(&mirror);
    let (ok, stdout, stderr) = run(&["gc", "--storage", &storage, "--max-size", "0", "--dry-run"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("would remove {TREE}")), "{stdout}");
    assert!(stdout.contains(&format!("would remove {USER}")), "{stdout}");
    assert_ne!(git(&mirror, &["for-each-ref", "refs/nix/"]), "");
    let (ok, _, stderr) = run(&[
        "gc",
        "--storage",
        &format!("git:{}", dir.path().join("none.git").display()),
        "--older-than",
        "1",
    ]);
    assert!(!ok);
    assert!(stderr.contains("is not a git repository"), "{stderr}");
    let (ok, _, stderr) = run(&["pack", "--storage", "s3://bucket"]);
    assert!(!ok);
    assert!(stderr.contains("--storage must be git:PATH"), "{stderr}");
    let (ok, _, stderr) = run(&["pack", "--storage", "elsewhere"]);
    assert!(!ok);
    assert!(stderr.contains("neither s3://"), "{stderr}");
}

/// What `service` answers to a `GET` of `uri`.
async fn get_from(service: &Service, uri: &str) -> (StatusCode, Vec<u8>) {
    let response = service
        .router()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

/// Rewrites the commit of `h` in `repo` so that its narinfo claims another NAR hash (the commit
/// is otherwise what the cache makes, so only rebuilding the NAR can tell), pointing
/// `refs/nix/<h>` at it.
fn forge_nar_hash(repo: &Path, h: &str, info: &str) {
    let raw = git(repo, &["cat-file", "commit", &format!("refs/nix/{h}")]);
    let claimed = field(info, "NarHash");
    let forged = raw.replace(
        &format!("NarHash: {claimed}"),
        &format!("NarHash: {}", sha256_nix32(b"something else")),
    );
    assert_ne!(forged, raw);
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(repo)
        .args(["hash-object", "-t", "commit", "-w", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), forged.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let forged_id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    git(repo, &["update-ref", &format!("refs/nix/{h}"), &forged_id]);
}

#[tokio::test]
async fn a_cache_pushes_to_another_which_verifies_before_it_serves() {
    let first = open(|c| c);
    first.upload_golden("zstd", TREE).await;
    first.upload_golden("zstd", USER).await;
    let sender =
        GitStorage::open(&first.repo, &StoreDir::default(), Default::default(), 0).unwrap();
    let second_dir = tempfile::tempdir().unwrap();
    let second_repo = second_dir.path().join("mirror.git");
    let config = Config::new(second_dir.path().join("work")).git(&second_repo);
    let storage =
        GitStorage::open(&second_repo, &StoreDir::default(), Default::default(), 0).unwrap();
    assert_eq!(
        git(&second_repo, &["config", "receive.fsckObjects"]).trim(),
        "true"
    );
    let second = Service::open(config.clone()).unwrap();

    assert_eq!(
        sender.push(second_repo.to_str().unwrap()).await.unwrap(),
        (2, 0)
    );
    // Pushed, not served.
    let incoming = git(
        &second_repo,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/nix-incoming/nix/",
        ],
    );
    assert_eq!(
        incoming.lines().collect::<Vec<_>>(),
        vec![
            format!("refs/nix-incoming/nix/{TREE}"),
            format!("refs/nix-incoming/nix/{USER}")
        ]
    );
    assert_eq!(git(&second_repo, &["for-each-ref", "refs/nix/"]), "");
    for hash in [TREE, USER] {
        let (narinfo, _) = first.fetch(hash).await;
        assert_eq!(
            get_from(&second, &format!("/{hash}.narinfo")).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get_from(&second, &format!("/{}", field(&narinfo, "URL")))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
    }

    let report = storage.receive(&config).await.unwrap();
    assert_eq!(report.refused, Vec::<(String, String)>::new());
    let mut published = report.published.clone();
    published.sort();
    assert_eq!(published, vec![TREE.to_owned(), USER.to_owned()]);
    for hash in [TREE, USER] {
        let (narinfo, nar) = first.fetch(hash).await;
        assert_eq!(
            get_from(&second, &format!("/{hash}.narinfo")).await,
            (StatusCode::OK, narinfo.clone().into_bytes())
        );
        let replica = get_from(&second, &format!("/{}", field(&narinfo, "URL"))).await;
        assert_eq!(replica, (StatusCode::OK, nar));
        assert_eq!(
            sha256_nix32(&replica.1),
            field(&golden_narinfo("none", hash), "NarHash")
        );
    }
    nothing_staged(&second_repo);
    fsck(&second_repo);

    // A forged path pushed: refused, never served, its incoming ref gone.
    let (info, nar) = ca_path("honest", &[("f", b"honest\n")]);
    first.upload(&info, nar).await;
    let h = hash_part(&info);
    forge_nar_hash(&first.repo, &h, &info);
    assert_eq!(
        sender.push(second_repo.to_str().unwrap()).await.unwrap(),
        (3, 0)
    );
    assert_eq!(
        git(
            &second_repo,
            &[
                "for-each-ref",
                "--format=%(refname)",
                &format!("refs/nix-incoming/nix/{h}")
            ]
        )
        .trim(),
        format!("refs/nix-incoming/nix/{h}")
    );
    let report = storage.receive(&config).await.unwrap();
    assert_eq!(report.published, Vec::<String>::new());
    assert_eq!(report.already, 2);
    let [(refused, reason)] = &report.refused[..] else {
        panic!("{report:?}")
    };
    assert_eq!(refused, &h);
    assert!(reason.contains("NAR hash mismatch"), "{reason}");
    assert_eq!(
        git(&second_repo, &["for-each-ref", &format!("refs/nix/{h}")]),
        ""
    );
    assert_eq!(
        get_from(&second, &format!("/{h}.narinfo")).await.0,
        StatusCode::NOT_FOUND
    );
    nothing_staged(&second_repo);

    // A push straight into the served refs is refused by the receiving repository.
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(&first.repo)
        .args(["push", second_repo.to_str().unwrap()])
        .arg(format!("refs/nix/{h}:refs/nix/{h}"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("refusing refs/nix/{h}")),
        "{stderr}"
    );
    assert_eq!(
        git(&second_repo, &["for-each-ref", &format!("refs/nix/{h}")]),
        ""
    );
    fsck(&second_repo);
    assert!(
        sender
            .push("--upload-pack=true")
            .await
            .unwrap_err()
            .to_string()
            .contains("bad destination")
    );
}

/// `push --to` and `replicate --incoming` on the command line.
#[tokio::test]
async fn the_command_line_pushes_and_verifies_what_was_pushed() {
    let first = open(|c| c);
    first.upload_golden("xz", TREE).await;
    first.upload_golden("xz", USER).await;
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror.git");
    let storage = format!("git:{}", mirror.display());
    let from = format!("git:{}", first.repo.display());
    // The receiving repository is made by the service (its hook and settings), then pushed to.
    let (ok, stdout, stderr) = run(&["replicate", "--storage", &storage, "--incoming"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l == "0 paths published, 0 already here, 0 refused"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = run(&["push", "--storage", &from, "--to", mirror.to_str().unwrap()]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.starts_with("2 paths and 0 listings and realisations pushed to "),
        "{stdout}"
    );
    let (ok, stdout, stderr) = run(&["replicate", "--storage", &storage, "--incoming"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l == "2 paths published, 0 already here, 0 refused"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("verified and published {TREE}")),
        "{stdout}"
    );
    assert_eq!(git(&mirror, &["for-each-ref", "refs/nix-incoming/"]), "");
    fsck(&mirror);
    let second = Service::open(Config::new(dir.path().join("work")).git(&mirror)).unwrap();
    for hash in [TREE, USER] {
        let (narinfo, nar) = first.fetch(hash).await;
        assert_eq!(
            get_from(&second, &format!("/{hash}.narinfo")).await,
            (StatusCode::OK, narinfo.clone().into_bytes())
        );
        assert_eq!(
            get_from(&second, &format!("/{}", field(&narinfo, "URL"))).await,
            (StatusCode::OK, nar)
        );
    }
    let (ok, _, stderr) = run(&["push", "--storage", &from, "--to=-x"]);
    assert!(!ok);
    assert!(stderr.contains("bad destination"), "{stderr}");
    let (ok, _, stderr) = run(&["replicate", "--storage", &storage]);
    assert!(!ok);
    assert!(stderr.contains("--incoming"), "{stderr}");
    let (ok, _, stderr) = run(&[
        "replicate",
        "--storage",
        &storage,
        "--incoming",
        "--from",
        first.repo.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

/// The receiving repository's `pre-receive` hook: an operator's own hook is kept as it is, an
/// earlier one of the cache replaced, and with the cache's a push outside
/// `refs/nix-incoming/` is refused while one into it is taken.
#[tokio::test]
async fn the_pre_receive_hook_is_the_caches_unless_the_operator_has_one() {
    let first = open(|c| c);
    first.upload_golden("xz", TREE).await;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("r.git");
    let init = Command::new("git")
        .args(["init", "--bare", "--quiet"])
        .arg(&repo)
        .status()
        .unwrap();
    assert!(init.success());
    let hook = repo.join("hooks/pre-receive");
    let push = |refspec: &str| {
        Command::new("git")
            .arg("--git-dir")
            .arg(&first.repo)
            .args(["push", "--quiet", repo.to_str().unwrap(), refspec])
            .output()
            .unwrap()
            .status
            .success()
    };
    let own = "#!/bin/sh\n# the operator's\nexit 0\n";
    std::fs::write(&hook, own).unwrap();
    GitStorage::open(&repo, &StoreDir::default(), Default::default(), 0).unwrap();
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), own);
    std::fs::write(
        &hook,
        "#!/bin/sh\n# nix-ingest-binary-cache: an earlier one\nexit 0\n",
    )
    .unwrap();
    GitStorage::open(&repo, &StoreDir::default(), Default::default(), 0).unwrap();
    assert_ne!(std::fs::read_to_string(&hook).unwrap(), own);
    let name = format!("refs/nix/{TREE}");
    assert!(!push(&format!("{name}:{name}")));
    assert!(!push(&format!("{name}:refs/nix-quarantine/nix/{TREE}")));
    assert!(!push(&format!("{name}:refs/nix-incoming/{TREE}")));
    assert_eq!(git(&repo, &["for-each-ref"]), "");
    assert!(push(&format!("{name}:refs/nix-incoming/nix/{TREE}")));
    assert_eq!(
        git(
            &repo,
            &["rev-parse", &format!("refs/nix-incoming/nix/{TREE}")]
        ),
        git(&first.repo, &["rev-parse", &name])
    );
}
