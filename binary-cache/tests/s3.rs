//! Two services on one S3 bucket, over the loopback, against a real S3-compatible server that
//! `scripts/binary-cache-s3.sh` starts (moto's server mode) and names in
//! `NIX_INGEST_TEST_S3=s3://BUCKET?endpoint=URL&region=R` (with the `AWS_*` credentials it
//! accepts). Ignored unless run by that script: it needs that server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TREE: &str = "cc432xp6lgry29razhhyx93fm9jvs4ky";
const USER: &str = "yzn8r68yrggrggjz7cz0fx9sysqlh9ix";

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/xz")
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, log: &Path, storage: &str) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_nix-ingest-binary-cache"))
        .arg("--dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--storage", storage])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server { child, port: 0 };
    for _ in 0..200 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(port) = text
            .lines()
            .find_map(|l| l.strip_prefix("listening on http://127.0.0.1:"))
        {
            server.port = port.trim().parse().unwrap();
            return server;
        }
        if let Ok(Some(_)) = server.child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the service did not start: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// One request: (status, headers, body).
fn request(
    port: u16,
    method: &str,
    uri: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {uri} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, answer[split + 4..].to_vec())
}

fn golden(hash: &str) -> (String, Vec<u8>, String) {
    let narinfo = std::fs::read_to_string(data().join(format!("{hash}.narinfo"))).unwrap();
    let url = narinfo
        .lines()
        .find_map(|l| l.strip_prefix("URL: "))
        .unwrap()
        .to_owned();
    let nar = std::fs::read(data().join(&url)).unwrap();
    (url, nar, narinfo)
}

fn without_sig(narinfo: &str) -> String {
    narinfo
        .lines()
        .filter(|l| !l.starts_with("Sig:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
#[ignore = "needs the S3-compatible server scripts/binary-cache-s3.sh starts"]
fn two_services_share_one_bucket() {
    let storage = std::env::var("NIX_INGEST_TEST_S3").expect("NIX_INGEST_TEST_S3");
    let work = tempfile::tempdir().unwrap();
    let a = start(&work.path().join("a"), &work.path().join("a.log"), &storage);
    let b = start(&work.path().join("b"), &work.path().join("b.log"), &storage);

    // The tree through A; B serves it, byte for byte, ranges too.
    let (url, nar, narinfo) = golden(TREE);
    assert_eq!(request(a.port, "PUT", &format!("/{url}"), "", &nar).0, 200);
    // A staged NAR is not published: B does not see it yet.
    assert_eq!(request(b.port, "HEAD", &format!("/{url}"), "", b"").0, 404);
    let (status, _, body) = request(
        a.port,
        "PUT",
        &format!("/{TREE}.narinfo"),
        "",
        narinfo.as_bytes(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = request(b.port, "GET", &format!("/{TREE}.narinfo"), "", b"");
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(body).unwrap(), without_sig(&narinfo));
    let (status, _, body) = request(b.port, "GET", &format!("/{url}"), "", b"");
    assert_eq!((status, body), (200, nar.clone()));
    let (status, head, body) = request(
        b.port,
        "GET",
        &format!("/{url}"),
        "Range: bytes=10-19\r\n",
        b"",
    );
    assert_eq!(status, 206, "{head}");
    assert_eq!(body, &nar[10..20]);
    assert!(
        head.to_lowercase()
            .contains(&format!("content-range: bytes 10-19/{}", nar.len())),
        "{head}"
    );

    // The path that refers to the tree, through B: its reference is found in the bucket.
    let (url, nar, narinfo) = golden(USER);
    assert_eq!(request(b.port, "PUT", &format!("/{url}"), "", &nar).0, 200);
    let (status, _, body) = request(
        b.port,
        "PUT",
        &format!("/{USER}.narinfo"),
        "",
        narinfo.as_bytes(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = request(a.port, "GET", &format!("/{USER}.narinfo"), "", b"");
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(body).unwrap(), without_sig(&narinfo));
    // Uploaded again through A: already there.
    let (status, _, body) = request(
        a.port,
        "PUT",
        &format!("/{USER}.narinfo"),
        "",
        narinfo.as_bytes(),
    );
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("already"));
    // Nothing published locally: the directories hold only what is in flight and the lock.
    for dir in ["a", "b"] {
        let narinfos = std::fs::read_dir(work.path().join(dir))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".narinfo")
            })
            .count();
        assert_eq!(narinfos, 0, "{dir}");
        assert_eq!(
            std::fs::read_dir(work.path().join(dir).join("nar"))
                .unwrap()
                .count(),
            0
        );
    }
}
