//! The service in process, driven through its router with what real Nix uploads (golden binary
//! caches written by `nix copy --to file://…`, see tests/data/make.sh) and with forgeries of it.
//! Every refusal must leave nothing published and nothing staged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use nix_ingest::hash::{Algorithm, Format, Hash};
use nix_ingest_binary_cache::{Config, Service};
use tower::ServiceExt;

const TREE: &str = "cc432xp6lgry29razhhyx93fm9jvs4ky";
const USER: &str = "yzn8r68yrggrggjz7cz0fx9sysqlh9ix";

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// One golden cache: narinfo texts by hash part, NAR files by name.
struct Golden {
    narinfos: BTreeMap<String, String>,
    nars: BTreeMap<String, Vec<u8>>,
}

impl Golden {
    fn load(compression: &str) -> Golden {
        let dir = data().join(compression);
        let mut narinfos = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if let Some(hash) = name.strip_suffix(".narinfo") {
                narinfos.insert(hash.to_owned(), std::fs::read_to_string(&path).unwrap());
            }
        }
        let mut nars = BTreeMap::new();
        for entry in std::fs::read_dir(dir.join("nar")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            nars.insert(name, std::fs::read(&path).unwrap());
        }
        Golden { narinfos, nars }
    }

    fn narinfo(&self, hash: &str) -> &str {
        &self.narinfos[hash]
    }

    /// The NAR file a narinfo names: (name, bytes).
    fn nar_of(&self, hash: &str) -> (String, Vec<u8>) {
        let url = field(self.narinfo(hash), "URL");
        let name = url.strip_prefix("nar/").unwrap().to_owned();
        let bytes = self.nars[&name].clone();
        (name, bytes)
    }
}

fn field<'a>(narinfo: &'a str, name: &str) -> &'a str {
    narinfo
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {name} in {narinfo}"))
}

fn set_field(narinfo: &str, name: &str, value: &str) -> String {
    narinfo
        .lines()
        .map(
            |l| match l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")) {
                Some(_) => format!("{name}: {value}\n"),
                None => format!("{l}\n"),
            },
        )
        .collect()
}

fn without_field(narinfo: &str, name: &str) -> String {
    narinfo
        .lines()
        .filter(|l| !l.starts_with(&format!("{name}:")))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn sha256_nix32(data: &[u8]) -> String {
    Hash::digest(Algorithm::Sha256, data).encode(Format::Nix32)
}

struct Cache {
    dir: tempfile::TempDir,
    service: Service,
}

impl Cache {
    fn new() -> Cache {
        Cache::with(|c| c)
    }

    fn with(configure: impl FnOnce(Config) -> Config) -> Cache {
        let dir = tempfile::tempdir().unwrap();
        let service = Service::open(configure(Config::new(dir.path().join("cache")))).unwrap();
        Cache { dir, service }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    async fn request(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let response = self.service.router().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    }

    async fn put(&self, uri: &str, body: impl Into<Vec<u8>>) -> (StatusCode, String) {
        let body = body.into();
        let request = Request::put(uri)
            .header("content-length", body.len())
            .body(Body::from(body))
            .unwrap();
        let (status, body) = self.request(request).await;
        (status, String::from_utf8(body).unwrap())
    }

    async fn get(&self, uri: &str) -> (StatusCode, Vec<u8>) {
        self.request(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// Uploads a path as `nix copy` does: its NAR file, then its narinfo.
    async fn upload(&self, golden: &Golden, hash: &str) -> (StatusCode, String) {
        let (name, nar) = golden.nar_of(hash);
        let (status, text) = self.put(&format!("/nar/{name}"), nar).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        self.put(&format!("/{hash}.narinfo"), golden.narinfo(hash))
            .await
    }

    /// The files published: every file under the root but nix-cache-info, the lock and the
    /// staging and temporary directories.
    fn published(&self) -> Vec<String> {
        files(&self.root())
            .into_iter()
            .filter(|f| {
                f != "nix-cache-info"
                    && f != ".lock"
                    && f != ".publish.lock"
                    && !f.starts_with(".staging/")
                    && !f.starts_with(".tmp/")
            })
            .collect()
    }

    fn staged(&self) -> Vec<String> {
        files(&self.root().join(".staging"))
    }

    fn assert_nothing_published(&self) {
        assert_eq!(self.published(), Vec::<String>::new());
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().to_str().unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

fn assert_refused(got: (StatusCode, String), status: StatusCode, needle: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert!(got.1.contains(needle), "{needle:?} not in {:?}", got.1);
}

#[tokio::test]
async fn accepts_and_serves_what_nix_copy_uploads_with_every_compression() {
    for compression in ["none", "xz", "bzip2", "zstd"] {
        let golden = Golden::load(compression);
        let cache = Cache::new();
        let (status, text) = cache.put("/nix-cache-info", "StoreDir: /nix/store\n").await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let (status, info) = cache.get("/nix-cache-info").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            String::from_utf8(info)
                .unwrap()
                .starts_with("StoreDir: /nix/store\n")
        );

        for hash in [TREE, USER] {
            let (status, text) = cache.upload(&golden, hash).await;
            assert_eq!(status, StatusCode::OK, "{compression} {hash}: {text}");
            assert!(text.contains("verified"), "{text}");
        }
        for hash in [TREE, USER] {
            // Served back as Nix wrote them, less the signature of a key this cache does not
            // trust.
            let (status, narinfo) = cache.get(&format!("/{hash}.narinfo")).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                String::from_utf8(narinfo).unwrap(),
                without_field(golden.narinfo(hash), "Sig")
            );
            let (name, nar) = golden.nar_of(hash);
            assert_eq!(
                cache.get(&format!("/nar/{name}")).await,
                (StatusCode::OK, nar)
            );
        }
        // The directory is itself a file:// cache: Nix's layout, nothing left in staging.
        let mut expected: Vec<String> = golden
            .narinfos
            .keys()
            .map(|h| format!("{h}.narinfo"))
            .chain(golden.nars.keys().map(|n| format!("nar/{n}")))
            .collect();
        expected.sort();
        assert_eq!(cache.published(), expected);
        assert_eq!(cache.staged(), Vec::<String>::new());
        // A second upload of a path already there changes nothing.
        let (status, text) = cache.upload(&golden, TREE).await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.contains("already"), "{text}");
    }
}

#[tokio::test]
async fn a_narinfo_needs_its_nar_and_its_references_first() {
    let golden = Golden::load("xz");
    let cache = Cache::new();
    assert_refused(
        cache
            .put(&format!("/{TREE}.narinfo"), golden.narinfo(TREE))
            .await,
        StatusCode::CONFLICT,
        "has not been uploaded",
    );
    let (name, nar) = golden.nar_of(USER);
    cache.put(&format!("/nar/{name}"), nar).await;
    assert_refused(
        cache
            .put(&format!("/{USER}.narinfo"), golden.narinfo(USER))
            .await,
        StatusCode::CONFLICT,
        "cc432xp6lgry29razhhyx93fm9jvs4ky-tree, which is not in this cache",
    );
    cache.assert_nothing_published();
    // Once the reference is there, the staged NAR is still waiting and is taken.
    assert_eq!(cache.upload(&golden, TREE).await.0, StatusCode::OK);
    let (status, text) = cache
        .put(&format!("/{USER}.narinfo"), golden.narinfo(USER))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
}

/// A forger who alters the NAR and recomputes every hash the narinfo has (FileHash, URL,
/// NarHash) but cannot change the content address without changing the store path.
#[tokio::test]
async fn a_tampered_nar_is_refused_even_with_consistent_hashes() {
    let golden = Golden::load("none");
    let (_, mut nar) = golden.nar_of(TREE);
    let at = nar.windows(5).position(|w| w == b"Hello").unwrap();
    nar[at] = b'J';
    let hash = sha256_nix32(&nar);
    let mut narinfo = golden.narinfo(TREE).to_owned();
    narinfo = set_field(&narinfo, "URL", &format!("nar/{hash}.nar"));
    narinfo = set_field(&narinfo, "FileHash", &format!("sha256:{hash}"));
    narinfo = set_field(&narinfo, "NarHash", &format!("sha256:{hash}"));

    let cache = Cache::new();
    let (status, text) = cache.put(&format!("/nar/{hash}.nar"), nar).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_refused(
        cache.put(&format!("/{TREE}.narinfo"), narinfo).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "content address mismatch",
    );
    cache.assert_nothing_published();
}

#[tokio::test]
async fn mismatched_nar_hash_and_sizes_are_refused() {
    let golden = Golden::load("xz");
    let original = golden.narinfo(TREE);
    let other = Hash::digest(Algorithm::Sha256, b"another NAR").to_prefixed(Format::Nix32);
    let nar_size: u64 = field(original, "NarSize").parse().unwrap();
    let file_size: u64 = field(original, "FileSize").parse().unwrap();
    for (narinfo, status, needle) in [
        (
            set_field(original, "NarHash", &other),
            StatusCode::UNPROCESSABLE_ENTITY,
            "NAR hash mismatch",
        ),
        (
            set_field(original, "NarSize", &(nar_size + 8).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "size mismatch",
        ),
        (
            set_field(original, "NarSize", &(nar_size - 8).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "longer than NarSize",
        ),
        (
            set_field(original, "FileSize", &(file_size + 1).to_string()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "FileSize",
        ),
    ] {
        let cache = Cache::new();
        let (name, nar) = golden.nar_of(TREE);
        cache.put(&format!("/nar/{name}"), nar).await;
        assert_refused(
            cache.put(&format!("/{TREE}.narinfo"), narinfo).await,
            status,
            needle,
        );
        cache.assert_nothing_published();
    }
}

#[tokio::test]
async fn a_content_address_must_make_the_store_path_it_is_uploaded_for() {
    let golden = Golden::load("zstd");
    let tree = golden.narinfo(TREE);
    let wrong_ca =
        "fixed:git:sha1:".to_owned() + &Hash::digest(Algorithm::Sha1, b"x").encode(Format::Nix32);
    // Another path's CA; the same CA under another name; a CA with a method Nix never gave it.
    let renamed = set_field(tree, "StorePath", &format!("/nix/store/{TREE}-other"));
    let recursive = set_field(tree, "CA", "fixed:r:sha1:la3lfhi53bg1wbnrla7ijbyxyx3nvvwy");
    let elsewhere = "0000000000000000000000000000000f";
    let moved = set_field(tree, "StorePath", &format!("/nix/store/{elsewhere}-tree"));
    let cases = [
        (TREE, set_field(tree, "CA", &wrong_ca), "is the address of"),
        (TREE, renamed, "is the address of"),
        (TREE, recursive, "is the address of"),
        (
            elsewhere,
            moved,
            "/nix/store/cc432xp6lgry29razhhyx93fm9jvs4ky-tree, not of",
        ),
    ];
    for (hash, narinfo, needle) in cases {
        let cache = Cache::new();
        let (name, nar) = golden.nar_of(TREE);
        cache.put(&format!("/nar/{name}"), nar).await;
        assert_refused(
            cache.put(&format!("/{hash}.narinfo"), narinfo).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            needle,
        );
        cache.assert_nothing_published();
    }
}

#[tokio::test]
async fn malformed_or_misnamed_narinfos_are_refused() {
    let golden = Golden::load("none");
    let tree = golden.narinfo(TREE);
    let cases = [
        (TREE, tree.replace("NarSize: ", "NarSize: x"), "NarSize"),
        (TREE, tree.replace("\n", "\r\n"), "narinfo"),
        (TREE, without_field(tree, "FileHash"), "no FileHash"),
        (TREE, set_field(tree, "Compression", "br"), "not supported"),
        (TREE, set_field(tree, "Compression", "xz"), "URL"),
        (TREE, set_field(tree, "URL", "nar/../../etc/passwd"), "URL"),
        (USER, tree.to_owned(), "uploaded as"),
        (TREE, "\u{0}\u{ff}".to_owned(), "narinfo"),
    ];
    for (hash, narinfo, needle) in cases {
        let cache = Cache::new();
        let (name, nar) = golden.nar_of(TREE);
        cache.put(&format!("/nar/{name}"), nar).await;
        assert_refused(
            cache.put(&format!("/{hash}.narinfo"), narinfo).await,
            StatusCode::BAD_REQUEST,
            needle,
        );
        cache.assert_nothing_published();
    }
}

#[tokio::test]
async fn a_path_without_content_address_needs_a_trusted_signature() {
    let golden = Golden::load("xz");
    // Nix signed these narinfos (tests/data/make.sh); the signature does not cover the CA, so
    // without it they are what a signed input-addressed path looks like.
    let key = std::fs::read_to_string(data().join("key.pub")).unwrap();
    let unaddressed = |hash: &str| without_field(golden.narinfo(hash), "CA");
    let other_key = "other-1:".to_owned() + &"A".repeat(43) + "=";

    let untrusting = Cache::new();
    let (name, nar) = golden.nar_of(TREE);
    untrusting.put(&format!("/nar/{name}"), nar.clone()).await;
    assert_refused(
        untrusting
            .put(&format!("/{TREE}.narinfo"), unaddressed(TREE))
            .await,
        StatusCode::FORBIDDEN,
        "it trusts none",
    );
    untrusting.assert_nothing_published();

    let trusting = Cache::with(|c| {
        c.trust(key.parse().unwrap())
            .trust(other_key.parse().unwrap())
    });
    // Unsigned, or signed over other data: refused.
    trusting.put(&format!("/nar/{name}"), nar.clone()).await;
    assert_refused(
        trusting
            .put(
                &format!("/{TREE}.narinfo"),
                without_field(&unaddressed(TREE), "Sig"),
            )
            .await,
        StatusCode::FORBIDDEN,
        "no valid signature",
    );
    let forged_size = set_field(&unaddressed(TREE), "NarSize", "904");
    assert_refused(
        trusting.put(&format!("/{TREE}.narinfo"), forged_size).await,
        StatusCode::FORBIDDEN,
        "no valid signature",
    );
    trusting.assert_nothing_published();
    // Signed by the trusted key: accepted, references and all.
    let (status, text) = trusting
        .put(&format!("/{TREE}.narinfo"), unaddressed(TREE))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("signed by nix-ingest-test-1"), "{text}");
    let (name, nar) = golden.nar_of(USER);
    trusting.put(&format!("/nar/{name}"), nar).await;
    let (status, text) = trusting
        .put(&format!("/{USER}.narinfo"), unaddressed(USER))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
}

#[tokio::test]
async fn a_signed_path_must_still_match_its_nar() {
    let golden = Golden::load("none");
    let key = std::fs::read_to_string(data().join("key.pub")).unwrap();
    let cache = Cache::with(|c| c.trust(key.parse().unwrap()));
    // The USER NAR under the TREE narinfo's claims (URL and FileHash rewritten to it).
    let (name, nar) = golden.nar_of(USER);
    let hash = name.strip_suffix(".nar").unwrap();
    let mut narinfo = without_field(golden.narinfo(TREE), "CA");
    narinfo = set_field(&narinfo, "URL", &format!("nar/{name}"));
    narinfo = set_field(&narinfo, "FileHash", &format!("sha256:{hash}"));
    narinfo = set_field(&narinfo, "FileSize", &nar.len().to_string());
    cache.put(&format!("/nar/{name}"), nar).await;
    let got = cache.put(&format!("/{TREE}.narinfo"), narinfo).await;
    assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", got.1);
    cache.assert_nothing_published();
}

#[tokio::test]
async fn bad_nar_uploads_are_refused_and_leave_no_trace() {
    let golden = Golden::load("none");
    let (name, nar) = golden.nar_of(TREE);
    let cache = Cache::with(|c| c.max_nar_size(nar.len() as u64));

    // Bytes that are not what the name says.
    let mut flipped = nar.clone();
    flipped[100] ^= 1;
    assert_refused(
        cache.put(&format!("/nar/{name}"), flipped).await,
        StatusCode::BAD_REQUEST,
        "not the",
    );
    // Over the limit, announced or not.
    let mut longer = nar.clone();
    longer.push(0);
    let long_name = format!("{}.nar", sha256_nix32(&longer));
    assert_refused(
        cache
            .put(&format!("/nar/{long_name}"), longer.clone())
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "limit",
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        longer.chunks(100).map(|c| Ok(c.to_vec())).collect();
    let request = Request::put(format!("/nar/{long_name}"))
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    assert_eq!(
        cache.request(request).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Cut short: the body fails half-way (a client killed mid-upload), or has fewer bytes than
    // its Content-Length.
    let half: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(nar[..400].to_vec()),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "gone",
        )),
    ];
    let request = Request::put(format!("/nar/{name}"))
        .body(Body::from_stream(futures_util::stream::iter(half)))
        .unwrap();
    let (status, text) = cache.request(request).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&text)
    );
    let unlimited = Cache::new();
    let request = Request::put(format!("/nar/{name}"))
        .header("content-length", nar.len() + 10)
        .body(Body::from(nar.clone()))
        .unwrap();
    assert_eq!(unlimited.request(request).await.0, StatusCode::BAD_REQUEST);
    unlimited.assert_nothing_published();
    assert_eq!(unlimited.staged(), Vec::<String>::new());
    // Encoded bodies.
    let request = Request::put(format!("/nar/{name}"))
        .header("content-encoding", "gzip")
        .body(Body::from(nar.clone()))
        .unwrap();
    assert_eq!(
        cache.request(request).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    cache.assert_nothing_published();
    assert_eq!(cache.staged(), Vec::<String>::new());
}

#[tokio::test]
async fn odd_names_are_refused() {
    let golden = Golden::load("none");
    let (name, nar) = golden.nar_of(TREE);
    let cache = Cache::new();
    for uri in [
        "/nar/..%2F..%2Fetc%2Fpasswd".to_owned(),
        "/nar/%2e%2e".to_owned(),
        format!("/nar/{name}.gz"),
        format!("/nar/{}", name.to_uppercase()),
        format!("/nar/{name}/x"),
        format!("/nar/..%2F{name}"),
        "/..%2Fnix-cache-info".to_owned(),
        format!("/{TREE}.narinfo%00"),
        format!("/x/{TREE}.narinfo"),
        "/log/x".to_owned(),
        "/realisations/x.doi".to_owned(),
        format!("/{TREE}.ls"),
    ] {
        let (status, text) = cache.put(&uri, nar.clone()).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "{uri}: {status} {text}"
        );
        let (status, _) = cache.get(&uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
    cache.assert_nothing_published();
    assert_eq!(cache.staged(), Vec::<String>::new());
    // Unknown names are 404 to GET, as Nix expects of a missing narinfo.
    assert_eq!(
        cache.get(&format!("/{TREE}.narinfo")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        cache.get(&format!("/nar/{name}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_nix_cache_info_for_another_store_is_refused() {
    let cache = Cache::new();
    assert_refused(
        cache.put("/nix-cache-info", "StoreDir: /gnu/store\n").await,
        StatusCode::CONFLICT,
        "/gnu/store",
    );
}

/// An xz file whose NAR goes on past NarSize (a decompression bomb) is cut off there.
#[tokio::test]
async fn decompression_stops_at_nar_size() {
    use tokio::io::AsyncWriteExt;
    let golden = Golden::load("none");
    let (_, nar) = golden.nar_of(TREE);
    let mut long = nar.clone();
    long.extend(std::iter::repeat_n(0u8, 8 << 20));
    let mut encoder = async_compression::tokio::write::XzEncoder::new(Vec::new());
    encoder.write_all(&long).await.unwrap();
    encoder.shutdown().await.unwrap();
    let xz = encoder.into_inner();
    assert!(xz.len() < 1 << 20);
    let hash = sha256_nix32(&xz);
    let mut narinfo = golden.narinfo(TREE).to_owned();
    narinfo = set_field(&narinfo, "URL", &format!("nar/{hash}.nar.xz"));
    narinfo = set_field(&narinfo, "Compression", "xz");
    narinfo = set_field(&narinfo, "FileHash", &format!("sha256:{hash}"));
    narinfo = set_field(&narinfo, "FileSize", &xz.len().to_string());
    let cache = Cache::new();
    cache.put(&format!("/nar/{hash}.nar.xz"), xz).await;
    assert_refused(
        cache.put(&format!("/{TREE}.narinfo"), narinfo).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "longer than NarSize",
    );
    cache.assert_nothing_published();
}

#[tokio::test]
async fn staged_nars_expire() {
    let golden = Golden::load("none");
    let cache = Cache::with(|c| c.staging_ttl(Duration::ZERO));
    let (name, nar) = golden.nar_of(TREE);
    cache.put(&format!("/nar/{name}"), nar).await;
    assert_eq!(cache.staged().len(), 1);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(cache.service.expire_staged(), 1);
    assert_eq!(cache.staged(), Vec::<String>::new());
    assert_refused(
        cache
            .put(&format!("/{TREE}.narinfo"), golden.narinfo(TREE))
            .await,
        StatusCode::CONFLICT,
        "has not been uploaded",
    );
}

#[tokio::test]
async fn the_staging_area_is_bounded() {
    let golden = Golden::load("none");
    let (tree_name, tree_nar) = golden.nar_of(TREE);
    let (user_name, user_nar) = golden.nar_of(USER);
    let cache = Cache::with(|c| c.max_staged_bytes(tree_nar.len() as u64 + 10));
    assert_eq!(
        cache.put(&format!("/nar/{tree_name}"), tree_nar).await.0,
        StatusCode::OK
    );
    assert_refused(
        cache
            .put(&format!("/nar/{user_name}"), user_nar.clone())
            .await,
        StatusCode::INSUFFICIENT_STORAGE,
        "full",
    );
    // Publishing frees the space.
    let (status, text) = cache
        .put(&format!("/{TREE}.narinfo"), golden.narinfo(TREE))
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        cache.put(&format!("/nar/{user_name}"), user_nar).await.0,
        StatusCode::OK
    );
}

/// Nix asks (HEAD) whether a NAR file is there before uploading it, and skips the upload if so:
/// a staged NAR is not there yet, a published one is, and a second path with the same NAR (the
/// same tree under another name) is verified against the published file.
#[tokio::test]
async fn a_published_nar_serves_a_second_path_and_a_staged_one_is_not_announced() {
    use nix_ingest::store_path::{References, StoreDir};
    let golden = Golden::load("xz");
    let cache = Cache::new();
    let (name, nar) = golden.nar_of(TREE);
    let head = |uri: String| Request::head(uri).body(Body::empty()).unwrap();
    cache.put(&format!("/nar/{name}"), nar).await;
    assert_eq!(
        cache.request(head(format!("/nar/{name}"))).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(cache.upload(&golden, TREE).await.0, StatusCode::OK);
    assert_eq!(
        cache.request(head(format!("/nar/{name}"))).await.0,
        StatusCode::OK
    );

    let ca = field(golden.narinfo(TREE), "CA").parse().unwrap();
    let store = StoreDir::default();
    let copy = store
        .make_path_from_ca("tree-copy", &ca, &References::default())
        .unwrap();
    let narinfo = set_field(
        golden.narinfo(TREE),
        "StorePath",
        &format!("/nix/store/{copy}"),
    );
    let (status, text) = cache
        .put(&format!("/{}.narinfo", copy.hash_part()), narinfo)
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("verified"), "{text}");
    // One NAR file, two narinfos.
    assert_eq!(cache.published().len(), 3, "{:?}", cache.published());
}

/// A content-addressed upload keeps only what the cache can vouch for: an unverifiable
/// `Deriver:` and `System:` are dropped, and a `Sig:` only stays if a trusted key made it over
/// the path's fingerprint.
#[tokio::test]
async fn unverifiable_fields_of_an_upload_are_dropped() {
    let golden = Golden::load("xz");
    let key = std::fs::read_to_string(data().join("key.pub")).unwrap();
    let with_extras = |hash: &str| {
        let mut text = golden.narinfo(hash).to_owned();
        text.push_str("Deriver: 7dck4g0ib1yb8jnmcfh1aw2cmzkvbzd0-forged.drv\n");
        text.push_str("System: x86_64-linux\n");
        text.push_str(&format!("Sig: forger-1:{}\n", "A".repeat(86) + "=="));
        text
    };
    for trusting in [false, true] {
        let cache = if trusting {
            Cache::with(|c| c.trust(key.parse().unwrap()))
        } else {
            Cache::new()
        };
        for hash in [TREE, USER] {
            let (name, nar) = golden.nar_of(hash);
            assert_eq!(
                cache.put(&format!("/nar/{name}"), nar).await.0,
                StatusCode::OK
            );
            let (status, text) = cache
                .put(&format!("/{hash}.narinfo"), with_extras(hash))
                .await;
            assert_eq!(status, StatusCode::OK, "{text}");
            let served = String::from_utf8(cache.get(&format!("/{hash}.narinfo")).await.1).unwrap();
            // Nix's own narinfo, with its signature only where the cache trusts Nix's key.
            let expected = if trusting {
                golden.narinfo(hash).to_owned()
            } else {
                without_field(golden.narinfo(hash), "Sig")
            };
            assert_eq!(served, expected, "trusting {trusting}");
        }
    }
}

/// GETs carry an ETag (the NAR file's hash, the hash of a narinfo's bytes), answer
/// `If-None-Match` with 304, serve byte ranges, and say how long they may be cached.
#[tokio::test]
async fn downloads_have_ranges_tags_and_cache_control() {
    let golden = Golden::load("none");
    let cache = Cache::new();
    assert_eq!(cache.upload(&golden, TREE).await.0, StatusCode::OK);
    let (name, nar) = golden.nar_of(TREE);
    let uri = format!("/nar/{name}");
    let response = cache
        .service
        .router()
        .oneshot(Request::get(&uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", name.strip_suffix(".nar").unwrap()));
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(response.headers()["content-type"], "application/x-nix-nar");

    let ranged = Request::get(&uri)
        .header("range", "bytes=10-19")
        .body(Body::empty())
        .unwrap();
    let response = cache.service.router().oneshot(ranged).await.unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes 10-19/{}", nar.len()).as_str()
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], &nar[10..20]);
    let tail = Request::get(&uri)
        .header("range", "bytes=-5")
        .body(Body::empty())
        .unwrap();
    let (status, body) = cache.request(tail).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &nar[nar.len() - 5..]);
    let past = Request::get(&uri)
        .header("range", format!("bytes={}-", nar.len() + 1))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        cache.request(past).await.0,
        StatusCode::RANGE_NOT_SATISFIABLE
    );

    for (uri, tag) in [
        (uri.clone(), etag.clone()),
        (
            format!("/{TREE}.narinfo"),
            format!(
                "\"{}\"",
                sha256_nix32(without_field(golden.narinfo(TREE), "Sig").as_bytes())
            ),
        ),
    ] {
        let again = Request::get(&uri)
            .header("if-none-match", &tag)
            .body(Body::empty())
            .unwrap();
        let response = cache.service.router().oneshot(again).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{uri}");
        assert_eq!(response.headers()["etag"], tag.as_str());
        let other = Request::get(&uri)
            .header("if-none-match", "\"something-else\"")
            .body(Body::empty())
            .unwrap();
        assert_eq!(cache.request(other).await.0, StatusCode::OK, "{uri}");
    }
    let response = cache
        .service
        .router()
        .oneshot(
            Request::get(format!("/{TREE}.narinfo"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
    assert_eq!(response.headers()["content-type"], "text/x-nix-narinfo");
    let response = cache
        .service
        .router()
        .oneshot(
            Request::get(format!("/{USER}.narinfo"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["cache-control"], "no-store");
}

/// A `.nar.xz` cut short is refused as truncated (xz itself calls it "out of memory").
#[tokio::test]
async fn a_truncated_compressed_nar_is_called_truncated() {
    for compression in ["xz", "bzip2", "zstd"] {
        let golden = Golden::load(compression);
        let (name, nar) = golden.nar_of(TREE);
        let cut = &nar[..nar.len() - 20];
        let hash = sha256_nix32(cut);
        let ext = name.split_once(".nar").unwrap().1;
        let mut narinfo = golden.narinfo(TREE).to_owned();
        narinfo = set_field(&narinfo, "URL", &format!("nar/{hash}.nar{ext}"));
        narinfo = set_field(&narinfo, "FileHash", &format!("sha256:{hash}"));
        narinfo = set_field(&narinfo, "FileSize", &cut.len().to_string());
        let cache = Cache::new();
        assert_eq!(
            cache.put(&format!("/nar/{hash}.nar{ext}"), cut).await.0,
            StatusCode::OK
        );
        let (status, text) = cache.put(&format!("/{TREE}.narinfo"), narinfo).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{compression}: {text}"
        );
        assert!(text.contains("is truncated"), "{compression}: {text}");
        assert!(!text.contains("memory"), "{compression}: {text}");
        cache.assert_nothing_published();
    }
}

/// A body that trickles in, one byte at a time, never silent for long.
fn trickle(every: Duration) -> Body {
    Body::from_stream(futures_util::stream::unfold((), move |()| async move {
        tokio::time::sleep(every).await;
        Some((Ok::<_, std::io::Error>(vec![b'x']), ()))
    }))
}

/// Staging space is taken as bytes arrive, not as a Content-Length announces; a body must
/// arrive whole within the request deadline however steadily it trickles; uploads share one
/// bound across routes.
#[tokio::test]
async fn announced_lengths_reserve_nothing_and_slow_bodies_are_cut_off() {
    let golden = Golden::load("none");
    let (name, nar) = golden.nar_of(TREE);
    let cache = std::sync::Arc::new(Cache::with(|c| {
        c.max_staged_bytes(nar.len() as u64 * 2)
            .request_timeout(Duration::from_millis(1500))
            .body_timeout(Duration::from_millis(500))
            .max_uploads(2)
    }));
    // Two uploads announcing far more than the staging area holds would be refused at once
    // (507); announcing just under it, and sending a byte now and then, holds nothing.
    let mut attackers = Vec::new();
    for _ in 0..2 {
        let cache = std::sync::Arc::clone(&cache);
        let name = name.clone();
        let announced = nar.len() * 2 - 1;
        attackers.push(tokio::spawn(async move {
            let request = Request::put(format!("/nar/{name}"))
                .header("content-length", announced)
                .body(trickle(Duration::from_millis(100)))
                .unwrap();
            let started = std::time::Instant::now();
            let (status, body) = cache.request(request).await;
            (status, String::from_utf8(body).unwrap(), started.elapsed())
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Both upload slots are busy: a genuine upload waits for one, up to the body timeout.
    assert_refused(
        cache
            .put(&format!("/{TREE}.narinfo"), golden.narinfo(TREE))
            .await,
        StatusCode::SERVICE_UNAVAILABLE,
        "upload slots",
    );
    for attacker in attackers {
        let (status, text, took) = attacker.await.unwrap();
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{text}");
        assert!(text.contains("did not arrive whole within"), "{text}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    assert_eq!(cache.staged(), Vec::<String>::new());
    // The slots and the staging space are free again: the genuine upload goes through.
    let (status, text) = cache.upload(&golden, TREE).await;
    assert_eq!(status, StatusCode::OK, "{text}");

    // While one upload trickles, announcing almost all the space, the other slot still takes a
    // real upload: nothing was reserved on the announcement's word.
    let fresh = std::sync::Arc::new(Cache::with(|c| {
        c.max_staged_bytes(nar.len() as u64 * 2)
            .request_timeout(Duration::from_secs(3))
            .max_uploads(2)
    }));
    let slow = {
        let fresh = std::sync::Arc::clone(&fresh);
        let name = name.clone();
        let announced = nar.len() * 2;
        tokio::spawn(async move {
            let request = Request::put(format!("/nar/{name}"))
                .header("content-length", announced)
                .body(trickle(Duration::from_millis(100)))
                .unwrap();
            fresh.request(request).await.0
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, text) = fresh.upload(&golden, TREE).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(slow.await.unwrap(), StatusCode::REQUEST_TIMEOUT);
    // An announcement that could never fit is refused before a byte is read.
    let request = Request::put(format!("/nar/{}.nar", sha256_nix32(b"another")))
        .header("content-length", 8u64 << 30)
        .body(trickle(Duration::from_secs(60)))
        .unwrap();
    let got = fresh.request(request).await;
    assert_eq!(got.0, StatusCode::INSUFFICIENT_STORAGE);
}

/// A second service on the same directory refuses to open (it would delete the first one's
/// staged uploads).
#[tokio::test]
async fn one_service_per_directory() {
    let golden = Golden::load("none");
    let cache = Cache::new();
    let (name, nar) = golden.nar_of(TREE);
    assert_eq!(
        cache.put(&format!("/nar/{name}"), nar).await.0,
        StatusCode::OK
    );
    let err = Service::open(Config::new(cache.root())).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err}");
    assert!(err.to_string().contains("another server"), "{err}");
    // The first one's staged NAR is still there.
    assert_eq!(cache.staged().len(), 1);
}

/// The Argon2id hash of "correct horse" by the reference implementation (Debian's `argon2`):
/// `printf 'correct horse' | argon2 nix-ingest-salt -id -e -t 2 -m 12 -p 1`.
const BOB_HASH: &str = "$argon2id$v=19$m=4096,t=2,p=1$bml4LWluZ2VzdC1zYWx0$vpvpfLXHjxO3duqD5YWOMny85eGj9SMu1wPCPkmT398";

fn users() -> nix_ingest_binary_cache::auth::Users {
    format!("# test users\nalice:plain secret\nbob:{BOB_HASH}\n")
        .parse()
        .unwrap()
}

fn basic(user: &str, password: &str) -> String {
    use data_encoding::BASE64;
    format!(
        "Basic {}",
        BASE64.encode(format!("{user}:{password}").as_bytes())
    )
}

async fn put_as(
    cache: &Cache,
    uri: &str,
    body: Vec<u8>,
    auth: Option<&str>,
) -> (StatusCode, String) {
    let mut request = Request::put(uri).header("content-length", body.len());
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let (status, body) = cache.request(request.body(Body::from(body)).unwrap()).await;
    (status, String::from_utf8(body).unwrap())
}

async fn get_as(cache: &Cache, uri: &str, auth: Option<&str>) -> StatusCode {
    let mut request = Request::get(uri);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    cache.request(request.body(Body::empty()).unwrap()).await.0
}

/// With users, an upload needs the credentials of one (Basic as Nix sends from a netrc file, or
/// Bearer user:password), checked against a plain password or an Argon2 hash; refusals are 401
/// and keep nothing. Reads stay open unless the cache is private.
#[tokio::test]
async fn uploads_need_credentials() {
    let golden = Golden::load("xz");
    let (name, nar) = golden.nar_of(TREE);
    let nar_uri = format!("/nar/{name}");
    let narinfo_uri = format!("/{TREE}.narinfo");
    let cache = Cache::with(|c| c.users(users()));
    let wrong = [
        None,
        Some(basic("alice", "plain secreT")),
        Some(basic("bob", "correct horsе")),
        Some(basic("mallory", "plain secret")),
        Some("Bearer alice".to_owned()),
        Some("Bearer bob:wrong".to_owned()),
        Some("Digest username=alice".to_owned()),
        Some("Basic !!!".to_owned()),
    ];
    for auth in &wrong {
        let request = Request::put(&nar_uri).header("content-length", nar.len());
        let request = match auth {
            Some(a) => request.header("authorization", a),
            None => request,
        };
        let response = cache
            .service
            .router()
            .oneshot(request.body(Body::from(nar.clone())).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"nix-ingest-binary-cache\"",
        );
        let (status, _) = put_as(
            &cache,
            &narinfo_uri,
            golden.narinfo(TREE).into(),
            auth.as_deref(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
    }
    assert_eq!(cache.staged(), Vec::<String>::new());
    cache.assert_nothing_published();
    // Reading is open.
    assert_eq!(
        get_as(&cache, "/nix-cache-info", None).await,
        StatusCode::OK
    );

    // alice with Basic and a plain password, bob with Bearer and a hashed one (twice: the second
    // time from memory).
    let (status, text) = put_as(
        &cache,
        &nar_uri,
        nar.clone(),
        Some(&basic("alice", "plain secret")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    for _ in 0..2 {
        let (status, text) = put_as(
            &cache,
            &narinfo_uri,
            golden.narinfo(TREE).into(),
            Some("Bearer bob:correct horse"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    assert_eq!(get_as(&cache, &narinfo_uri, None).await, StatusCode::OK);
    assert_eq!(get_as(&cache, &nar_uri, None).await, StatusCode::OK);

    // A private cache wants credentials to read too.
    let private = Cache::with(|c| c.users(users()).private(true));
    let (status, _) = put_as(
        &private,
        &nar_uri,
        nar.clone(),
        Some(&basic("bob", "correct horse")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = put_as(
        &private,
        &narinfo_uri,
        golden.narinfo(TREE).into(),
        Some(&basic("bob", "correct horse")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for uri in ["/nix-cache-info", &narinfo_uri, &nar_uri] {
        assert_eq!(
            get_as(&private, uri, None).await,
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );
        assert_eq!(
            get_as(&private, uri, Some(&basic("alice", "wrong"))).await,
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );
        assert_eq!(
            get_as(&private, uri, Some(&basic("alice", "plain secret"))).await,
            StatusCode::OK,
            "{uri}"
        );
    }
}

/// A hash made by `hash-password` authenticates its password and no other.
#[tokio::test]
async fn hashed_passwords_from_the_tool_work() {
    let hash = nix_ingest_binary_cache::auth::hash_password("tr0ub4dor").unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let users: nix_ingest_binary_cache::auth::Users = format!("carol:{hash}").parse().unwrap();
    let cache = Cache::with(|c| c.users(users));
    let (status, _) = put_as(
        &cache,
        "/nix-cache-info",
        b"StoreDir: /nix/store\n".to_vec(),
        Some(&basic("carol", "tr0ub4dor")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = put_as(
        &cache,
        "/nix-cache-info",
        b"StoreDir: /nix/store\n".to_vec(),
        Some(&basic("carol", "tr0ub4do")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn malformed_auth_files_are_refused_with_their_line() {
    use nix_ingest_binary_cache::auth::Users;
    for (text, line, needle) in [
        ("alice:x\nbob\n", 2, "user:password"),
        ("alice:x\n\n:x\n", 3, "empty"),
        ("alice:x\nalice:y\n", 2, "already"),
        ("# c\nbob:$argon2id$v=19$nonsense\n", 2, "PHC"),
    ] {
        let err = text.parse::<Users>().unwrap_err();
        assert_eq!(err.line, line, "{text:?}: {err}");
        assert!(err.to_string().contains(needle), "{text:?}: {err}");
    }
}

fn field_values<'a>(narinfo: &'a str, name: &str) -> Vec<&'a str> {
    narinfo
        .lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .collect()
}

/// With a signing key (made by `nix key generate-secret`, tests/data/cache-key.sec), every path
/// the cache accepts carries its signature, which verifies under the public key Nix derived
/// from it (`nix key convert-secret-to-public`); uploader signatures stay only if trusted.
#[tokio::test]
async fn accepted_paths_are_signed_by_the_cache() {
    use nix_ingest::store_path::StoreDir;
    use nix_ingest_binary_cache::signature::{PublicKey, SecretKey, Signature, TrustedKeys};
    let secret: SecretKey = std::fs::read_to_string(data().join("cache-key.sec"))
        .unwrap()
        .parse()
        .unwrap();
    let nix_public = std::fs::read_to_string(data().join("cache-key.pub")).unwrap();
    assert_eq!(secret.public().to_string(), nix_public.trim());
    let public: PublicKey = nix_public.parse().unwrap();
    let uploader: PublicKey = std::fs::read_to_string(data().join("key.pub"))
        .unwrap()
        .parse()
        .unwrap();
    let store = StoreDir::default();
    let verifies = |narinfo: &str, key: &PublicKey| {
        let info = nix_ingest::narinfo::NarInfo::parse(narinfo, &store).unwrap();
        let fp = info.fingerprint();
        let sigs: Vec<Signature> = info.signatures.iter().map(|s| s.parse().unwrap()).collect();
        let mut keys = TrustedKeys::default();
        keys.insert(key.clone());
        keys.verify(&fp, &sigs).is_some()
    };
    let golden = Golden::load("zstd");
    for trust_uploader in [false, true] {
        let cache = Cache::with(|c| {
            let c = c.sign_with(secret.clone());
            if trust_uploader {
                c.trust(uploader.clone())
            } else {
                c
            }
        });
        for hash in [TREE, USER] {
            assert_eq!(cache.upload(&golden, hash).await.0, StatusCode::OK);
            let served = String::from_utf8(cache.get(&format!("/{hash}.narinfo")).await.1).unwrap();
            assert_eq!(
                without_field(&served, "Sig"),
                without_field(golden.narinfo(hash), "Sig")
            );
            let sigs = field_values(&served, "Sig");
            assert_eq!(sigs.len(), if trust_uploader { 2 } else { 1 }, "{served}");
            assert!(
                sigs.iter()
                    .any(|s| s.starts_with("nix-ingest-cache-test-1:")),
                "{served}"
            );
            assert!(verifies(&served, &public), "{served}");
            assert_eq!(verifies(&served, &uploader), trust_uploader, "{served}");
        }
    }
    // A path without CA, accepted on the uploader's trusted signature, is signed too.
    let golden = Golden::load("none");
    let cache = Cache::with(|c| c.sign_with(secret.clone()).trust(uploader.clone()));
    let (name, nar) = golden.nar_of(TREE);
    cache.put(&format!("/nar/{name}"), nar).await;
    let unaddressed = without_field(golden.narinfo(TREE), "CA");
    let (status, text) = cache
        .put(&format!("/{TREE}.narinfo"), unaddressed.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let served = String::from_utf8(cache.get(&format!("/{TREE}.narinfo")).await.1).unwrap();
    assert!(verifies(&served, &public), "{served}");
    assert!(verifies(&served, &uploader), "{served}");
    assert_eq!(field_values(&served, "CA"), Vec::<&str>::new());
}

#[test]
fn a_malformed_secret_key_is_refused_without_echoing_it() {
    use nix_ingest_binary_cache::signature::SecretKey;
    let public = std::fs::read_to_string(data().join("cache-key.pub")).unwrap();
    // A public key where a secret one belongs: 32 bytes, not 64.
    assert!(
        public
            .parse::<SecretKey>()
            .unwrap_err()
            .to_string()
            .contains("expected 64")
    );
    let secret = std::fs::read_to_string(data().join("cache-key.sec")).unwrap();
    let broken = secret.trim().replace('=', "!");
    let err = broken.parse::<SecretKey>().unwrap_err().to_string();
    assert!(!err.contains(&broken[30..]), "{err}");
    // The public half that does not belong to the secret one.
    let (name, b64) = secret.trim().split_once(':').unwrap();
    let mut bytes = data_encoding::BASE64.decode(b64.as_bytes()).unwrap();
    bytes[40] ^= 1;
    let mismatched = format!("{name}:{}", data_encoding::BASE64.encode(&bytes));
    assert!(mismatched.parse::<SecretKey>().is_err());
}

/// `/metrics` counts uploads by kind, outcome and status, the bytes received, and their
/// durations, in Prometheus's text format.
#[tokio::test]
async fn metrics_count_uploads_by_outcome() {
    let golden = Golden::load("none");
    let cache = Cache::with(|c| c.users(users()));
    let alice = basic("alice", "plain secret");
    let (name, nar) = golden.nar_of(TREE);
    let nar_len = nar.len();
    assert_eq!(
        put_as(&cache, &format!("/nar/{name}"), nar, Some(&alice))
            .await
            .0,
        StatusCode::OK
    );
    let forged = set_field(golden.narinfo(TREE), "NarSize", "1");
    assert_eq!(
        put_as(
            &cache,
            &format!("/{TREE}.narinfo"),
            forged.into(),
            Some(&alice)
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        put_as(
            &cache,
            &format!("/{TREE}.narinfo"),
            golden.narinfo(TREE).into(),
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        put_as(
            &cache,
            &format!("/{TREE}.narinfo"),
            golden.narinfo(TREE).into(),
            Some(&alice)
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, body) = cache.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    for line in [
        "# TYPE nix_ingest_binary_cache_uploads counter".to_owned(),
        r#"nix_ingest_binary_cache_uploads_total{kind="nar",outcome="accepted",status="200"} 1"#.to_owned(),
        r#"nix_ingest_binary_cache_uploads_total{kind="narinfo",outcome="accepted",status="200"} 1"#.to_owned(),
        r#"nix_ingest_binary_cache_uploads_total{kind="narinfo",outcome="refused",status="422"} 1"#.to_owned(),
        r#"nix_ingest_binary_cache_uploads_total{kind="narinfo",outcome="refused",status="401"} 1"#.to_owned(),
        format!("nix_ingest_binary_cache_upload_bytes_total {nar_len}"),
        r#"nix_ingest_binary_cache_upload_seconds_count{kind="narinfo"} 3"#.to_owned(),
        "nix_ingest_binary_cache_staged_bytes 0".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
}

/// A user's own key signs what that user uploads (besides the cache's key), so a reader can
/// trust some uploaders and not others.
#[tokio::test]
async fn a_users_key_signs_only_that_users_uploads() {
    use nix_ingest::store_path::StoreDir;
    use nix_ingest_binary_cache::signature::{PublicKey, SecretKey, Signature, TrustedKeys};
    // Nix's key, under another name, as alice's key: made by `nix key generate-secret`.
    let alice_key: SecretKey = std::fs::read_to_string(data().join("cache-key.sec"))
        .unwrap()
        .parse()
        .unwrap();
    let alice_public: PublicKey = std::fs::read_to_string(data().join("cache-key.pub"))
        .unwrap()
        .parse()
        .unwrap();
    let golden = Golden::load("xz");
    let cache = Cache::with(|c| c.users(users()).sign_for_user("alice", alice_key.clone()));
    let store = StoreDir::default();
    let signed_by_alice = |narinfo: &str| {
        let info = nix_ingest::narinfo::NarInfo::parse(narinfo, &store).unwrap();
        let fp = info.fingerprint();
        let sigs: Vec<Signature> = info.signatures.iter().map(|s| s.parse().unwrap()).collect();
        let mut keys = TrustedKeys::default();
        keys.insert(alice_public.clone());
        keys.verify(&fp, &sigs).is_some()
    };
    for (hash, who) in [
        (TREE, basic("alice", "plain secret")),
        (USER, basic("bob", "correct horse")),
    ] {
        let (name, nar) = golden.nar_of(hash);
        assert_eq!(
            put_as(&cache, &format!("/nar/{name}"), nar, Some(&who))
                .await
                .0,
            StatusCode::OK
        );
        let (status, text) = put_as(
            &cache,
            &format!("/{hash}.narinfo"),
            golden.narinfo(hash).into(),
            Some(&who),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    let tree = String::from_utf8(cache.get(&format!("/{TREE}.narinfo")).await.1).unwrap();
    let user = String::from_utf8(cache.get(&format!("/{USER}.narinfo")).await.1).unwrap();
    assert!(signed_by_alice(&tree), "{tree}");
    assert!(!signed_by_alice(&user), "{user}");
    assert_eq!(field_values(&user, "Sig"), Vec::<&str>::new());
}
