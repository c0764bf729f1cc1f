//! What the integration tests share: a small HTTP server on 127.0.0.1 that
//! the tests start themselves (an axum router on port 0), the guest cache
//! location, fixture loading, and waiting for a condition with a deadline.
#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
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
/// - anything else: 404.
///
/// It counts the requests it receives, and stops when dropped.
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
        let app = Router::new()
            .route("/json", get(json))
            .route("/delay/{ms}", any(delay))
            .route("/echo", any(echo))
            .route("/redirect", any(redirect))
            .route("/loop", any(|| async { found("/loop") }))
            .route("/bytes/{size}", any(bytes))
            .fallback(|| async { (StatusCode::NOT_FOUND, "no such route") })
            .layer(middleware::from_fn_with_state(requests.clone(), count));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
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

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn count(State(requests): State<Arc<AtomicUsize>>, request: Request, next: Next) -> Response {
    requests.fetch_add(1, Ordering::SeqCst);
    next.run(request).await
}

async fn json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"hello":"world"}"#,
    )
}

async fn delay(Path(ms): Path<u64>) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("delayed {ms}")
}

async fn echo(headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let piece = headers
        .get("x-piece")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        [
            (header::CONTENT_TYPE, "text/plain".to_owned()),
            (header::HeaderName::from_static("x-echo"), piece),
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
