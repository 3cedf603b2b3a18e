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
    assert_eq!(
        git(&second_repo, &["for-each-ref", "refs/nix-quarantine/"]),
        ""
    );
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
    let report = storage
        .replicate(&config, first.repo.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(report.published, Vec::<String>::new());
    assert_eq!(report.refused.len(), 1, "{report:?}");
    assert_eq!(report.refused[0].0, h);
    assert_eq!(
        git(&second_repo, &["for-each-ref", &format!("refs/nix/{h}")]),
        ""
    );
    assert_eq!(
        git(&second_repo, &["for-each-ref", "refs/nix-quarantine/"]),
        ""
    );
}
