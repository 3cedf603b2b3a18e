//! The service binary over the loopback, attacked as the issue describes: a connection that
//! announces a huge `Content-Length` and sends one byte, a body that trickles in, headers that
//! never end, a URL that would forge log lines; then a genuine upload must still go through. Also
//! what only a real process shows: the umask of published files, and the directory lock.
//!
//! Bounded: at most a dozen connections, every wait capped at a few seconds.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TREE: &str = "cc432xp6lgry29razhhyx93fm9jvs4ky";

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/none")
}

struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Starts the service with `umask` and `args`; `None` if it exited instead (its log says why).
fn start(dir: &Path, log: &Path, umask: &str, args: &[&str]) -> Result<Server, String> {
    let exe = env!("CARGO_BIN_EXE_nix-ingest-binary-cache");
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(exe)
        .arg("--dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        port: 0,
        log: log.to_owned(),
    };
    for _ in 0..200 {
        let text = server.log();
        if let Some(port) = text
            .lines()
            .find_map(|l| l.strip_prefix("listening on http://127.0.0.1:"))
        {
            server.port = port.trim().parse().unwrap();
            return Ok(server);
        }
        if let Ok(Some(_)) = server.child.try_wait() {
            return Err(server.log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("the service did not start: {}", server.log()))
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
}

/// One whole request on its own connection: (status, body).
fn request(port: u16, method: &str, uri: &str, body: &[u8]) -> (u16, String) {
    let mut stream = connect(port);
    write!(
        stream,
        "{method} {uri} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn golden() -> (String, Vec<u8>, String) {
    let narinfo = std::fs::read_to_string(data().join(format!("{TREE}.narinfo"))).unwrap();
    let url = narinfo
        .lines()
        .find_map(|l| l.strip_prefix("URL: "))
        .unwrap()
        .to_owned();
    let nar = std::fs::read(data().join(&url)).unwrap();
    (url, nar, narinfo)
}

/// Reads what the server sends until it closes the connection (or `limit` passes); returns
/// how long that took and what it sent.
fn until_closed(mut stream: TcpStream, limit: Duration) -> (Duration, String) {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    (
        started.elapsed(),
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

#[test]
fn attacks_do_not_block_a_genuine_upload() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("cache");
    let (url, nar, narinfo) = golden();
    let server = start(
        &dir,
        &work.path().join("log"),
        "027",
        &[
            "--max-staged-bytes",
            &(nar.len() * 3).to_string(),
            "--request-timeout",
            "4",
            "--body-timeout",
            "3",
            "--header-timeout",
            "2",
            "--max-uploads",
            "4",
        ],
    )
    .unwrap();
    let port = server.port;

    // Two connections announce 8 GiB-class bodies (just under what staging holds, so not refused
    // at once) and send one byte.
    let mut fake = Vec::new();
    for i in 0..2 {
        let mut s = connect(port);
        write!(
            s,
            "PUT /nar/{}{i}.nar HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\nx",
            &"0".repeat(51),
            nar.len() * 3 - 10
        )
        .unwrap();
        fake.push(s);
    }
    // One trickles a byte every second (never silent past the body timeout).
    let mut slow = connect(port);
    write!(
        slow,
        "PUT /nar/{}.nar HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        "1".repeat(52),
        nar.len()
    )
    .unwrap();
    let trickler = std::thread::spawn(move || {
        let started = Instant::now();
        let mut answer = Vec::new();
        slow.set_read_timeout(Some(Duration::from_millis(1000)))
            .unwrap();
        while started.elapsed() < Duration::from_secs(12) {
            if slow.write_all(b"x").is_err() {
                break;
            }
            let mut buf = [0; 4096];
            match slow.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    break;
                }
                Err(_) => {}
            }
        }
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    });
    // One never finishes its headers.
    let mut headless = connect(port);
    headless
        .write_all(b"PUT /nar/x HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    // Meanwhile, a genuine upload (as nix copy sends it) goes through at once.
    let started = Instant::now();
    let (status, body) = request(port, "PUT", &format!("/{url}"), &nar);
    assert_eq!(status, 200, "{body}");
    let (status, body) = request(port, "PUT", &format!("/{TREE}.narinfo"), narinfo.as_bytes());
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // The attackers are cut off: headers after the header timeout, bodies at the deadline.
    let (took, _) = until_closed(headless, Duration::from_secs(8));
    assert!(took < Duration::from_secs(5), "headers held for {took:?}");
    let (took, answer) = trickler.join().unwrap();
    assert!(answer.contains(" 408 "), "{answer}");
    assert!(
        answer.contains("did not arrive whole within 4 s"),
        "{answer}"
    );
    assert!(took < Duration::from_secs(7), "{took:?}");
    for s in fake {
        let (_, answer) = until_closed(s, Duration::from_secs(8));
        assert!(answer.contains(" 408 "), "{answer}");
    }
    // Nothing of theirs remains.
    let staged: Vec<_> = std::fs::read_dir(dir.join(".staging/tmp"))
        .unwrap()
        .collect();
    assert_eq!(staged.len(), 0);

    // Published files are readable as the umask (027) allows: by the group, not by others.
    use std::os::unix::fs::PermissionsExt;
    for file in [
        format!("{TREE}.narinfo"),
        url.clone(),
        "nix-cache-info".into(),
    ] {
        let mode = std::fs::metadata(dir.join(&file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o640, "{file}: {mode:o}");
    }

    // A URL that would forge log lines is logged escaped.
    let (status, _) = request(port, "PUT", "/%0aforged%20line%1b[31m%00.narinfo", b"x");
    assert_eq!(status, 400);
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read(&server.log).unwrap();
    assert!(!log.contains(&0x1b), "an escape reached the log");
    assert!(!log.contains(&0), "a NUL reached the log");
    let log = String::from_utf8(log).unwrap();
    assert!(
        !log.lines().any(|l| l.starts_with("forged")),
        "a forged line: {log}"
    );
    assert!(
        log.contains(r"/\u{a}forged line\u{1b}[31m\u{0}.narinfo"),
        "{log}"
    );

    // A second server on the same directory refuses to start; the first goes on.
    let second = start(&dir, &work.path().join("log2"), "022", &[]);
    let second = second
        .err()
        .expect("a second server started on the same directory");
    assert!(second.contains("another server"), "{second}");
    let (status, _) = request(port, "GET", &format!("/{TREE}.narinfo"), b"");
    assert_eq!(status, 200);
}
