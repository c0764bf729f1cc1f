//! What the integration tests share: a small HTTP server on 127.0.0.1 that
//! the tests start themselves (an axum router on port 0), the guest cache
//! location, a sandbox engine and limits, the real binary, fixture loading,
//! and waiting for a condition with a deadline.
#![allow(dead_code)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bgwasm::sandbox::{EgressPolicy, EngineOptions, Limits, SandboxEngine};
use serde::Deserialize;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

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
        ..EngineOptions::default()
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

/// Polls `condition` every 10 ms until it holds, failing the test with
/// `what` if it still does not after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A test HTTP server. Routes:
/// - `/json`: `{"hello":"world"}` as application/json;
/// - `/delay/MS`: answers `delayed MS` after MS milliseconds;
/// - `/echo`: answers the request body, with the `x-piece` header as `x-echo`;
/// - `/redirect?to=URL`: a 302 to URL;
/// - `/loop`: a 302 to itself;
/// - `/bytes/N`: N bytes;
/// - `/drip/N`: N chunks of 1 KiB, 20 ms apart;
/// - anything else: 404.
///
/// It counts the requests it receives, and the answers of `/delay` and
/// `/drip` that the client dropped before they were complete (a cancelled
/// fetch); it stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    counters: Counters,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone, Default)]
struct Counters {
    requests: Arc<AtomicUsize>,
    abandoned: Arc<AtomicUsize>,
}

/// Counts an answer as abandoned if it is dropped before `finish`.
struct Unfinished(Option<Arc<AtomicUsize>>);

impl Unfinished {
    fn finish(mut self) {
        self.0 = None;
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(abandoned) = self.0.take() {
            abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl TestServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a test server");
        let addr = listener.local_addr().unwrap();
        let counters = Counters::default();
        let app = Router::new()
            .route("/json", get(json))
            .route("/delay/{ms}", any(delay))
            .route("/echo", any(echo))
            .route("/redirect", any(redirect))
            .route("/loop", any(|| async { found("/loop") }))
            .route("/bytes/{size}", any(bytes))
            .route("/drip/{chunks}", any(drip))
            .fallback(|| async { (StatusCode::NOT_FOUND, "no such route") })
            .layer(middleware::from_fn_with_state(counters.clone(), count))
            .with_state(counters.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            counters,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.counters.requests.load(Ordering::SeqCst)
    }

    /// Answers of `/delay` and `/drip` dropped before they were complete.
    pub fn abandoned(&self) -> usize {
        self.counters.abandoned.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn count(State(counters): State<Counters>, request: Request, next: Next) -> Response {
    counters.requests.fetch_add(1, Ordering::SeqCst);
    next.run(request).await
}

async fn json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"hello":"world"}"#,
    )
}

async fn delay(State(counters): State<Counters>, Path(ms): Path<u64>) -> String {
    let unfinished = Unfinished(Some(counters.abandoned));
    tokio::time::sleep(Duration::from_millis(ms)).await;
    unfinished.finish();
    format!("delayed {ms}")
}

async fn drip(State(counters): State<Counters>, Path(chunks): Path<usize>) -> Response {
    let unfinished = Unfinished(Some(counters.abandoned));
    let body = futures::stream::unfold(
        (0, Some(unfinished)),
        move |(sent, unfinished)| async move {
            if sent == chunks {
                if let Some(unfinished) = unfinished {
                    unfinished.finish();
                }
                return None;
            }
            if sent > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Some((
                Ok::<_, std::io::Error>(vec![b'd'; 1024]),
                (sent + 1, unfinished),
            ))
        },
    );
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(body),
    )
        .into_response()
}

/// The request's body back, its `x-piece` header as `x-echo` and its
/// content type as `x-echo-content-type`.
async fn echo(headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    (
        [
            (header::CONTENT_TYPE, "text/plain".to_owned()),
            (
                header::HeaderName::from_static("x-echo"),
                header_text("x-piece"),
            ),
            (
                header::HeaderName::from_static("x-echo-content-type"),
                header_text("content-type"),
            ),
        ],
        body,
    )
}

#[derive(Deserialize)]
struct RedirectTo {
    to: String,
}

async fn redirect(Query(RedirectTo { to }): Query<RedirectTo>) -> Response {
    found(&to)
}

fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

async fn bytes(Path(size): Path<usize>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        vec![b'x'; size],
    )
}
