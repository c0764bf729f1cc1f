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
    let server = TestServer::start().await;
    let source = r#"
        export async function bgUpdater(event) {
          const response = await fetch(event.url);
          const text = await response.text();
          return { length: text.length, used: response.bodyUsed };
        }"#;
    let report = run(
        source,
        json!({ "url": server.url("/bytes/1000000") }),
        limits(Duration::from_secs(20)),
    )
    .await;
    assert_ok(&report);
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
