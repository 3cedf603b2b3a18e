//! The `nar-service` example, served on a loopback port and driven by a raw HTTP/1.1 client:
//! golden NARs from real Nix must get Nix's answers (tests/data/nar, tests/data/restore), and
//! malformed uploads a 4xx naming the byte offset.
#![cfg(feature = "serde")]

#[allow(dead_code)]
#[path = "../examples/nar-service.rs"]
mod service;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use nix_ingest::content_address::{ContentAddress, ContentAddressMethod};
use nix_ingest::hash::{Algorithm, Hash};
use nix_ingest::method::FileIngestionMethod;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// What real Nix says about one golden NAR.
#[derive(Debug, Default)]
struct Oracle {
    nar_sha256: Option<Hash>,
    git: BTreeMap<Algorithm, Hash>,
    /// `nix store add --mode M --hash-algo A --name NAME`: (mode, algo) → (name, CA, path).
    added: BTreeMap<(String, Algorithm), (String, String, String)>,
}

/// tests/data/nar/sha256.txt (`nix-hash --type sha256` of each tree) and
/// tests/data/restore/oracle.txt (`nix hash path --mode git`, `nix store add`).
fn oracles() -> BTreeMap<String, Oracle> {
    let mut all: BTreeMap<String, Oracle> = BTreeMap::new();
    let sha256 = std::fs::read_to_string(data_dir().join("nar/sha256.txt")).unwrap();
    for line in sha256.lines().filter(|l| !l.trim().is_empty()) {
        let (nar, hex) = line.split_once(' ').unwrap();
        all.entry(nar.to_owned()).or_default().nar_sha256 =
            Some(Hash::parse_unprefixed(hex, Algorithm::Sha256).unwrap());
    }
    let restore = std::fs::read_to_string(data_dir().join("restore/oracle.txt")).unwrap();
    for line in restore.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["add", nar, mode, algo, name, ca, path] => {
                let algo: Algorithm = algo.parse().unwrap();
                all.entry((*nar).to_owned()).or_default().added.insert(
                    ((*mode).to_owned(), algo),
                    ((*name).to_owned(), (*ca).to_owned(), (*path).to_owned()),
                );
            }
            [nar, _mode, algo, hex] => {
                let algo: Algorithm = algo.parse().unwrap();
                all.entry((*nar).to_owned())
                    .or_default()
                    .git
                    .insert(algo, Hash::parse_unprefixed(hex, algo).unwrap());
            }
            [] | [""] => {}
            other => panic!("unexpected oracle line {other:?}"),
        }
    }
    all
}

fn golden_nar(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join("nar").join(name)).unwrap()
}

async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = service::Config {
        idle_timeout: Duration::from_secs(10),
        ..service::Config::default()
    };
    tokio::spawn(service::serve(listener, config));
    addr
}

/// A response: status and JSON body (interim `100 Continue` responses skipped).
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
}

fn parse_response(mut bytes: &[u8]) -> Answer {
    loop {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no response head in {:?}", bytes.escape_ascii()));
        let head = std::str::from_utf8(&bytes[..end]).unwrap();
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        let rest = &bytes[end + 4..];
        if status == 100 {
            bytes = rest;
            continue;
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(rest.len(), length, "body length");
        return Answer {
            status,
            body: serde_json::from_slice(rest).unwrap(),
        };
    }
}

/// Sends `head` and then each of `body` (as separate writes), half-closes, and reads the answer
/// to the end.
async fn send(addr: SocketAddr, head: &str, body: &[&[u8]]) -> Answer {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        for part in body {
            stream.write_all(part).await.unwrap();
        }
        stream.shutdown().await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        parse_response(&response)
    };
    tokio::time::timeout(Duration::from_secs(60), exchange)
        .await
        .expect("the service answered in time")
}

async fn put(addr: SocketAddr, name: &str, nar: &[u8]) -> Answer {
    let head = format!(
        "PUT /{name} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        nar.len()
    );
    send(addr, &head, &[nar]).await
}

/// The body as `Transfer-Encoding: chunked`, in chunks of the given sizes (cycled), with a chunk
/// extension and a trailer.
fn chunked(nar: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = nar;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        out.extend_from_slice(format!("{:x};ext=1\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = tail;
    }
    out.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    out
}

fn content_address(answer: &Answer, key: &str) -> ContentAddress {
    let entry = &answer.body["addresses"][key];
    let ca: ContentAddress = entry["ca"].as_str().unwrap().parse().unwrap();
    // The structured form (Nix 2.33's JSON) is the same content address.
    let structured: ContentAddress =
        serde_json::from_value(entry["contentAddress"].clone()).unwrap();
    assert_eq!(structured, ca);
    ca
}

/// Checks an answer against everything the oracles say about `nar`.
fn check_against_oracle(nar: &str, bytes: &[u8], name: &str, answer: &Answer, oracle: &Oracle) {
    assert_eq!(answer.status, 200, "{nar}: {}", answer.body);
    assert_eq!(answer.body["name"], name);
    assert_eq!(answer.body["narSize"], bytes.len() as u64, "{nar}");
    let nar_hash = Hash::parse(answer.body["narHash"].as_str().unwrap()).unwrap();
    assert_eq!(Some(nar_hash), oracle.nar_sha256, "{nar}: NAR hash");

    let nar_ca = content_address(answer, "nar");
    assert_eq!(nar_ca.method(), FileIngestionMethod::Nar.into());
    assert_eq!(Some(*nar_ca.hash()), oracle.nar_sha256, "{nar}");
    for (key, algo) in [
        ("git-sha1", Algorithm::Sha1),
        ("git-sha256", Algorithm::Sha256),
    ] {
        let ca = content_address(answer, key);
        assert_eq!(
            ca.method(),
            ContentAddressMethod::Fixed(FileIngestionMethod::Git)
        );
        assert_eq!(Some(ca.hash()), oracle.git.get(&algo), "{nar} {key}");
    }
    // Where Nix added the same tree under the same name: the same content address and path.
    for ((mode, algo), (added_name, ca, path)) in &oracle.added {
        let key = match (mode.as_str(), algo) {
            ("nar", Algorithm::Sha256) => "nar",
            ("git", Algorithm::Sha1) => "git-sha1",
            _ => continue,
        };
        if added_name != name {
            continue;
        }
        let entry = &answer.body["addresses"][key];
        assert_eq!(entry["ca"], ca.as_str(), "{nar} {key}");
        assert_eq!(entry["storePath"], path.as_str(), "{nar} {key}");
    }
}

/// The name Nix's `nix store add` used for a NAR's tree, if any.
fn added_name(oracle: &Oracle, nar: &str) -> String {
    oracle
        .added
        .values()
        .map(|(name, _, _)| name.clone())
        .next()
        .unwrap_or_else(|| nar.trim_end_matches(".nar").to_owned())
}

#[tokio::test]
async fn golden_nars_get_nix_answers() {
    let addr = start().await;
    let oracles = oracles();
    assert!(oracles.len() >= 6);
    for (nar, oracle) in &oracles {
        let bytes = golden_nar(nar);
        let name = added_name(oracle, nar);
        let answer = put(addr, &name, &bytes).await;
        check_against_oracle(nar, &bytes, &name, &answer, oracle);
    }
}

#[tokio::test]
async fn chunked_uploads_with_expect_continue() {
    let addr = start().await;
    let oracles = oracles();
    for nar in ["t1.nar", "t2.nar"] {
        let bytes = golden_nar(nar);
        let oracle = &oracles[nar];
        let name = added_name(oracle, nar);
        let head = format!(
            "PUT /{name}?ignored=1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
        );
        // Chunk boundaries fall everywhere: inside lengths, tags, padding and contents.
        let body = chunked(&bytes, &[1, 7, 8, 9, 100, 3, 1000]);
        let pieces: Vec<&[u8]> = body.chunks(13).collect();
        let answer = send(addr, &head, &pieces).await;
        check_against_oracle(nar, &bytes, &name, &answer, oracle);
    }
}

#[tokio::test]
async fn malformed_nars_get_the_error_offset() {
    let addr = start().await;
    let t1 = golden_nar("t1.nar");

    // Bytes after the archive: the offset is where the archive ended (its length).
    let mut trailing = t1.clone();
    trailing.extend_from_slice(b"12345678");
    let answer = put(addr, "t1", &trailing).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["offset"], t1.len() as u64);

    // Cut short: the offset is the length of the input.
    let answer = put(addr, "t1", &t1[..1000]).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["offset"], 1000);
    assert!(
        answer.body["error"].as_str().unwrap().contains("truncated"),
        "{}",
        answer.body
    );

    // The magic string is bytes 8..21 ("nix-archive-1" after its 8-byte length), padded with
    // zeros to 24: a padding error points at the offending byte.
    let mut padding = t1.clone();
    padding[22] = 1;
    let answer = put(addr, "t1", &padding).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["offset"], 22);

    // Not a NAR at all: offset 0.
    let answer = put(addr, "junk", b"GIF89a, not a Nix archive").await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["offset"], 0);

    // The same through chunked encoding, with a long valid prefix.
    let body = chunked(&trailing, &[4096]);
    let head = "PUT /t1 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
    let answer = send(addr, head, &[&body]).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["offset"], t1.len() as u64);
}

#[tokio::test]
async fn bad_requests_get_4xx() {
    let addr = start().await;
    let t1 = golden_nar("t1.nar");
    let cases: [(&str, &[u8], u16); 7] = [
        ("GET /t1 HTTP/1.1\r\nHost: x\r\n\r\n", b"", 405),
        // An empty name.
        (
            "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            b"",
            400,
        ),
        (
            "PUT /a/b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            b"",
            404,
        ),
        // A space is not allowed in a store path name; neither is `.` alone.
        (
            "PUT /bad%20name HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            b"",
            400,
        ),
        (
            "PUT /. HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            b"",
            400,
        ),
        ("PUT /t1 HTTP/1.1\r\nHost: x\r\n\r\n", b"", 411),
        (
            "PUT /t1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"zz\r\n",
            400,
        ),
    ];
    for (head, body, status) in cases {
        let answer = send(addr, head, &[body]).await;
        assert_eq!(answer.status, status, "{head:?}: {}", answer.body);
        assert!(answer.body["error"].is_string());
    }

    // A body shorter than its Content-Length: the client gave up.
    let head = format!(
        "PUT /t1 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        t1.len()
    );
    let answer = send(addr, &head, &[&t1[..100]]).await;
    assert_eq!(answer.status, 400, "{}", answer.body);

    // A percent-encoded name that is valid once decoded.
    let answer = put(addr, "%3F%3D%2B_.-x", &golden_nar("empty.nar")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["name"], "?=+_.-x");
}
