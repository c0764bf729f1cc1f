//! What keeps a run going, and what does not: a run ends when the handler's
//! promise settles and the work it started is done. Intervals keep it going
//! until cleared (and are named when they never are), unreferenced timers
//! do not, an aborted fetch is dropped by the host at once, and a response
//! body that nobody reads holds nothing open.

mod common;

use bgwasm::sandbox::{ErrorKind, Limits, MemoryCells, Piece, RunReport, SpaceSandbox};
use common::{TestServer, engine};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

async fn run(source: &str, event: serde_json::Value, limits: Limits) -> RunReport {
    let mut sandbox = SpaceSandbox::new(engine().await, "lifetime", limits);
    sandbox
        .run(
            &Piece::new("lifetime", source),
            &event,
            Arc::new(MemoryCells::default()),
        )
        .await
}

fn limits(timeout: Duration) -> Limits {
    Limits {
        timeout,
        ..Limits::default()
    }
}

fn assert_ok(report: &RunReport) {
    assert!(
        report.outcome.ok,
        "the run failed: {:?}",
        report.outcome.error
    );
}

#[tokio::test]
async fn an_interval_keeps_the_run_going_until_it_is_cleared() {
    // The handler returns at once; the interval goes on, as detached work of
    // the run, and its cell write counts.
    let source = r#"
        export function bgUpdater() {
          let ticks = 0;
          const id = setInterval(() => {
            ticks += 1;
            cells.set("ticks", ticks);
            if (ticks === 3) clearInterval(id);
          }, 5);
          return "started";
        }"#;
    let report = run(source, json!({}), limits(Duration::from_secs(20))).await;
    assert_ok(&report);
    let ticks = report
        .cell_changes
        .iter()
        .find(|change| change.key == "ticks")
        .and_then(|change| change.value.clone());
    assert_eq!(ticks.as_deref(), Some("3"));
}

#[tokio::test]
async fn an_interval_never_cleared_ends_the_run_at_its_timeout_and_is_named() {
    let source = r#"
        function poll() {}
        export function bgUpdater() {
          setInterval(poll, 50);
          return 1;
        }"#;
    let report = run(source, json!({}), limits(Duration::from_millis(500))).await;
    let error = report.outcome.error.expect("the run times out");
    assert_eq!(error.kind, ErrorKind::Timeout, "{error:?}");
    assert!(
        error.message.contains("setInterval(poll set at bgUpdater")
            && error.message.contains("every 50ms")
            && error.message.contains("clearInterval"),
        "the message names the interval: {}",
        error.message
    );
}

#[tokio::test]
async fn interval_and_timeout_ids_share_one_pool_and_bad_callbacks_are_type_errors() {
    let source = r#"
        export async function bgUpdater() {
          const a = setTimeout(() => {}, 1000);
          const b = setInterval(() => {}, 1000);
          clearInterval(a);
          clearTimeout(b);
          let thrown;
          try { setInterval("code", 10); } catch (error) { thrown = `${error.name}: ${error.message}`; }
          return { distinct: a !== b, thrown };
        }"#;
    let report = run(source, json!({}), limits(Duration::from_secs(5))).await;
    assert_ok(&report);
    assert_eq!(
        report.outcome.value,
        Some(json!({
            "distinct": true,
            "thrown": "TypeError: setInterval: the callback must be a function, not string"
        }))
    );
}

#[tokio::test]
async fn a_response_body_read_in_chunks_arrives_whole() {
    let source = r#"
        export async function bgUpdater(event) {
          const response = await fetch(event.url);
          const text = await response.text();
          return { length: text.length, used: response.bodyUsed };
        }"#;
    let (_server, report) = run_fetching(source, "/bytes/1000000", Duration::from_secs(20)).await;
    assert_eq!(
        report.outcome.value,
        Some(json!({ "length": 1_000_000, "used": true }))
    );
}

#[tokio::test]
async fn a_body_over_the_response_limit_fails_its_read_and_names_the_flag() {
    let server = TestServer::start().await;
    let source = r#"
        export async function bgUpdater(event) {
          const response = await fetch(event.url);
          try {
            await response.arrayBuffer();
            return "read";
          } catch (error) {
            return `${error.name}: ${error.message}`;
          }
        }"#;
    let report = run(
        source,
        json!({ "url": server.url("/bytes/300000") }),
        Limits {
            max_response_bytes: 100_000,
            ..limits(Duration::from_secs(20))
        },
    )
    .await;
    assert_ok(&report);
    let message = report.outcome.value.unwrap().to_string();
    assert!(
        message.contains("TypeError") && message.contains("--max-response-bytes"),
        "{message}"
    );
    assert!(
        report.outcome.fetches[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("broke off")),
        "the fetch record says the body broke off: {:?}",
        report.outcome.fetches
    );
}

/// Runs `source` with the event `{ url }`, `path` of a fresh loopback
/// server, and checks that the run succeeded.
async fn run_fetching(source: &str, path: &str, timeout: Duration) -> (TestServer, RunReport) {
    let server = TestServer::start().await;
    let report = run(source, json!({ "url": server.url(path) }), limits(timeout)).await;
    assert_ok(&report);
    (server, report)
}

/// Waits until the server counts `n` abandoned answers, or fails.
async fn until_abandoned(server: &TestServer, n: usize) {
    common::wait_until(
        "the server sees the request dropped",
        Duration::from_secs(10),
        || async { server.abandoned() >= n },
    )
    .await;
}

#[tokio::test]
async fn an_aborted_fetch_rejects_at_once_and_the_host_drops_the_request() {
    // The response would take 30 s; the run's limit is 10 s. Aborting after
    // 50 ms rejects the fetch with the signal's reason and leaves nothing
    // that keeps the run going.
    let source = r#"
        export async function bgUpdater(event) {
          const controller = new AbortController();
          setTimeout(() => controller.abort(), 50);
          try {
            await fetch(event.url, { signal: controller.signal });
            return "fetched";
          } catch (error) {
            return `${error.name}: ${error instanceof DOMException}`;
          }
        }"#;
    let (server, report) = run_fetching(source, "/delay/30000", Duration::from_secs(10)).await;
    assert_eq!(report.outcome.value, Some(json!("AbortError: true")));
    until_abandoned(&server, 1).await;
}

#[tokio::test]
async fn a_fetch_aborted_before_it_starts_sends_nothing() {
    let source = r#"
        export async function bgUpdater(event) {
          const reason = new Error("changed my mind");
          try {
            await fetch(event.url, { signal: AbortSignal.abort(reason) });
            return "fetched";
          } catch (error) {
            return error === reason;
          }
        }"#;
    let (server, report) = run_fetching(source, "/json", Duration::from_secs(10)).await;
    assert_eq!(report.outcome.value, Some(json!(true)));
    assert_eq!(server.requests(), 0);
    assert!(report.outcome.fetches.is_empty());
}

#[tokio::test]
async fn an_abort_after_the_body_starts_streaming_errors_the_read_and_drops_the_rest() {
    // 500 chunks 20 ms apart would take 10 s.
    let source = r#"
        export async function bgUpdater(event) {
          const controller = new AbortController();
          const response = await fetch(event.url, { signal: controller.signal });
          const reader = response.body.getReader();
          const first = await reader.read();
          controller.abort();
          try {
            for (;;) if ((await reader.read()).done) return "read to the end";
          } catch (error) {
            return { first: first.value.byteLength, error: error.name };
          }
        }"#;
    let (server, report) = run_fetching(source, "/drip/500", Duration::from_secs(8)).await;
    let value = report.outcome.value.unwrap();
    assert_eq!(value["error"], "AbortError", "{value}");
    assert!(value["first"].as_u64().unwrap() >= 1024, "{value}");
    until_abandoned(&server, 1).await;
}

#[tokio::test]
async fn a_body_nobody_reads_keeps_nothing_going_and_is_dropped_after_the_run() {
    let source = r#"
        export async function bgUpdater(event) {
          const response = await fetch(event.url);
          return response.status;
        }"#;
    let (server, report) = run_fetching(source, "/drip/500", Duration::from_secs(8)).await;
    assert_eq!(report.outcome.value, Some(json!(200)));
    until_abandoned(&server, 1).await;
}

#[tokio::test]
async fn an_abort_signal_timeout_does_not_keep_the_run_going() {
    // With a referenced timer this run would wait 60 s for it, past its
    // 10 s limit.
    let source = r#"
        export async function bgUpdater(event) {
          const response = await fetch(event.url, { signal: AbortSignal.timeout(60000) });
          return (await response.json()).hello;
        }"#;
    let (_server, report) = run_fetching(source, "/json", Duration::from_secs(10)).await;
    assert_eq!(report.outcome.value, Some(json!("world")));
}

#[tokio::test]
async fn a_zero_byte_body_and_a_20_mb_body_stream_chunk_by_chunk() {
    let server = TestServer::start().await;
    let source = r#"
        export async function bgUpdater(event) {
          const sizes = [];
          for (const url of event.urls) {
            let bytes = 0, chunks = 0;
            for await (const chunk of (await fetch(url)).body) {
              bytes += chunk.byteLength;
              chunks += 1;
            }
            sizes.push({ bytes, chunks });
          }
          return sizes;
        }"#;
    let report = run(
        source,
        json!({ "urls": [server.url("/bytes/0"), server.url("/bytes/20000000")] }),
        Limits {
            max_response_bytes: 32 << 20,
            ..limits(Duration::from_secs(30))
        },
    )
    .await;
    assert_ok(&report);
    let sizes = report.outcome.value.unwrap();
    assert_eq!(sizes[0], json!({ "bytes": 0, "chunks": 0 }));
    assert_eq!(sizes[1]["bytes"], 20_000_000);
    assert!(sizes[1]["chunks"].as_u64().unwrap() > 100, "{sizes}");
    // Read chunk by chunk, the body never sits whole in the guest.
    assert!(
        report.outcome.memory_peak_bytes < 16 << 20,
        "peak {} bytes",
        report.outcome.memory_peak_bytes
    );
}
