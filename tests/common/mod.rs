//! What the integration tests share: a small HTTP server on 127.0.0.1 that
//! the tests start themselves, the guest cache location, a sandbox engine
//! and limits, and fixture loading.
#![allow(dead_code)]

use bgwasm::sandbox::{EgressPolicy, EngineOptions, Limits, SandboxEngine};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The compiled-guest cache the tests share, inside cargo's target dir.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guest-cache")
}

/// Runs the real `bgwasm` binary with `args` and the shared guest cache.
pub fn bgwasm(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_bgwasm"))
        .args(args)
        .env("BGWASM_CACHE_DIR", cache_dir())
        .output()
        .expect("running bgwasm")
}

/// A sandbox engine on the shared guest cache whose pieces may fetch from
/// the tests' servers on 127.0.0.1.
pub async fn engine() -> Arc<SandboxEngine> {
    SandboxEngine::new(EngineOptions {
        cache_dir: Some(cache_dir()),
        egress: EgressPolicy::new(true, vec![]),
    })
    .await
    .expect("the sandbox engine starts")
}

/// The default limits with a timeout generous enough for a loaded machine.
pub fn limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(20),
        ..Limits::default()
    }
}

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A test HTTP server. Routes:
/// - `/json`: `{"hello":"world"}` as application/json;
/// - `/delay/MS`: answers `delayed MS` after MS milliseconds;
/// - `/echo`: answers the request body, with the `x-piece` header as `x-echo`
///   and the request's content type as `x-echo-content-type`;
/// - `/redirect?to=URL`: a 302 to URL;
/// - `/loop`: a 302 to itself;
/// - `/bytes/N`: N bytes;
/// - anything else: 404.
///
/// It stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a test server");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream));
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buffer.len() > 1 << 20 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let _method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or("/").to_owned();
    let mut content_length = 0usize;
    let mut piece_header = String::new();
    let mut request_type = String::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.trim().parse().unwrap_or(0),
                "x-piece" => piece_header = value.trim().to_owned(),
                "content-type" => request_type = value.trim().to_owned(),
                _ => {}
            }
        }
    }
    let mut body = buffer[head_end..].to_vec();
    while body.len() < content_length {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }

    let (status, content_type, extra, payload): (&str, &str, String, Vec<u8>) = if path == "/json" {
        (
            "200 OK",
            "application/json",
            String::new(),
            br#"{"hello":"world"}"#.to_vec(),
        )
    } else if let Some(ms) = path.strip_prefix("/delay/") {
        let ms: u64 = ms.parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        (
            "200 OK",
            "text/plain",
            String::new(),
            format!("delayed {ms}").into_bytes(),
        )
    } else if path == "/echo" {
        (
            "200 OK",
            "text/plain",
            format!("x-echo: {piece_header}\r\nx-echo-content-type: {request_type}\r\n"),
            body,
        )
    } else if let Some(size) = path.strip_prefix("/bytes/") {
        (
            "200 OK",
            "application/octet-stream",
            String::new(),
            vec![b'x'; size.parse().unwrap_or(0)],
        )
    } else if path == "/loop" {
        (
            "302 Found",
            "text/plain",
            "location: /loop\r\n".to_owned(),
            Vec::new(),
        )
    } else if let Some(to) = path.strip_prefix("/redirect?to=") {
        (
            "302 Found",
            "text/plain",
            format!("location: {to}\r\n"),
            Vec::new(),
        )
    } else {
        (
            "404 Not Found",
            "text/plain",
            String::new(),
            b"no such route".to_vec(),
        )
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
        payload.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&payload).await;
    let _ = stream.shutdown().await;
}
