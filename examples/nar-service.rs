//! `nar-service`: an HTTP service that hashes NAR uploads as Nix would, without ever holding an
//! upload in memory.
//!
//! ```text
//! cargo run --example nar-service --features serde -- [ADDRESS]    # default 127.0.0.1:8080
//! curl -T t1.nar http://127.0.0.1:8080/t1
//! ```
//!
//! `PUT /NAME` with a NAR (`nix-store --dump`) as the body answers `200` and JSON:
//!
//! ```json
//! {
//!   "name": "t1",
//!   "narHash": "sha256-MLfBLB1crQi0HH1X2L7/bb4gB4ohOLxcEZsYWkhqt2s=",
//!   "narSize": 4760,
//!   "addresses": {
//!     "nar":        { "ca": "fixed:r:sha256:0sxp…", "contentAddress": { "hash": "sha256-…", "method": "nar" }, "storePath": "/nix/store/033j…-t1" },
//!     "git-sha1":   { "ca": "fixed:git:sha1:qx7n…", "contentAddress": { … }, "storePath": "/nix/store/la84…-t1" },
//!     "git-sha256": { "ca": "fixed:git:sha256:…",   "contentAddress": { … }, "storePath": "/nix/store/…-t1" }
//!   }
//! }
//! ```
//!
//! `ca` is written as `nix path-info --json` writes it, `contentAddress` as Nix 2.33's JSON does
//! (see `nix_ingest::serde_impls`), and `storePath` is what `nix store add --mode nar|git
//! --hash-algo sha256|sha1 --name NAME` makes of the same tree (no references). Git store paths
//! with SHA-256 follow Nix 2.31 and later; Nix 2.26 refuses them.
//!
//! The body streams through `nar::Parser` chunk by chunk, as it arrives (with `Content-Length`
//! or `Transfer-Encoding: chunked`), into one pass of three hashers joined by `event::Tee`: git
//! SHA-1 (with collision detection), git SHA-256 and the NAR SHA-256. A malformed NAR answers
//! `400` with the byte offset of the problem, `{"error": "…", "offset": N}`; a NAR over the size
//! limit `413`; a SHA-1 collision attack `422`. NAME is a store path name (percent-encoding is
//! decoded, so `%3F` gives `?`).
//!
//! The HTTP/1.1 handling is deliberately small (one request per connection, `Connection:
//! close`, an idle timeout, a bounded number of connections); put a real HTTP server in front of
//! it for anything but loopback.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use nix_ingest::Limits;
use nix_ingest::content_address::ContentAddress;
use nix_ingest::event::{SinkError, Tee};
use nix_ingest::git::GitHasher;
use nix_ingest::hash::Algorithm;
use nix_ingest::method::FileIngestionMethod;
use nix_ingest::nar::{self, NarHasher, Parser};
use nix_ingest::store_path::{self, References, StoreDir};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The longest request head (request line and headers) accepted.
const MAX_HEAD: usize = 16 * 1024;
/// The most headers a request may have.
const MAX_HEADERS: usize = 64;
/// The size of each connection's read buffer; also bounds a chunk-size or trailer line.
const BUFFER_SIZE: usize = 64 * 1024;
/// The longest chunk-size or trailer line of a chunked body.
const MAX_LINE: usize = 4096;
/// The most trailer lines after a chunked body.
const MAX_TRAILERS: usize = 64;
/// After an error, at most this much of the rest of the body is read and discarded (so that the
/// client sees the answer rather than a reset) before the connection is closed.
const MAX_DRAIN: u64 = 64 << 20;

/// How the service runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// What an upload may hold. The default is `Limits::default()` with at most 2^20 entries per
    /// directory and 1 TiB of content, so that one upload cannot take more than a few hundred
    /// MiB of memory.
    pub limits: Limits,
    /// The store directory store paths are made in.
    pub store_dir: StoreDir,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long a connection may stay silent before it is dropped.
    pub idle_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits {
                max_entries_per_directory: 1 << 20,
                max_total_size: 1 << 40,
                ..Limits::default()
            },
            store_dir: StoreDir::default(),
            max_connections: 64,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves uploads on `listener` until accepting fails for good.
pub async fn serve(listener: TcpListener, config: Config) -> io::Result<()> {
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    loop {
        let permit = Arc::clone(&slots)
            .acquire_owned()
            .await
            .map_err(io::Error::other)?;
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: wait a little rather than spin.
            Err(e) if is_transient(&e) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let config = Arc::clone(&config);
        tokio::spawn(async move {
            // A failed connection concerns only its client.
            let _ = handle(stream, &config).await;
            drop(permit);
        });
    }
}

fn is_transient(e: &io::Error) -> bool {
    !matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported
    )
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// An answer: a status and a JSON body.
struct Response {
    status: u16,
    extra_headers: &'static str,
    body: Value,
}

impl Response {
    fn ok(body: Value) -> Self {
        Response {
            status: 200,
            extra_headers: "",
            body,
        }
    }

    fn error(status: u16, message: impl fmt::Display) -> Self {
        Response {
            status,
            extra_headers: "",
            body: json!({ "error": message.to_string() }),
        }
    }

    /// A refused NAR: the message and the byte offset.
    fn nar(e: &nar::Error) -> Self {
        let status = match e {
            nar::Error::TotalSizeExceeded { .. } => 413,
            nar::Error::Sink {
                source: SinkError::Sha1Collision { .. },
                ..
            } => 422,
            _ => 400,
        };
        Response {
            status,
            extra_headers: "",
            body: json!({ "error": e.to_string(), "offset": e.offset() }),
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            411 => "Length Required",
            413 => "Content Too Large",
            417 => "Expectation Failed",
            422 => "Unprocessable Content",
            431 => "Request Header Fields Too Large",
            501 => "Not Implemented",
            _ => "Error",
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut body = self.body.to_string();
        body.push('\n');
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
            self.status,
            self.reason(),
            body.len(),
            self.extra_headers,
        )
        .into_bytes();
        out.extend_from_slice(body.as_bytes());
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The connection: a buffered reader with an idle timeout
// ---------------------------------------------------------------------------------------------

struct Conn {
    stream: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    idle: Duration,
}

/// Why the body could not be read.
enum ReadError {
    Io(io::Error),
    TimedOut,
    /// The client closed the connection early.
    Eof,
    /// Bad chunked framing.
    Framing(&'static str),
}

impl From<ReadError> for Response {
    fn from(e: ReadError) -> Response {
        match e {
            ReadError::Io(e) => Response::error(400, format!("reading the request failed: {e}")),
            ReadError::TimedOut => Response::error(408, "the client was silent for too long"),
            ReadError::Eof => Response::error(400, "the request ended before its body did"),
            ReadError::Framing(what) => {
                Response::error(400, format!("bad chunked transfer encoding: {what}"))
            }
        }
    }
}

impl Conn {
    fn available(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
    }

    /// Reads more bytes after those available (moving them to the front if needed); fails on
    /// end of input, a timeout, or a buffer already full.
    async fn fill(&mut self) -> Result<(), ReadError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let Some(free) = self.buf.get_mut(self.end..).filter(|f| !f.is_empty()) else {
            return Err(ReadError::Framing("line too long"));
        };
        let n = match tokio::time::timeout(self.idle, self.stream.read(free)).await {
            Err(_) => return Err(ReadError::TimedOut),
            Ok(Err(e)) => return Err(ReadError::Io(e)),
            Ok(Ok(0)) => return Err(ReadError::Eof),
            Ok(Ok(n)) => n,
        };
        self.end = self.end.saturating_add(n).min(self.buf.len());
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match tokio::time::timeout(self.idle, self.stream.write_all(bytes)).await {
            Ok(result) => result,
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        }
    }

    /// Reads and discards up to [`MAX_DRAIN`] bytes until the client stops sending, so that
    /// closing does not reset the connection under the answer.
    async fn drain(&mut self) {
        let mut left = MAX_DRAIN;
        while left > 0 {
            let wait = self.idle.min(Duration::from_secs(2));
            match tokio::time::timeout(wait, self.stream.read(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n as u64),
                _ => break,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------------

/// How the body's length is given.
enum Framing {
    Length(u64),
    Chunked,
}

struct Request {
    method: String,
    target: String,
    framing: Option<Framing>,
    expect_continue: bool,
}

/// Reads and parses the request head, leaving the start of the body in the buffer.
async fn read_head(conn: &mut Conn) -> Result<Request, Response> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(conn.available()) {
            Ok(httparse::Status::Complete(head_len)) => {
                let request = request_from(&req)?;
                conn.consume(head_len);
                return Ok(request);
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Response::error(431, "too many headers"));
            }
            Err(e) => return Err(Response::error(400, format!("bad request head: {e}"))),
        }
        if conn.available().len() >= MAX_HEAD {
            return Err(Response::error(431, "request head too large"));
        }
        conn.fill().await.map_err(Response::from)?;
    }
}

fn request_from(req: &httparse::Request<'_, '_>) -> Result<Request, Response> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| Response::error(400, format!("header {} is not UTF-8", h.name)))?
            .trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .map_err(|_| Response::error(400, format!("bad Content-Length '{value}'")))?;
            if length.is_some_and(|l| l != n) {
                return Err(Response::error(400, "conflicting Content-Length headers"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !value.eq_ignore_ascii_case("chunked") || chunked {
                return Err(Response::error(
                    501,
                    format!("Transfer-Encoding '{value}' is not supported (only chunked)"),
                ));
            }
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("expect") {
            if !value.eq_ignore_ascii_case("100-continue") {
                return Err(Response::error(
                    417,
                    format!("cannot meet Expect '{value}'"),
                ));
            }
            expect_continue = true;
        }
    }
    let framing = match (length, chunked) {
        (Some(_), true) => {
            return Err(Response::error(
                400,
                "both Content-Length and Transfer-Encoding given",
            ));
        }
        (Some(n), false) => Some(Framing::Length(n)),
        (None, true) => Some(Framing::Chunked),
        (None, false) => None,
    };
    Ok(Request {
        method: req.method.unwrap_or_default().to_owned(),
        target: req.path.unwrap_or_default().to_owned(),
        framing,
        expect_continue,
    })
}

/// The store path name in a request target `/NAME` (percent-decoded, query string ignored).
fn name_from_target(target: &str) -> Result<String, Response> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let Some(encoded) = path.strip_prefix('/').filter(|n| !n.contains('/')) else {
        return Err(Response::error(
            404,
            "PUT a NAR to /NAME, where NAME is the store path name",
        ));
    };
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail
                .get(..2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Response::error(400, format!("bad percent-encoding in '{path}'")))?;
            bytes.push(hex);
            rest = tail.get(2..).unwrap_or_default();
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    let name = String::from_utf8(bytes)
        .map_err(|_| Response::error(400, format!("name in '{path}' is not UTF-8")))?;
    store_path::check_name(&name).map_err(|e| Response::error(400, e))?;
    Ok(name)
}

// ---------------------------------------------------------------------------------------------
// The body
// ---------------------------------------------------------------------------------------------

/// Where a body's decoding stands.
enum Body {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers(usize),
    Done,
}

impl Body {
    fn new(framing: &Framing) -> Self {
        match framing {
            Framing::Length(n) => Body::Length(*n),
            Framing::Chunked => Body::ChunkSize,
        }
    }

    /// The next piece of body bytes (as many as have arrived), or `None` at the end of the body.
    async fn next<'c>(&mut self, conn: &'c mut Conn) -> Result<Option<&'c [u8]>, ReadError> {
        loop {
            match *self {
                Body::Done | Body::Length(0) => {
                    *self = Body::Done;
                    return Ok(None);
                }
                Body::Length(left) | Body::ChunkData(left) => {
                    if conn.available().is_empty() {
                        conn.fill().await?;
                    }
                    let n = conn
                        .available()
                        .len()
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left.saturating_sub(n as u64);
                    *self = match *self {
                        Body::Length(_) => Body::Length(left),
                        _ if left == 0 => Body::ChunkEnd,
                        _ => Body::ChunkData(left),
                    };
                    let start = conn.start;
                    conn.consume(n);
                    return Ok(conn.buf.get(start..start.saturating_add(n)));
                }
                Body::ChunkSize => match httparse::parse_chunk_size(conn.available()) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        conn.consume(used);
                        *self = if size == 0 {
                            Body::Trailers(0)
                        } else {
                            Body::ChunkData(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if conn.available().len() < MAX_LINE => {
                        conn.fill().await?;
                    }
                    Ok(httparse::Status::Partial) => {
                        return Err(ReadError::Framing("chunk size line too long"));
                    }
                    Err(_) => return Err(ReadError::Framing("bad chunk size line")),
                },
                Body::ChunkEnd => {
                    if conn.available().len() < 2 {
                        conn.fill().await?;
                        continue;
                    }
                    if conn.available().starts_with(b"\r\n") {
                        conn.consume(2);
                        *self = Body::ChunkSize;
                    } else {
                        return Err(ReadError::Framing("chunk data not followed by CRLF"));
                    }
                }
                Body::Trailers(count) => {
                    let line_end = conn.available().windows(2).position(|w| w == b"\r\n");
                    match line_end {
                        Some(0) => {
                            conn.consume(2);
                            *self = Body::Done;
                        }
                        Some(n) if count < MAX_TRAILERS => {
                            conn.consume(n.saturating_add(2));
                            *self = Body::Trailers(count.saturating_add(1));
                        }
                        Some(_) => return Err(ReadError::Framing("too many trailer lines")),
                        None if conn.available().len() < MAX_LINE => conn.fill().await?,
                        None => return Err(ReadError::Framing("trailer line too long")),
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Serving one connection
// ---------------------------------------------------------------------------------------------

async fn handle(stream: TcpStream, config: &Config) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: vec![0u8; BUFFER_SIZE].into_boxed_slice(),
        start: 0,
        end: 0,
        idle: config.idle_timeout,
    };
    let (response, body_read) = match process(&mut conn, config).await {
        Ok(response) => (response, true),
        Err(response) => (response, false),
    };
    conn.write(&response.to_bytes()).await?;
    if !body_read {
        // Tell the client the answer is complete, then let it finish sending.
        let _ = conn.stream.shutdown().await;
        conn.drain().await;
    }
    Ok(())
}

/// Reads one request; `Ok` once its whole body has been read, `Err` with the answer otherwise.
async fn process(conn: &mut Conn, config: &Config) -> Result<Response, Response> {
    let request = read_head(conn).await?;
    if request.method != "PUT" {
        let mut r = Response::error(405, "only PUT is supported: PUT a NAR to /NAME");
        r.extra_headers = "Allow: PUT\r\n";
        return Err(r);
    }
    let name = name_from_target(&request.target)?;
    let framing = request
        .framing
        .ok_or_else(|| Response::error(411, "a Content-Length or chunked body is required"))?;
    if request.expect_continue {
        conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|e| Response::error(400, e))?;
    }

    let mut parser = Parser::new(config.limits);
    let mut hashers = Tee::new(
        GitHasher::new(Algorithm::Sha1),
        Tee::new(
            GitHasher::new(Algorithm::Sha256),
            NarHasher::new(Algorithm::Sha256),
        ),
    );
    let mut body = Body::new(&framing);
    while let Some(chunk) = body.next(conn).await.map_err(Response::from)? {
        let pushed = parser
            .push(chunk, &mut hashers)
            .map_err(|e| Response::nar(&e))?;
        if pushed < chunk.len() {
            let offset = parser.offset();
            return Err(Response::nar(&nar::Error::TrailingData { offset }));
        }
    }
    let nar_size = parser.finish().map_err(|e| Response::nar(&e))?;

    // The whole body is read from here on: errors no longer need the connection drained.
    let (git_sha1, rest) = hashers.into_inner();
    let (git_sha256, nar_hasher) = rest.into_inner();
    let unhashable = |e: SinkError| Ok(Response::error(422, e));
    let git_sha1 = match git_sha1.finish() {
        Ok(h) => h,
        Err(e) => return unhashable(e),
    };
    let git_sha256 = match git_sha256.finish() {
        Ok(h) => h,
        Err(e) => return unhashable(e),
    };
    let nar_hash = match nar_hasher.finish() {
        Ok(h) => h,
        Err(e) => return unhashable(e),
    };

    let mut addresses = serde_json::Map::new();
    for (key, method, hash) in [
        ("nar", FileIngestionMethod::Nar, nar_hash),
        ("git-sha1", FileIngestionMethod::Git, git_sha1),
        ("git-sha256", FileIngestionMethod::Git, git_sha256),
    ] {
        let ca = ContentAddress::fixed(method, hash);
        let store_path =
            match config
                .store_dir
                .make_path_from_ca(&name, &ca, &References::default())
            {
                Ok(path) => json!(config.store_dir.display_path(&path)),
                Err(e) => json!({ "error": e.to_string() }),
            };
        addresses.insert(
            key.to_owned(),
            json!({ "ca": ca.to_string(), "contentAddress": ca, "storePath": store_path }),
        );
    }
    Ok(Response::ok(json!({
        "name": name,
        "narHash": nar_hash,
        "narSize": nar_size,
        "addresses": addresses,
    })))
}

// ---------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------

const USAGE: &str = "\
usage: nar-service [ADDRESS]

Serves on ADDRESS (default 127.0.0.1:8080): PUT a NAR to /NAME and get back its
NAR hash, its git SHA-1 and SHA-256 content addresses and their store paths, as JSON.

  curl -T t1.nar http://127.0.0.1:8080/t1
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let address = match args.as_slice() {
        [] => "127.0.0.1:8080".to_owned(),
        [flag] if flag == "-h" || flag == "--help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [address] => address.clone(),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let address: SocketAddr = match address.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nar-service: bad address '{address}': {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nar-service: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listener = TcpListener::bind(address).await?;
        eprintln!(
            "nar-service: listening on http://{}",
            listener.local_addr()?
        );
        serve(listener, Config::default()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nar-service: {e}");
            ExitCode::FAILURE
        }
    }
}
