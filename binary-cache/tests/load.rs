//! Load test (ignored by default; minutes, not seconds): the service binary on the loopback
//! takes many concurrent uploads of trees of mixed sizes, one NAR of 1 GiB among them, while
//! some clients die half-way through their upload. Afterwards every completed upload must be
//! served back intact, nothing of the killed ones may remain, and the service's peak memory
//! (VmHWM) is reported.
//!
//! ```text
//! cargo test -p nix-ingest-binary-cache --release --test load -- --ignored --nocapture
//! NIX_INGEST_LOAD_BIG_MIB=256 NIX_INGEST_LOAD_UPLOADS=40 cargo test … (smaller, faster)
//! ```
//!
//! Trees are generated from a seed, twice: once to learn their hashes (the narinfo needs the
//! file hash before the NAR goes out, as Nix's upload does), once while uploading; neither the
//! client nor the service ever holds a large NAR.

use std::io::{self, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Request, StatusCode};
use nix_ingest::content_address::ContentAddress;
use nix_ingest::event::{Event, Sink};
use nix_ingest::git::GitHasher;
use nix_ingest::hash::{Algorithm, Format, Hasher};
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::nar::{NarHasher, NarWriter};
use nix_ingest::narinfo::NarInfo;
use nix_ingest::store_path::{References, StoreDir};
use tokio::sync::{Semaphore, mpsc};

const CHUNK: usize = 256 << 10;

/// A tree to upload, generated from a seed.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// One regular file of this many bytes as the root.
    File(u64),
    /// A directory of `files` files of `size` bytes each, half of them executable, and a
    /// symlink and an empty directory.
    Dir { files: usize, size: u64 },
}

/// xorshift64*: bytes from a seed, quickly.
struct Rng(u64);

impl Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Emits the tree's events into `sink`; stops (returning false) when `keep_going` says so.
fn generate(
    shape: Shape,
    seed: u64,
    sink: &mut dyn Sink,
    keep_going: &mut dyn FnMut() -> bool,
) -> bool {
    let mut rng = Rng(seed.wrapping_mul(2).wrapping_add(1));
    let mut buf = vec![0u8; CHUNK];
    let mut file = |sink: &mut dyn Sink,
                    name: Option<&[u8]>,
                    executable: bool,
                    size: u64,
                    rng: &mut Rng|
     -> bool {
        sink.event(Event::FileStart {
            name,
            executable,
            size,
        })
        .unwrap();
        let mut left = size;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            rng.fill(&mut buf[..n]);
            sink.event(Event::FileData(&buf[..n])).unwrap();
            left -= n as u64;
            if !keep_going() {
                return false;
            }
        }
        sink.event(Event::FileEnd).unwrap();
        true
    };
    match shape {
        Shape::File(size) => file(sink, None, false, size, &mut rng),
        Shape::Dir { files, size } => {
            sink.event(Event::DirectoryStart { name: None }).unwrap();
            sink.event(Event::DirectoryStart {
                name: Some(b"empty"),
            })
            .unwrap();
            sink.event(Event::DirectoryEnd).unwrap();
            for i in 0..files {
                let name = format!("f{i:05}");
                if !file(sink, Some(name.as_bytes()), i % 2 == 1, size, &mut rng) {
                    return false;
                }
            }
            sink.event(Event::Symlink {
                name: Some(b"link"),
                target: b"f00000",
            })
            .unwrap();
            sink.event(Event::DirectoryEnd).unwrap();
            true
        }
    }
}

/// An upload: its tree, and what the first pass learnt of it.
struct Upload {
    name: String,
    shape: Shape,
    seed: u64,
    narinfo: String,
    hash_part: String,
    file_name: String,
    nar_size: u64,
    /// Killed half-way by its client.
    killed: bool,
}

/// Counts and hashes the NAR bytes.
struct Measure {
    hasher: Hasher,
    size: u64,
}

impl Write for Measure {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.size += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn plan(index: usize, shape: Shape, killed: bool) -> Upload {
    let seed = 0x5eed_0000 + index as u64;
    let name = format!("load-{index}");
    // Git (SHA-1) addresses for most, NAR (SHA-256) for every third.
    let method = if index.is_multiple_of(3) {
        FileIngestionMethod::Nar
    } else {
        FileIngestionMethod::Git
    };
    let algorithm = if method == FileIngestionMethod::Git {
        Algorithm::Sha1
    } else {
        Algorithm::Sha256
    };
    struct Both<'a>(&'a mut NarWriter<Measure>, &'a mut dyn Sink);
    impl Sink for Both<'_> {
        fn event(&mut self, e: Event<'_>) -> Result<(), nix_ingest::event::SinkError> {
            self.0.event(e)?;
            self.1.event(e)
        }
    }
    let mut writer = NarWriter::new(Measure {
        hasher: Hasher::new(Algorithm::Sha256),
        size: 0,
    });
    let hash = match method {
        FileIngestionMethod::Git => {
            let mut git = GitHasher::new(algorithm);
            generate(shape, seed, &mut Both(&mut writer, &mut git), &mut || true);
            git.finish().unwrap()
        }
        _ => {
            let mut nar = NarHasher::new(algorithm);
            generate(shape, seed, &mut Both(&mut writer, &mut nar), &mut || true);
            nar.finish().unwrap()
        }
    };
    let measure = writer.finish().unwrap();
    let nar_hash = measure.hasher.finalize().unwrap();
    let ca = ContentAddress::fixed(method, hash);
    let store = StoreDir::default();
    let path = store
        .make_path_from_ca(&name, &ca, &References::default())
        .unwrap();
    let file_name = format!("{}.nar", nar_hash.encode(Format::Nix32));
    let mut info = NarInfo::new(
        store,
        path.clone(),
        format!("nar/{file_name}"),
        nar_hash,
        measure.size,
    );
    info.file_hash = Some(nar_hash);
    info.file_size = Some(measure.size);
    info.ca = Some(ca);
    Upload {
        name,
        shape,
        seed,
        narinfo: info.to_string(),
        hash_part: path.hash_part(),
        file_name,
        nar_size: measure.size,
        killed,
    }
}

/// Sends NAR bytes to the body channel in chunks.
struct ChannelOut {
    buf: Vec<u8>,
    tx: mpsc::Sender<Result<Frame<Bytes>, io::Error>>,
    sent: u64,
}

impl Write for ChannelOut {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = Bytes::from(std::mem::take(&mut self.buf));
            self.sent += chunk.len() as u64;
            self.tx
                .blocking_send(Ok(Frame::data(chunk)))
                .map_err(|_| io::Error::other("the request was dropped"))?;
        }
        Ok(())
    }
}

type Client =
    hyper::client::conn::http1::SendRequest<http_body_util::combinators::BoxBody<Bytes, io::Error>>;

async fn connect(port: u16) -> Client {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

async fn put_small(port: u16, uri: &str, body: String) -> (StatusCode, String) {
    let mut client = connect(port).await;
    let request = Request::put(uri)
        .body(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed())
        .unwrap();
    let response = client.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Uploads the NAR (streaming, generated again), then the narinfo. A killed upload stops
/// after half its NAR and drops the connection.
async fn run_upload(port: u16, upload: Arc<Upload>) -> Result<(), String> {
    let (tx, rx) = mpsc::channel(4);
    let generator = {
        let upload = Arc::clone(&upload);
        tokio::task::spawn_blocking(move || {
            let tx_err = tx.clone();
            let mut out = NarWriter::new(ChannelOut {
                buf: Vec::new(),
                tx,
                sent: 0,
            });
            let half = upload.nar_size / 2;
            let killed = upload.killed;
            let mut written = 0u64;
            let mut go = || {
                written += CHUNK as u64;
                !(killed && written >= half)
            };
            let finished = generate(upload.shape, upload.seed, &mut out, &mut go);
            if finished {
                let mut channel = out.finish().unwrap();
                let _ = channel.flush();
            } else {
                // The client dies: the body fails mid-stream, and hyper drops the connection.
                let _ = tx_err.blocking_send(Err(io::Error::other("client killed")));
            }
        })
    };
    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut client = connect(port).await;
    let request = Request::put(format!("/nar/{}", upload.file_name))
        .header("content-length", upload.nar_size)
        .header("content-type", "application/x-nix-nar")
        .body(BodyExt::boxed(body))
        .unwrap();
    let result = client.send_request(request).await;
    let _ = generator.await;
    if upload.killed {
        // The client is gone; whatever the service answered (if it could), it must not be OK.
        return match result {
            Ok(r) if r.status() == StatusCode::OK => {
                Err(format!("{}: a killed upload was accepted", upload.name))
            }
            _ => Ok(()),
        };
    }
    let response = result.map_err(|e| format!("{}: NAR upload failed: {e}", upload.name))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status != StatusCode::OK {
        return Err(format!(
            "{}: NAR refused {status}: {}",
            upload.name,
            String::from_utf8_lossy(&body)
        ));
    }
    let (status, text) = put_small(
        port,
        &format!("/{}.narinfo", upload.hash_part),
        upload.narinfo.clone(),
    )
    .await;
    if status != StatusCode::OK {
        return Err(format!("{}: narinfo refused {status}: {text}", upload.name));
    }
    Ok(())
}

/// Fetches a NAR back and checks its hash and size, streaming.
async fn check_served(port: u16, upload: &Upload) -> Result<(), String> {
    let mut client = connect(port).await;
    let (status, narinfo) = {
        let request = Request::get(format!("/{}.narinfo", upload.hash_part))
            .body(http_body_util::Empty::new().map_err(|e| match e {}).boxed())
            .unwrap();
        let response = client
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    if status != StatusCode::OK || narinfo != upload.narinfo {
        return Err(format!("{}: narinfo {status}: {narinfo}", upload.name));
    }
    let mut client = connect(port).await;
    let request = Request::get(format!("/nar/{}", upload.file_name))
        .body(http_body_util::Empty::new().map_err(|e| match e {}).boxed())
        .unwrap();
    let response = client
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let mut body = response.into_body();
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut size = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() {
            hasher.update(&data);
            size += data.len() as u64;
        }
    }
    let hash = hasher.finalize().unwrap();
    if size != upload.nar_size || format!("{}.nar", hash.encode(Format::Nix32)) != upload.file_name
    {
        return Err(format!("{}: NAR served back differs", upload.name));
    }
    Ok(())
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

fn start(dir: &Path, log: &Path) -> Server {
    let exe = env!("CARGO_BIN_EXE_nix-ingest-binary-cache");
    let child = Command::new(exe)
        .arg("--dir")
        .arg(dir)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--max-requests",
            "64",
            "--max-verifications",
            "4",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server { child, port: 0 };
    for _ in 0..100 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(port) = text
            .lines()
            .find_map(|l| l.strip_prefix("listening on http://127.0.0.1:"))
        {
            server.port = port.trim().parse().unwrap();
            return server;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the service did not start: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn peak_memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a load test: minutes and gigabytes; run with --ignored (see the file's docs)"]
async fn many_concurrent_uploads_with_a_big_one_and_killed_clients() {
    let big_mib = env_number("NIX_INGEST_LOAD_BIG_MIB", 1024);
    let count = env_number("NIX_INGEST_LOAD_UPLOADS", 120) as usize;
    let concurrency = env_number("NIX_INGEST_LOAD_CONCURRENCY", 32) as usize;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("cache");
    let log = work.path().join("service.log");
    let server = start(&dir, &log);
    let port = server.port;

    // The mix: one big file, a few large ones, many small trees; every seventh client is killed.
    let mut shapes = vec![Shape::File(big_mib << 20)];
    for i in 1..count {
        shapes.push(match i % 10 {
            0 => Shape::File(64 << 20),
            1 | 2 => Shape::File(4 << 20),
            3..=5 => Shape::Dir {
                files: 200,
                size: 3000,
            },
            6 => Shape::Dir {
                files: 20,
                size: 1 << 20,
            },
            _ => Shape::File(100_000 + i as u64 * 777),
        });
    }
    let started = Instant::now();
    let uploads: Vec<Arc<Upload>> = tokio::task::spawn_blocking(move || {
        shapes
            .into_iter()
            .enumerate()
            .map(|(i, shape)| Arc::new(plan(i, shape, i % 7 == 3)))
            .collect()
    })
    .await
    .unwrap();
    let total: u64 = uploads.iter().map(|u| u.nar_size).sum();
    let planned = started.elapsed();

    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut tasks = Vec::new();
    // The big one first, so that it runs alongside the others.
    for upload in &uploads {
        let permit = Arc::clone(&slots).acquire_owned().await.unwrap();
        let upload = Arc::clone(upload);
        tasks.push(tokio::spawn(async move {
            let result = run_upload(port, upload).await;
            drop(permit);
            result
        }));
    }
    let mut errors = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            errors.push(e);
        }
    }
    let uploaded = started.elapsed();
    assert!(
        errors.is_empty(),
        "{} uploads failed: {errors:#?}",
        errors.len()
    );

    // Nothing lost: every completed upload is served back intact; nothing of the killed ones.
    let started = Instant::now();
    let mut expected = std::collections::BTreeSet::from([
        "nix-cache-info".to_owned(),
        ".lock".to_owned(),
        ".publish.lock".to_owned(),
    ]);
    for upload in &uploads {
        if upload.killed {
            continue;
        }
        check_served(port, upload).await.unwrap();
        expected.insert(format!("{}.narinfo", upload.hash_part));
        expected.insert(format!("nar/{}", upload.file_name));
    }
    let checked = started.elapsed();
    let peak = peak_memory_kib(server.child.id());
    assert_eq!(
        files_under(&dir),
        Vec::from_iter(expected),
        "published files"
    );

    let killed = uploads.iter().filter(|u| u.killed).count();
    println!(
        "{} uploads ({} killed half-way), {:.2} GiB of NAR, {concurrency} at a time, largest {big_mib} MiB",
        uploads.len(),
        killed,
        total as f64 / (1u64 << 30) as f64
    );
    println!(
        "planning {:.1} s; uploading and verifying {:.1} s ({:.0} MiB/s); reading back {:.1} s",
        planned.as_secs_f64(),
        uploaded.as_secs_f64(),
        total as f64 / (1 << 20) as f64 / uploaded.as_secs_f64(),
        checked.as_secs_f64()
    );
    println!("service peak memory (VmHWM): {} MiB", peak / 1024);
    let log = std::fs::read_to_string(&log).unwrap();
    let accepted = log.lines().filter(|l| l.contains(" accepted")).count();
    let refused = log.lines().filter(|l| l.contains(" refused")).count();
    println!("service log: {accepted} accepted, {refused} refused");
    assert_eq!(accepted, uploads.len() - killed);
}
