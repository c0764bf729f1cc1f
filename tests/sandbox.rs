//! The sandbox core against the real guest: sync and async handlers, fetch,
//! timers, every failure kind, isolation between spaces, and instance reuse.

mod common;

use bgwasm::sandbox::{
    EngineOptions, ErrorKind, Limits, LogLevel, MemoryCells, Piece, RunReport, SandboxEngine,
    SpaceSandbox,
};
use common::{TestServer, engine, fixture, limits};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn run_fixture(name: &str, event: serde_json::Value) -> RunReport {
    let mut sandbox = SpaceSandbox::new(engine().await, "test-space", limits());
    let cells = Arc::new(MemoryCells::default());
    sandbox
        .run(
            &Piece::new(name.trim_end_matches(".js"), fixture(name)),
            &event,
            cells,
        )
        .await
}

fn assert_failed(report: &RunReport, kind: ErrorKind, needle: &str) {
    let error = report
        .outcome
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("expected {kind}, got success: {:?}", report.outcome));
    assert_eq!(error.kind, kind, "unexpected error: {error:?}");
    assert!(
        error.message.contains(needle),
        "message {:?} lacks {needle:?}",
        error.message
    );
    assert!(!report.outcome.ok);
    assert!(
        report.cell_changes.is_empty(),
        "a failed run must not hand back cell writes"
    );
}

#[tokio::test]
async fn sync_handler_returns_value_logs_and_writes_a_cell() {
    let report = run_fixture("sync_counter.js", json!({"n": 1})).await;
    let outcome = &report.outcome;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(
        outcome.value,
        Some(json!({"count": 1, "piece": "sync_counter", "event": {"n": 1}}))
    );
    assert_eq!(outcome.cell_writes, vec!["count".to_string()]);
    assert_eq!(report.cell_changes[0].value.as_deref(), Some("1"));
    assert_eq!(outcome.logs.len(), 1);
    assert_eq!(outcome.logs[0].level, LogLevel::Info);
    assert_eq!(outcome.logs[0].message, "run 1 in test-space");
    assert!(outcome.fuel_used > 0);
    assert!(outcome.memory_peak_bytes > 0);
}

#[tokio::test]
async fn async_handler_awaits_a_fetch_and_writes_what_it_got() {
    let server = TestServer::start().await;
    let report = run_fixture("fetch_await.js", json!({"url": server.url("/json")})).await;
    let outcome = &report.outcome;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.value, Some(json!({"hello": "world"})));
    assert_eq!(outcome.fetches.len(), 1);
    assert_eq!(outcome.fetches[0].method, "GET");
    assert_eq!(outcome.fetches[0].status, Some(200));
    let fetched = report
        .cell_changes
        .iter()
        .find(|c| c.key == "fetched")
        .expect("the handler wrote its cell");
    let value: serde_json::Value = serde_json::from_str(fetched.value.as_deref().unwrap()).unwrap();
    assert_eq!(
        value,
        json!({"status": 200, "body": {"hello": "world"}, "type": "application/json"})
    );
}

#[tokio::test]
async fn run_waits_for_a_delayed_response_before_succeeding() {
    let server = TestServer::start().await;
    let piece = r#"export async function bgUpdater(event) {
        const text = await (await fetch(event.url)).text();
        cells.set("answer", text);
        return text;
    }"#;
    let mut sandbox = SpaceSandbox::new(engine().await, "s", limits());
    let started = Instant::now();
    let report = sandbox
        .run(
            &Piece::new("delayed", piece),
            &json!({"url": server.url("/delay/400")}),
            Arc::new(MemoryCells::default()),
        )
        .await;
    assert!(report.outcome.ok, "{:?}", report.outcome);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(report.outcome.value, Some(json!("delayed 400")));
    assert_eq!(report.cell_changes.len(), 1);
    assert_eq!(
        report.cell_changes[0].value.as_deref(),
        Some("\"delayed 400\"")
    );
}

#[tokio::test]
async fn promise_all_of_two_fetches_takes_the_longer_delay_not_the_sum() {
    let server = TestServer::start().await;
    let urls = json!({"urls": [server.url("/delay/600"), server.url("/delay/500")]});
    let mut sandbox = SpaceSandbox::new(engine().await, "s", limits());
    sandbox.instantiate().await.unwrap();
    let started = Instant::now();
    let report = sandbox
        .run(
            &Piece::new("all", fixture("fetch_all.js")),
            &urls,
            Arc::new(MemoryCells::default()),
        )
        .await;
    let elapsed = started.elapsed();
    assert!(report.outcome.ok, "{:?}", report.outcome);
    assert_eq!(
        report.outcome.value,
        Some(json!(["delayed 600", "delayed 500"]))
    );
    assert!(elapsed >= Duration::from_millis(600), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(1050),
        "the fetches ran one after the other: {elapsed:?}"
    );
}

#[tokio::test]
async fn set_timeout_sleeps_and_clear_timeout_cancels() {
    let started = Instant::now();
    let report = run_fixture("sleep.js", json!({"ms": 250})).await;
    assert!(report.outcome.ok, "{:?}", report.outcome);
    let slept = report
        .outcome
        .value
        .as_ref()
        .and_then(|v| v.as_u64())
        .unwrap();
    assert!(slept >= 250, "slept {slept} ms");
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn a_throw_is_a_js_error_with_message_and_stack() {
    let report = run_fixture("throws.js", json!({})).await;
    assert_failed(&report, ErrorKind::JsError, "boom from a sync handler");
    let error = report.outcome.error.unwrap();
    assert!(
        error.message.contains("piece \"throws\""),
        "{}",
        error.message
    );
    assert!(error.stack.unwrap_or_default().contains("bgUpdater"));
}

#[tokio::test]
async fn a_rejection_is_a_js_error() {
    let report = run_fixture("rejects.js", json!({})).await;
    assert_failed(
        &report,
        ErrorKind::JsError,
        "TypeError: rejected on purpose",
    );
}

#[tokio::test]
async fn a_syntax_error_is_reported_as_such() {
    let report = run_fixture("syntax_error.js", json!({})).await;
    assert_failed(&report, ErrorKind::SyntaxError, "piece \"syntax_error\"");
}

#[tokio::test]
async fn a_missing_export_is_no_handler() {
    let report = run_fixture("no_handler.js", json!({})).await;
    assert_failed(&report, ErrorKind::NoHandler, "bgUpdater");
}

#[tokio::test]
async fn a_promise_that_never_settles_is_unsettled() {
    let report = run_fixture("never_settles.js", json!({})).await;
    assert_failed(&report, ErrorKind::Unsettled, "never settles");
}

#[tokio::test]
async fn a_value_that_is_not_json_is_an_invalid_result() {
    let report = run_fixture("bad_result.js", json!({})).await;
    assert_failed(&report, ErrorKind::InvalidResult, "not JSON-serialisable");
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_fuel() {
    let mut sandbox = SpaceSandbox::new(
        engine().await,
        "s",
        Limits {
            fuel: 200_000_000,
            ..limits()
        },
    );
    let report = sandbox
        .run(
            &Piece::new("loop", fixture("infinite_loop.js")),
            &json!({}),
            Arc::new(MemoryCells::default()),
        )
        .await;
    assert_failed(&report, ErrorKind::FuelExhausted, "--fuel");
    assert!(report.outcome.fuel_used >= 200_000_000);
    assert!(!sandbox.is_live(), "a trapped instance must be discarded");
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let mut sandbox = SpaceSandbox::new(
        engine().await,
        "s",
        Limits {
            memory_bytes: 32 << 20,
            ..limits()
        },
    );
    let report = sandbox
        .run(
            &Piece::new("bomb", fixture("memory_bomb.js")),
            &json!({}),
            Arc::new(MemoryCells::default()),
        )
        .await;
    assert_failed(&report, ErrorKind::MemoryLimit, "memory");
    assert!(report.outcome.memory_peak_bytes <= 32 << 20);
    assert!(!sandbox.is_live());
}

#[tokio::test]
async fn unbounded_recursion_is_a_stack_overflow() {
    let report = run_fixture("recursion.js", json!({})).await;
    assert_failed(&report, ErrorKind::StackOverflow, "piece \"recursion\"");
}

#[tokio::test]
async fn a_slow_server_is_stopped_by_the_timeout() {
    let server = TestServer::start().await;
    let mut sandbox = SpaceSandbox::new(
        engine().await,
        "s",
        Limits {
            timeout: Duration::from_millis(500),
            ..limits()
        },
    );
    let started = Instant::now();
    let report = sandbox
        .run(
            &Piece::new("slow", fixture("slow_fetch.js")),
            &json!({"url": server.url("/delay/5000")}),
            Arc::new(MemoryCells::default()),
        )
        .await;
    assert_failed(&report, ErrorKind::Timeout, "--timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.outcome.fetches.len(), 1);
}

#[tokio::test]
async fn after_a_trap_the_next_run_gets_a_fresh_instance() {
    let mut sandbox = SpaceSandbox::new(
        engine().await,
        "s",
        Limits {
            fuel: 200_000_000,
            ..limits()
        },
    );
    let cells = Arc::new(MemoryCells::default());
    let looped = sandbox
        .run(
            &Piece::new("loop", fixture("infinite_loop.js")),
            &json!({}),
            cells.clone(),
        )
        .await;
    assert_eq!(looped.outcome.error_kind(), Some(ErrorKind::FuelExhausted));
    let fine = sandbox
        .run(
            &Piece::new("counter", fixture("sync_counter.js")),
            &json!({}),
            cells,
        )
        .await;
    assert!(fine.outcome.ok, "{:?}", fine.outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_space_does_not_hold_up_another() {
    let engine = engine().await;
    let server = TestServer::start().await;
    let mut looping = SpaceSandbox::new(
        engine.clone(),
        "looping",
        Limits {
            timeout: Duration::from_secs(5),
            ..limits()
        },
    );
    let mut healthy = SpaceSandbox::new(engine, "healthy", limits());
    // It tells the server when it starts, then loops.
    let fetch_then_loop = "export async function bgUpdater(event) {
        await fetch(event.url);
        for (;;) {}
    }";
    let started_url = server.url("/json");
    let forever = tokio::spawn(async move {
        looping
            .run(
                &Piece::new("loop", fetch_then_loop),
                &json!({ "url": started_url }),
                Arc::new(MemoryCells::default()),
            )
            .await
    });
    common::wait_until(
        "the looping space's run started",
        Duration::from_secs(10),
        || async { server.requests() == 1 },
    )
    .await;
    let started = Instant::now();
    let report = healthy
        .run(
            &Piece::new("fetch", fixture("fetch_await.js")),
            &json!({"url": server.url("/json")}),
            Arc::new(MemoryCells::default()),
        )
        .await;
    let elapsed = started.elapsed();
    assert!(report.outcome.ok, "{:?}", report.outcome);
    assert!(
        elapsed < Duration::from_secs(2),
        "the healthy space waited {elapsed:?}"
    );
    let looped = forever.await.unwrap();
    assert!(matches!(
        looped.outcome.error_kind(),
        Some(ErrorKind::Timeout | ErrorKind::FuelExhausted)
    ));
}

#[tokio::test]
async fn detached_work_belongs_to_the_run() {
    let server = TestServer::start().await;
    let report = run_fixture("detached.js", json!({"url": server.url("/delay/200")})).await;
    assert!(report.outcome.ok, "{:?}", report.outcome);
    assert_eq!(report.outcome.value, Some(json!("returned early")));
    assert_eq!(
        report.outcome.fetches[0].status,
        Some(200),
        "the detached fetch finished within the run"
    );
    assert_eq!(report.cell_changes.len(), 1);
    assert_eq!(
        report.cell_changes[0].value.as_deref(),
        Some("\"delayed 200\"")
    );
}

#[tokio::test]
async fn an_unhandled_rejection_in_detached_work_fails_the_run() {
    let report = run_fixture("unhandled.js", json!({})).await;
    assert_failed(&report, ErrorKind::JsError, "detached failure");
    assert!(report.outcome.error.unwrap().message.contains("unhandled"));
}

#[tokio::test]
async fn plain_scripts_and_default_exports_work_and_state_persists_in_an_instance() {
    let engine = engine().await;
    let mut sandbox = SpaceSandbox::new(engine, "s", limits());
    let cells = Arc::new(MemoryCells::default());
    let script = Piece::new("script", fixture("plain_script.js"));
    let first = sandbox
        .run(&script, &json!({"name": "a"}), cells.clone())
        .await;
    let second = sandbox
        .run(&script, &json!({"name": "b"}), cells.clone())
        .await;
    assert_eq!(first.outcome.value, Some(json!({"runs": 1, "hello": "a"})));
    // The source was evaluated once: the module state carried over.
    assert_eq!(second.outcome.value, Some(json!({"runs": 2, "hello": "b"})));
    let default = sandbox
        .run(
            &Piece::new("default", fixture("default_export.js")),
            &json!({"n": 7}),
            cells,
        )
        .await;
    assert_eq!(
        default.outcome.value,
        Some(json!({"via": "default", "n": 7}))
    );
}

#[tokio::test]
async fn a_changed_source_is_loaded_again() {
    let mut sandbox = SpaceSandbox::new(engine().await, "s", limits());
    let cells = Arc::new(MemoryCells::default());
    let v1 = sandbox
        .run(
            &Piece::new("p", "export const bgUpdater = () => 1;"),
            &json!({}),
            cells.clone(),
        )
        .await;
    let v2 = sandbox
        .run(
            &Piece::new("p", "export const bgUpdater = () => 2;"),
            &json!({}),
            cells,
        )
        .await;
    assert_eq!(v1.outcome.value, Some(json!(1)));
    assert_eq!(v2.outcome.value, Some(json!(2)));
}

#[tokio::test]
async fn web_apis_behave_like_the_web() {
    let report = run_fixture("web_apis.js", json!({})).await;
    assert!(report.outcome.ok, "{:?}", report.outcome);
    assert_eq!(
        report.outcome.value,
        Some(json!({
            "href": "https://example.com/feed?page=3&q=a+b",
            "host": "example.com",
            "page": "3",
            "q": "a b",
            "params": "a=1&b=x+y",
            "bytes": 6,
            "text": "héllo",
            "contentType": "text/plain",
            "many": "1, 2",
            "invalid": false,
        }))
    );
}

#[tokio::test]
async fn post_with_headers_and_body_reaches_the_server() {
    let server = TestServer::start().await;
    let report = run_fixture("post_json.js", json!({"url": server.url("/echo")})).await;
    assert!(report.outcome.ok, "{:?}", report.outcome);
    assert_eq!(
        report.outcome.value,
        Some(json!({"status": 200, "ok": true, "echoed": "{\"hello\":\"world\"}"}))
    );
    assert_eq!(report.outcome.fetches[0].method, "POST");
}

#[tokio::test]
async fn cells_are_read_from_the_source_and_failed_runs_change_nothing() {
    let cells = Arc::new(MemoryCells::new(BTreeMap::from([(
        "count".to_string(),
        "41".to_string(),
    )])));
    let mut sandbox = SpaceSandbox::new(engine().await, "s", limits());
    let report = sandbox
        .run(
            &Piece::new("counter", fixture("sync_counter.js")),
            &json!({}),
            cells.clone(),
        )
        .await;
    assert_eq!(report.outcome.value.as_ref().unwrap()["count"], json!(42));
    // The sandbox hands writes back; it never writes through.
    assert_eq!(cells.snapshot()["count"], "41");
    let failed = sandbox
        .run(
            &Piece::new("throws", fixture("throws.js")),
            &json!({}),
            cells.clone(),
        )
        .await;
    assert!(failed.cell_changes.is_empty());
    assert_eq!(failed.outcome.cell_writes, vec!["never".to_string()]);
}

#[tokio::test]
async fn a_run_s_cell_writes_are_bounded() {
    let piece = r#"export function bgUpdater() {
        let keys = 0, keyError = "", big = 0, bigError = "";
        try { for (let i = 0; i < 20000; i++) { cells.set("k" + i, i); keys++; } } catch (e) { keyError = e.message; }
        // Cells already written stay writable.
        cells.delete("k0");
        cells.set("k1", "again");
        return { keys, keyError };
    }"#;
    let mut sandbox = SpaceSandbox::new(engine().await, "s", limits());
    let report = sandbox
        .run(
            &Piece::new("many", piece),
            &json!({}),
            Arc::new(MemoryCells::default()),
        )
        .await;
    assert!(report.outcome.ok, "{:?}", report.outcome);
    let value = report.outcome.value.unwrap();
    assert_eq!(value["keys"], json!(10_000));
    assert!(
        value["keyError"]
            .as_str()
            .unwrap()
            .contains("at most 10000 cells"),
        "{value}"
    );
    assert_eq!(report.cell_changes.len(), 10_000);

    let piece = r#"export function bgUpdater() {
        const big = "x".repeat(3 << 20);
        let written = 0;
        try { for (let i = 0; i < 20; i++) { cells.set("big" + i, big); written++; } } catch (e) { return { written, error: e.message }; }
        return { written };
    }"#;
    let report = sandbox
        .run(
            &Piece::new("big", piece),
            &json!({}),
            Arc::new(MemoryCells::default()),
        )
        .await;
    assert!(report.outcome.ok, "{:?}", report.outcome);
    let value = report.outcome.value.unwrap();
    assert_eq!(value["written"], json!(10), "{value}");
    assert!(
        value["error"].as_str().unwrap().contains("at most 32 MiB"),
        "{value}"
    );
}

/// The cache's SAFETY argument (only this user writes compiled code there)
/// depends on the directory being private.
#[tokio::test]
async fn the_guest_cache_directory_is_private_to_its_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("nested").join("cache");
    SandboxEngine::new(EngineOptions {
        cache_dir: Some(cache.clone()),
        ..EngineOptions::default()
    })
    .await
    .unwrap();
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "one artifact"
    );
}
