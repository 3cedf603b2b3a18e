//! Garbage collection of a cache directory filled by the service with what real Nix uploads
//! (tests/data): the closure property (nothing a kept path refers to is removed), both policies,
//! shared NAR files, and collection while uploads go on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use nix_ingest_binary_cache::gc::{Policy, collect};
use nix_ingest_binary_cache::{Config, Service};
use tower::ServiceExt;

/// /nix/store/…-tree, and /nix/store/…-uses-tree, which refers to it.
const TREE: &str = "cc432xp6lgry29razhhyx93fm9jvs4ky";
const USER: &str = "yzn8r68yrggrggjz7cz0fx9sysqlh9ix";
const DAY: Duration = Duration::from_secs(86400);

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/none")
}

fn narinfo(hash: &str) -> String {
    std::fs::read_to_string(data().join(format!("{hash}.narinfo"))).unwrap()
}

fn nar_url(hash: &str) -> String {
    narinfo(hash)
        .lines()
        .find_map(|l| l.strip_prefix("URL: "))
        .unwrap()
        .to_owned()
}

async fn put(service: &Service, uri: &str, body: Vec<u8>) -> StatusCode {
    let request = Request::put(uri)
        .header("content-length", body.len())
        .body(Body::from(body))
        .unwrap();
    let response = service.router().oneshot(request).await.unwrap();
    let status = response.status();
    let _ = response.into_body().collect().await;
    status
}

async fn upload(service: &Service, hash: &str) -> StatusCode {
    let url = nar_url(hash);
    let nar = std::fs::read(data().join(&url)).unwrap();
    let status = put(service, &format!("/{url}"), nar).await;
    if status != StatusCode::OK {
        return status;
    }
    put(
        service,
        &format!("/{hash}.narinfo"),
        narinfo(hash).into_bytes(),
    )
    .await
}

fn age(root: &Path, hash: &str, by: Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(root.join(format!("{hash}.narinfo")))
        .unwrap();
    file.set_times(std::fs::FileTimes::new().set_modified(SystemTime::now() - by))
        .unwrap();
}

fn size(root: &Path, relative: &str) -> u64 {
    std::fs::metadata(root.join(relative)).unwrap().len()
}

/// Every published narinfo's NAR file and references are there.
fn assert_closed(root: &Path) {
    for entry in std::fs::read_dir(root).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(_) = name.strip_suffix(".narinfo") else {
            continue;
        };
        let text = std::fs::read_to_string(root.join(&name)).unwrap();
        for line in text.lines() {
            if let Some(url) = line.strip_prefix("URL: ") {
                assert!(root.join(url).exists(), "{name} names a missing {url}");
            }
            if let Some(refs) = line.strip_prefix("References: ") {
                for r in refs.split_whitespace() {
                    let hash = &r[..32];
                    assert!(
                        root.join(format!("{hash}.narinfo")).exists(),
                        "{name} refers to a missing {r}"
                    );
                }
            }
        }
    }
}

async fn filled() -> (tempfile::TempDir, PathBuf, Service) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cache");
    let service = Service::open(Config::new(&root)).unwrap();
    assert_eq!(upload(&service, TREE).await, StatusCode::OK);
    assert_eq!(upload(&service, USER).await, StatusCode::OK);
    (dir, root, service)
}

fn published(root: &Path) -> (Vec<String>, Vec<String>) {
    let mut narinfos: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".narinfo").map(str::to_owned))
        .collect();
    narinfos.sort();
    let mut nars: Vec<String> = std::fs::read_dir(root.join("nar"))
        .unwrap()
        .map(|e| format!("nar/{}", e.unwrap().file_name().into_string().unwrap()))
        .collect();
    nars.sort();
    (narinfos, nars)
}

#[tokio::test]
async fn older_than_keeps_recent_paths_and_their_closures() {
    // The referring path old: removed, with its NAR; the tree stays.
    let (_dir, root, _service) = filled().await;
    age(&root, USER, 10 * DAY);
    let report = collect(&root, Policy::OlderThan(DAY), false).unwrap();
    assert_eq!(report.removed.iter().collect::<Vec<_>>(), [USER]);
    assert_eq!(
        report.freed,
        size_of_narinfo(USER) + std::fs::read(data().join(nar_url(USER))).unwrap().len() as u64
    );
    assert_eq!(
        published(&root),
        (vec![TREE.to_owned()], vec![nar_url(TREE)])
    );
    assert_closed(&root);

    // The tree old but referred to by a recent path: both stay.
    let (_dir, root, _service) = filled().await;
    age(&root, TREE, 10 * DAY);
    let report = collect(&root, Policy::OlderThan(DAY), false).unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
    assert_eq!(report.kept, 2);

    // Both old: both go, and no NAR file stays.
    age(&root, USER, 10 * DAY);
    let dry = collect(&root, Policy::OlderThan(DAY), true).unwrap();
    assert_eq!(dry.removed.len(), 2);
    assert_eq!(published(&root).0.len(), 2, "a dry run removed something");
    collect(&root, Policy::OlderThan(DAY), false).unwrap();
    assert_eq!(published(&root), (vec![], vec![]));
}

fn size_of_narinfo(hash: &str) -> u64 {
    // The cache publishes the narinfo less the signature of a key it does not trust.
    narinfo(hash)
        .lines()
        .filter(|l| !l.starts_with("Sig:"))
        .map(|l| l.len() as u64 + 1)
        .sum()
}

#[tokio::test]
async fn max_size_keeps_the_most_recent_closures_that_fit() {
    let (_dir, root, _service) = filled().await;
    let tree_bytes = size(&root, &format!("{TREE}.narinfo")) + size(&root, &nar_url(TREE));
    let user_bytes = size(&root, &format!("{USER}.narinfo")) + size(&root, &nar_url(USER));
    // The referring path is the most recent, but its closure (both) does not fit; the tree
    // alone does.
    age(&root, TREE, DAY);
    let report = collect(&root, Policy::MaxSize(tree_bytes), false).unwrap();
    assert_eq!(report.removed.iter().collect::<Vec<_>>(), [USER]);
    assert_eq!(report.remaining, tree_bytes);
    assert_eq!(report.freed, user_bytes);
    assert_closed(&root);

    let (_dir, root, _service) = filled().await;
    let report = collect(&root, Policy::MaxSize(tree_bytes + user_bytes), false).unwrap();
    assert!(report.removed.is_empty());
    assert_eq!(report.remaining, tree_bytes + user_bytes);
    collect(&root, Policy::MaxSize(0), false).unwrap();
    assert_eq!(published(&root), (vec![], vec![]));
}

/// A NAR file two paths share (the same tree under two names) stays while either is kept.
#[tokio::test]
async fn a_shared_nar_file_stays_while_a_kept_path_names_it() {
    use nix_ingest::store_path::{References, StoreDir};
    let (_dir, root, service) = filled().await;
    let text = narinfo(TREE);
    let ca = text
        .lines()
        .find_map(|l| l.strip_prefix("CA: "))
        .unwrap()
        .parse()
        .unwrap();
    let copy = StoreDir::default()
        .make_path_from_ca("tree-copy", &ca, &References::default())
        .unwrap();
    let copy_text = text.replace(
        &format!("/nix/store/{TREE}-tree"),
        &format!("/nix/store/{copy}"),
    );
    let copy_hash = copy.hash_part().to_string();
    assert_eq!(
        put(
            &service,
            &format!("/{copy_hash}.narinfo"),
            copy_text.into_bytes()
        )
        .await,
        StatusCode::OK
    );
    age(&root, TREE, 10 * DAY);
    age(&root, USER, 10 * DAY);
    let report = collect(&root, Policy::OlderThan(DAY), false).unwrap();
    assert_eq!(report.removed.len(), 2);
    assert_eq!(published(&root), (vec![copy_hash], vec![nar_url(TREE)]));
    assert_closed(&root);
}

/// Collections in a loop while paths are uploaded again and again: after every collection, and
/// at the end, every narinfo's NAR file and references are there; an upload whose reference or
/// NAR file was collected under it is refused (409), never published half.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collecting_while_uploading_keeps_the_cache_closed() {
    let (_dir, root, service) = filled().await;
    let service = Arc::new(service);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (root, stop) = (root.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                collect(&root, Policy::MaxSize(0), false).unwrap();
                assert_closed(&root);
                runs += 1;
            }
            runs
        })
    };
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..60 {
        for hash in [TREE, USER] {
            *statuses.entry(upload(&service, hash).await).or_insert(0) += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let runs = collector.join().unwrap();
    assert!(runs > 1, "{runs}");
    assert_closed(&root);
    for status in statuses.keys() {
        assert!(
            *status == StatusCode::OK || *status == StatusCode::CONFLICT,
            "{statuses:?}"
        );
    }
    assert!(
        statuses.get(&StatusCode::OK).copied().unwrap_or(0) > 0,
        "{statuses:?}"
    );
}

/// Reading a narinfo marks it accessed (the service sets its modification time).
#[tokio::test]
async fn a_read_counts_as_an_access() {
    let (_dir, root, service) = filled().await;
    age(&root, TREE, 10 * DAY);
    age(&root, USER, 10 * DAY);
    let response = service
        .router()
        .oneshot(
            Request::get(format!("/{TREE}.narinfo"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let _ = response.into_body().collect().await;
    // Recorded off the request's path: give it a moment.
    for _ in 0..50 {
        let accessed = std::fs::metadata(root.join(format!("{TREE}.narinfo")))
            .unwrap()
            .modified()
            .unwrap();
        if SystemTime::now()
            .duration_since(accessed)
            .unwrap_or_default()
            < DAY
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = collect(&root, Policy::OlderThan(DAY), false).unwrap();
    assert_eq!(report.removed.iter().collect::<Vec<_>>(), [USER]);
}
