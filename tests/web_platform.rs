//! The web platform globals of the prelude, tested inside the sandbox: each
//! conformance file of `tests/web_platform/` runs with `harness.js` as one
//! piece and reports the tests that passed and failed. Also what a file cannot
//! test from inside: errors that fail the run, and resource limits.

mod common;

use bgwasm::sandbox::{ErrorKind, Limits, MemoryCells, Piece, RunReport, SpaceSandbox};
use common::{TestServer, engine};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(60),
        ..Limits::default()
    }
}

async fn run_piece(id: &str, source: &str, event: &Value, limits: Limits) -> RunReport {
    let mut sandbox = SpaceSandbox::new(engine().await, "web-platform", limits);
    sandbox
        .run(
            &Piece::new(id, source),
            event,
            Arc::new(MemoryCells::default()),
        )
        .await
}

fn read(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/web_platform")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Runs one conformance file and fails with every failed test's message, or
/// when fewer tests passed than the file declares (one `test(` a line). The
/// tests get `{echo}`: the URL of a loopback server's `/echo` route.
async fn run_conformance(name: &str) {
    let server = TestServer::start().await;
    let source = read(name);
    let declared = source
        .lines()
        .filter(|line| line.starts_with("test("))
        .count();
    assert!(declared > 0, "{name} declares no tests");
    let piece = format!("{}\n{source}", read("harness.js"));
    let event = json!({ "echo": server.url("/echo") });
    let report = run_piece(name.trim_end_matches(".js"), &piece, &event, limits()).await;
    let outcome = &report.outcome;
    assert!(
        outcome.ok,
        "{name} did not run to the end: {:?}",
        outcome.error
    );
    let value = outcome.value.clone().unwrap_or(Value::Null);
    let failed = value["failed"].as_array().cloned().unwrap_or_default();
    let failures: Vec<String> = failed
        .iter()
        .map(|f| format!("- {}\n  {}", f["name"], f["message"].as_str().unwrap_or("")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {name}'s tests failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let passed = value["passed"].as_array().map_or(0, Vec::len);
    assert!(
        passed >= declared,
        "only {passed} of the {declared} tests of {name} passed: {value}"
    );
}

#[tokio::test]
async fn base64() {
    run_conformance("base64.js").await;
}

#[tokio::test]
async fn events() {
    run_conformance("events.js").await;
}

#[tokio::test]
async fn abort() {
    run_conformance("abort.js").await;
}

#[tokio::test]
async fn clone() {
    run_conformance("clone.js").await;
}

#[tokio::test]
async fn misc() {
    run_conformance("misc.js").await;
}

#[tokio::test]
async fn streams() {
    run_conformance("streams.js").await;
}

#[tokio::test]
async fn blob() {
    run_conformance("blob.js").await;
}

#[tokio::test]
async fn encoding() {
    run_conformance("encoding.js").await;
}

#[tokio::test]
async fn crypto() {
    run_conformance("crypto.js").await;
}

#[tokio::test]
async fn fetch() {
    run_conformance("fetch.js").await;
}

#[tokio::test]
async fn compression() {
    run_conformance("compression.js").await;
}

fn assert_js_error(report: &RunReport, needle: &str) {
    let error = report
        .outcome
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("expected a js_error, got {:?}", report.outcome));
    assert_eq!(error.kind, ErrorKind::JsError, "{error:?}");
    assert!(error.message.contains(needle), "{error:?} lacks {needle:?}");
}

#[tokio::test]
async fn report_error_fails_the_run_like_an_uncaught_error() {
    let piece = r#"export async function bgUpdater() {
        reportError(new TypeError("reported on purpose"));
        return "finished";
    }"#;
    let report = run_piece("reporter", piece, &json!({}), limits()).await;
    assert_js_error(&report, "reported on purpose");
}

#[tokio::test]
async fn a_throwing_event_listener_fails_the_run_but_not_the_dispatch() {
    let piece = r#"export async function bgUpdater() {
        const target = new EventTarget();
        let after = false;
        target.addEventListener("x", () => { throw new RangeError("listener broke"); });
        target.addEventListener("x", () => { after = true; });
        target.dispatchEvent(new Event("x"));
        if (!after) throw new Error("the second listener did not run");
        return "dispatched";
    }"#;
    let report = run_piece("listener", piece, &json!({}), limits()).await;
    assert_js_error(&report, "listener broke");
}

#[tokio::test]
async fn a_huge_structured_clone_hits_a_limit_not_an_internal_error() {
    let piece = r#"export async function bgUpdater() {
        const rows = [];
        for (let i = 0; i < 200000; i++) rows.push({ i, text: "row " + i, tags: [i, i + 1] });
        const copies = [];
        for (;;) copies.push(structuredClone(rows));
    }"#;
    let report = run_piece(
        "clone-bomb",
        piece,
        &json!({}),
        Limits {
            memory_bytes: 48 << 20,
            fuel: 2_000_000_000,
            ..limits()
        },
    )
    .await;
    let kind = report.outcome.error_kind();
    assert!(
        matches!(
            kind,
            Some(ErrorKind::MemoryLimit | ErrorKind::FuelExhausted)
        ),
        "expected memory_limit or fuel_exhausted, got {:?}",
        report.outcome.error
    );
}
