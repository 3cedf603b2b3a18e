//! NAR listings (`<hash>.ls`) and realisations (`realisations/<id>.doi`) through the service in
//! process, with what real Nix 2.34.8 wrote with `nix copy --to 'file://…?write-nar-listing=1'`
//! (the root crate's tests/data/formats/2.34, made by its gen.sh: five paths, one the output of
//! a content-addressed derivation whose realisation the test key signed).

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use nix_ingest_binary_cache::signature::PublicKey;
use nix_ingest_binary_cache::{Config, Service};
use tower::ServiceExt;

/// The paths of the golden cache, references first.
const A: &str = "kmmkrxlfw7rbwdnaj9js21xg9m42q8kw";
const TREE: &str = "cdqar1prp1xbqcldsafm9yaw6n4dq1yz";
const HELLO: &str = "8zv8i345w2xn27jrxj4cyjc6x3b4am1q";
const REFS: &str = "hlm81fny491fq6ip5mv65l2m9apc5ljs";
const CA_OUT: &str = "941dch0f2ccgxzmnw4b685pxqh0b9838";
const ALL: [&str; 5] = [A, TREE, HELLO, REFS, CA_OUT];
const DOI: &str = "sha256:39edd3b8ba7593cc36f9dc008f86be0e4a6875fbcd16c14e386e50856ef856a7!out.doi";

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/formats")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(golden().join(rel)).unwrap()
}

fn narinfo(hash: &str) -> String {
    String::from_utf8(read(&format!("2.34/cache/{hash}.narinfo"))).unwrap()
}

fn listing(hash: &str) -> Vec<u8> {
    read(&format!("2.34/cache/{hash}.ls"))
}

fn key() -> PublicKey {
    String::from_utf8(read("key.pub"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

struct Cache {
    dir: tempfile::TempDir,
    service: Service,
    /// The `Authorization` header of uploads.
    auth: Option<String>,
}

impl Cache {
    fn new(trusting: bool) -> Cache {
        Cache::with(|c| if trusting { c.trust(key()) } else { c }, None)
    }

    fn with(config: impl FnOnce(Config) -> Config, auth: Option<String>) -> Cache {
        let dir = tempfile::tempdir().unwrap();
        let config = config(Config::new(dir.path().join("cache")));
        Cache {
            service: Service::open(config).unwrap(),
            dir,
            auth,
        }
    }

    fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join("cache").join(rel)
    }

    async fn request(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let response = self.service.router().oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    }

    async fn put(&self, uri: &str, body: impl Into<Vec<u8>>) -> (StatusCode, String) {
        self.put_as(uri, body, self.auth.as_deref()).await
    }

    async fn put_as(
        &self,
        uri: &str,
        body: impl Into<Vec<u8>>,
        auth: Option<&str>,
    ) -> (StatusCode, String) {
        let body = body.into();
        let mut request = Request::put(uri).header("content-length", body.len());
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let request = request.body(Body::from(body)).unwrap();
        let (status, body) = self.request(request).await;
        (status, String::from_utf8(body).unwrap())
    }

    async fn get(&self, uri: &str) -> (StatusCode, Vec<u8>) {
        self.request(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// Uploads a path as `nix copy --to 'http://…?write-nar-listing=1'` does: listing, NAR,
    /// narinfo. `listing` replaces Nix's listing.
    async fn upload(&self, hash: &str, listing: Option<Vec<u8>>) {
        let ls = listing.unwrap_or_else(|| self::listing(hash));
        let (status, text) = self.put(&format!("/{hash}.ls"), ls).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let info = narinfo(hash);
        let url = info
            .lines()
            .find_map(|l| l.strip_prefix("URL: "))
            .unwrap()
            .to_owned();
        let (status, text) = self
            .put(&format!("/{url}"), read(&format!("2.34/cache/{url}")))
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let (status, text) = self.put(&format!("/{hash}.narinfo"), info).await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
}

fn assert_refused(got: (StatusCode, String), status: StatusCode, needle: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert!(got.1.contains(needle), "{needle:?} not in {:?}", got.1);
}

/// Listings uploaded before their paths (as Nix does) are kept once the NAR shows them right,
/// and served as Nix wrote them.
#[tokio::test]
async fn listings_uploaded_as_nix_does_are_kept_and_served() {
    let cache = Cache::new(false);
    for hash in ALL {
        cache.upload(hash, None).await;
        let (status, body) = cache.get(&format!("/{hash}.ls")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, listing(hash), "{hash}");
    }
    // Uploaded again after the narinfo: checked at once, already there.
    let (status, text) = cache.put(&format!("/{TREE}.ls"), listing(TREE)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
}

/// A listing that does not match the NAR: refused when the NAR is there, dropped when it comes.
#[tokio::test]
async fn mismatching_listings_are_refused_or_dropped() {
    let cache = Cache::new(false);
    let wrong = String::from_utf8(listing(TREE)).unwrap().replace(
        r#""foo":{"narOffset":1776,"size":13"#,
        r#""foo":{"narOffset":1776,"size":14"#,
    );
    assert_ne!(wrong.as_bytes(), listing(TREE));
    // Before the path: held, then dropped.
    cache.upload(TREE, Some(wrong.clone().into_bytes())).await;
    assert!(!cache.file(&format!("{TREE}.ls")).exists());
    assert_eq!(
        cache.get(&format!("/{TREE}.ls")).await.0,
        StatusCode::NOT_FOUND
    );
    // After: refused, naming the difference.
    assert_refused(
        cache.put(&format!("/{TREE}.ls"), wrong).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#""/foo" is listed as a file of 14 bytes at NAR offset 1776, the NAR has a file of 13 bytes"#,
    );
    // An entry the NAR does not have.
    let extra = String::from_utf8(listing(TREE)).unwrap().replace(
        r#""link":"#,
        r#""extra":{"target":"x","type":"symlink"},"link":"#,
    );
    assert_refused(
        cache.put(&format!("/{TREE}.ls"), extra).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        r#""/extra" is not in the NAR"#,
    );
    assert!(!cache.file(&format!("{TREE}.ls")).exists());
    // Not a listing at all.
    assert_refused(
        cache.put(&format!("/{TREE}.ls"), "{\"version\":1}").await,
        StatusCode::BAD_REQUEST,
        "not a NAR listing",
    );
    // Nix's own is then kept.
    let (status, text) = cache.put(&format!("/{TREE}.ls"), listing(TREE)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        std::fs::read(cache.file(&format!("{TREE}.ls"))).unwrap(),
        listing(TREE)
    );
}

/// The realisation Nix uploaded is kept once its output is held and its signature verifies
/// under the trusted key, and served as Nix wrote it.
#[tokio::test]
async fn realisations_need_their_output_and_a_trusted_signature() {
    let doi = read(&format!("2.34/cache/realisations/{DOI}"));
    let uri = format!("/realisations/{DOI}");

    let cache = Cache::new(true);
    for hash in [A, TREE, HELLO, REFS] {
        cache.upload(hash, None).await;
    }
    assert_refused(
        cache.put(&uri, doi.clone()).await,
        StatusCode::CONFLICT,
        "its output /nix/store/941dch0f2ccgxzmnw4b685pxqh0b9838-ca-out is not in this cache",
    );
    cache.upload(CA_OUT, None).await;
    // Pointing at another path it holds: the signature does not cover that.
    let forged = String::from_utf8(doi.clone()).unwrap().replace(
        "941dch0f2ccgxzmnw4b685pxqh0b9838-ca-out",
        "cdqar1prp1xbqcldsafm9yaw6n4dq1yz-tree",
    );
    assert_refused(
        cache.put(&uri, forged).await,
        StatusCode::FORBIDDEN,
        "not signed by a key this cache trusts: it is signed by nix-ingest-test-1 only",
    );
    // Uploaded under another id.
    let other = DOI.replace("!out", "!dev");
    assert_refused(
        cache
            .put(&format!("/realisations/{other}"), doi.clone())
            .await,
        StatusCode::BAD_REQUEST,
        "but was uploaded as",
    );
    assert_eq!(cache.get(&uri).await.0, StatusCode::NOT_FOUND);
    let (status, text) = cache.put(&uri, doi.clone()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("signed by nix-ingest-test-1"), "{text}");
    assert_eq!(cache.get(&uri).await, (StatusCode::OK, doi.clone()));
    let (status, text) = cache.put(&uri, doi.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("already"), "{text}");

    // A cache that trusts no key keeps no realisation.
    let untrusting = Cache::new(false);
    for hash in ALL {
        untrusting.upload(hash, None).await;
    }
    assert_refused(
        untrusting.put(&uri, doi).await,
        StatusCode::FORBIDDEN,
        "not signed by a key this cache trusts",
    );
    assert!(!untrusting.file(&format!("realisations/{DOI}")).exists());
    assert_refused(
        untrusting.put("/realisations/not-an-id.doi", "{}").await,
        StatusCode::BAD_REQUEST,
        "not-an-id",
    );
}

/// With an auth file, listings and realisations are uploads like any other: refused (401,
/// nothing kept or held) without credentials, kept with them, and counted in `/metrics`. A
/// garbage collection removes a collected path's listing and the realisations whose output it
/// was, and keeps those of the paths it keeps.
#[tokio::test]
async fn listings_and_realisations_need_credentials_and_go_with_their_paths() {
    use std::time::{Duration, SystemTime};

    use nix_ingest_binary_cache::gc::{Policy, collect};

    let users: nix_ingest_binary_cache::auth::Users = "alice:plain secret\n".parse().unwrap();
    let alice = format!(
        "Basic {}",
        data_encoding::BASE64.encode(b"alice:plain secret")
    );
    let cache = Cache::with(|c| c.trust(key()).users(users), Some(alice));
    let doi = read(&format!("2.34/cache/realisations/{DOI}"));
    let uri = format!("/realisations/{DOI}");

    // Without credentials, before and after the path: refused, nothing held for later.
    assert_refused(
        cache.put_as(&format!("/{A}.ls"), listing(A), None).await,
        StatusCode::UNAUTHORIZED,
        "uploading needs the credentials of a user of this cache",
    );
    cache.upload(A, Some(listing(A))).await;
    assert!(cache.file(&format!("{A}.ls")).exists());
    for hash in [TREE, HELLO, REFS] {
        cache.upload(hash, None).await;
    }
    // A path uploaded without its listing, whose listing then comes without credentials.
    let info = narinfo(CA_OUT);
    let url = info
        .lines()
        .find_map(|l| l.strip_prefix("URL: "))
        .unwrap()
        .to_owned();
    assert_eq!(
        cache
            .put(&format!("/{url}"), read(&format!("2.34/cache/{url}")))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        cache.put(&format!("/{CA_OUT}.narinfo"), info).await.0,
        StatusCode::OK
    );
    assert_refused(
        cache
            .put_as(&format!("/{CA_OUT}.ls"), listing(CA_OUT), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "uploading needs",
    );
    assert_refused(
        cache
            .put_as(&uri, doi.clone(), Some("Basic YWxpY2U6d3Jvbmc="))
            .await,
        StatusCode::UNAUTHORIZED,
        "uploading needs",
    );
    assert!(!cache.file(&format!("{CA_OUT}.ls")).exists());
    assert!(!cache.file(&format!("realisations/{DOI}")).exists());
    // With them: kept, and served to anyone (the cache is not private).
    assert_eq!(
        cache.put(&format!("/{CA_OUT}.ls"), listing(CA_OUT)).await.0,
        StatusCode::OK
    );
    let (status, text) = cache.put(&uri, doi.clone()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(cache.get(&uri).await, (StatusCode::OK, doi.clone()));
    assert_eq!(
        cache.get(&format!("/{CA_OUT}.ls")).await,
        (StatusCode::OK, listing(CA_OUT))
    );

    let (status, metrics) = cache.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let metrics = String::from_utf8(metrics).unwrap();
    for line in [
        r#"kind="listing",outcome="accepted",status="200""#,
        r#"kind="listing",outcome="refused",status="401""#,
        r#"kind="realisation",outcome="accepted",status="200""#,
        r#"kind="realisation",outcome="refused",status="401""#,
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }

    // Every path but the realisation's output last read two days ago: collected with their
    // listings; the output, its listing and its realisation stay.
    let root = cache.file("");
    for hash in [A, TREE, HELLO, REFS] {
        let file = std::fs::File::options()
            .write(true)
            .open(root.join(format!("{hash}.narinfo")))
            .unwrap();
        file.set_times(
            std::fs::FileTimes::new()
                .set_modified(SystemTime::now() - Duration::from_secs(2 * 86400)),
        )
        .unwrap();
    }
    let refs_of_out = narinfo(CA_OUT);
    let kept_by_out: Vec<&str> = [A, TREE, HELLO, REFS]
        .into_iter()
        .filter(|h| refs_of_out.contains(h))
        .collect();
    let report = collect(&root, Policy::OlderThan(Duration::from_secs(86400)), false).unwrap();
    for hash in [A, TREE, HELLO, REFS] {
        let kept = kept_by_out.contains(&hash);
        assert_eq!(report.removed.contains(hash), !kept, "{hash}");
        assert_eq!(
            root.join(format!("{hash}.narinfo")).exists(),
            kept,
            "{hash}"
        );
        assert_eq!(root.join(format!("{hash}.ls")).exists(), kept, "{hash}.ls");
    }
    assert!(root.join(format!("{CA_OUT}.ls")).exists());
    assert!(root.join(format!("realisations/{DOI}")).exists());
    assert_eq!(cache.get(&uri).await.0, StatusCode::OK);

    // Then everything: the realisation goes with its output.
    let report = collect(&root, Policy::MaxSize(0), false).unwrap();
    assert!(report.removed.contains(CA_OUT));
    assert!(!root.join(format!("{CA_OUT}.ls")).exists());
    assert!(!root.join(format!("realisations/{DOI}")).exists());
    assert_eq!(cache.get(&uri).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        cache.get(&format!("/{CA_OUT}.ls")).await.0,
        StatusCode::NOT_FOUND
    );
    // A listing for a path no longer there is held for its narinfo, not kept.
    let (status, text) = cache.put(&format!("/{CA_OUT}.ls"), listing(CA_OUT)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("held"), "{text}");
    assert!(!root.join(format!("{CA_OUT}.ls")).exists());
}
