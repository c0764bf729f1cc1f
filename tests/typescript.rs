//! TypeScript pieces through the real sandbox: stripped in the host (enums and
//! namespaces transformed), run by the guest, their errors pointing at the
//! `.ts` lines, and each source stripped once per process.

mod common;

use bgwasm::sandbox::{ErrorKind, Lang, MemoryCells, Piece, RunReport, SpaceSandbox};
use common::{engine, fixture, limits};
use serde_json::json;
use std::sync::Arc;

fn ts_piece(name: &str) -> Piece {
    Piece::new(name.trim_end_matches(".ts"), fixture(name)).with_lang(Lang::TypeScript)
}

async fn run(sandbox: &mut SpaceSandbox, piece: &Piece, event: serde_json::Value) -> RunReport {
    sandbox
        .run(piece, &event, Arc::new(MemoryCells::default()))
        .await
}

#[tokio::test]
async fn a_piece_with_interfaces_an_enum_a_namespace_and_a_class_runs() {
    let mut sandbox = SpaceSandbox::new(engine().await, "ts-space", limits());
    let event = json!({"readings": [
        {"sensor": "a", "value": 4},
        {"sensor": "b", "value": 3.5},
        {"sensor": "c", "value": 5},
    ]});
    let report = run(&mut sandbox, &ts_piece("ts_shapes.ts"), event).await;
    assert!(report.outcome.ok, "{:?}", report.outcome.error);
    // total = (4 + 3.5 + 5) * Stats.scale = 25 > 20: Level.High, which is 10.
    assert_eq!(
        report.outcome.value,
        Some(json!({"count": 3, "total": 25, "level": 10, "label": "sensors High °C"}))
    );
    assert_eq!(report.outcome.cell_writes, vec!["last".to_owned()]);
}

#[tokio::test]
async fn a_throw_names_the_typescript_line_and_column_in_its_stack() {
    let mut sandbox = SpaceSandbox::new(engine().await, "ts-space", limits());
    let report = run(
        &mut sandbox,
        &ts_piece("ts_throws.ts"),
        json!({"reason": "testing"}),
    )
    .await;
    let error = report.outcome.error.expect("the piece throws");
    assert_eq!(error.kind, ErrorKind::JsError, "{error:?}");
    assert!(
        error.message.contains("Error: boom 7: testing"),
        "{}",
        error.message
    );
    let stack = error.stack.expect("a stack");
    let lines: Vec<&str> = stack.lines().map(str::trim).collect();
    // QuickJS places a frame at its call's callee or arguments: `Error` of
    // `new Error(...)` on line 13, column 15, and `event` of
    // `Failing.fail(event)` on line 18, column 16.
    assert_eq!(
        lines,
        [
            "at fail (ts_throws:13:15)",
            "at bgUpdater (ts_throws:18:16)"
        ],
        "{stack}"
    );
}

#[tokio::test]
async fn the_stack_is_remapped_on_every_run_of_a_loaded_piece() {
    let engine = engine().await;
    let mut sandbox = SpaceSandbox::new(engine.clone(), "ts-space", limits());
    let piece = ts_piece("ts_throws.ts");
    let first = run(&mut sandbox, &piece, json!({})).await;
    let second = run(&mut sandbox, &piece, json!({})).await;
    let stack = |report: &RunReport| report.outcome.error.as_ref().unwrap().stack.clone();
    assert!(stack(&first).unwrap().contains("ts_throws:13:15"));
    assert_eq!(stack(&first), stack(&second));
    assert_eq!(engine.strip_cache().stats().strips, 1);
}

#[tokio::test]
async fn a_stack_the_piece_logs_names_the_typescript_line_too() {
    let engine = engine().await;
    let mut sandbox = SpaceSandbox::new(engine.clone(), "ts-space", limits());
    let piece = ts_piece("ts_logs_stack.ts");
    for _ in 0..2 {
        let report = run(&mut sandbox, &piece, json!({})).await;
        assert_eq!(report.outcome.value, Some(json!("logged")));
        let logged = &report.outcome.logs[0].message;
        assert!(logged.contains("at risky (ts_logs_stack:5:13)"), "{logged}");
    }
    // The second run found the map in the cache rather than stripping again.
    let stats = engine.strip_cache().stats();
    assert_eq!((stats.strips, stats.hits), (1, 1), "{stats:?}");
}

#[tokio::test]
async fn a_type_syntax_error_is_a_syntax_error_naming_its_line() {
    let mut sandbox = SpaceSandbox::new(engine().await, "ts-space", limits());
    let report = run(&mut sandbox, &ts_piece("ts_syntax_error.ts"), json!({})).await;
    assert!(!report.outcome.ok);
    assert!(report.cell_changes.is_empty());
    let error = report.outcome.error.expect("a syntax error");
    assert_eq!(error.kind, ErrorKind::SyntaxError, "{error:?}");
    assert!(
        error.message.starts_with(
            "piece \"ts_syntax_error\" does not parse as TypeScript: line 7, column 1: "
        ),
        "{}",
        error.message
    );
    assert_eq!(error.stack.as_deref(), Some("    at ts_syntax_error:7:1"));
    // The sandbox is still usable.
    let fixed = Piece::new(
        "ts_syntax_error",
        "export const bgUpdater = (): number => 3;",
    )
    .with_lang(Lang::TypeScript);
    assert_eq!(
        run(&mut sandbox, &fixed, json!({})).await.outcome.value,
        Some(json!(3))
    );
}

#[tokio::test]
async fn a_source_is_stripped_once_per_process() {
    let engine = engine().await;
    let piece = ts_piece("ts_shapes.ts");
    let event = json!({"readings": []});
    let mut one = SpaceSandbox::new(engine.clone(), "space-one", limits());
    assert!(run(&mut one, &piece, event.clone()).await.outcome.ok);
    // The instance has it loaded: a second run does not even ask the cache.
    assert!(run(&mut one, &piece, event.clone()).await.outcome.ok);
    let stats = engine.strip_cache().stats();
    assert_eq!((stats.strips, stats.hits), (1, 0), "{stats:?}");
    // Another space's sandbox finds it in the cache.
    let mut two = SpaceSandbox::new(engine.clone(), "space-two", limits());
    assert!(run(&mut two, &piece, event.clone()).await.outcome.ok);
    let stats = engine.strip_cache().stats();
    assert_eq!((stats.strips, stats.hits), (1, 1), "{stats:?}");
    // A changed source is stripped and loaded anew.
    let changed = Piece::new(
        "ts_shapes",
        "export const bgUpdater = (): string => \"v2\";",
    )
    .with_lang(Lang::TypeScript);
    assert_eq!(
        run(&mut one, &changed, event).await.outcome.value,
        Some(json!("v2"))
    );
    assert_eq!(engine.strip_cache().stats().strips, 2);
}

#[tokio::test]
async fn a_typescript_script_without_exports_uses_a_global_handler() {
    let mut sandbox = SpaceSandbox::new(engine().await, "ts-space", limits());
    let piece = Piece::new(
        "script",
        "let runs: number = 0;\nfunction bgUpdater(event: { n: number }): number {\n  runs += 1;\n  return event.n * runs;\n}\n",
    )
    .with_lang(Lang::TypeScript);
    assert_eq!(
        run(&mut sandbox, &piece, json!({"n": 5}))
            .await
            .outcome
            .value,
        Some(json!(5))
    );
    assert_eq!(
        run(&mut sandbox, &piece, json!({"n": 5}))
            .await
            .outcome
            .value,
        Some(json!(10))
    );
}

#[tokio::test]
async fn the_same_text_as_typescript_and_as_javascript_is_loaded_for_each() {
    let mut sandbox = SpaceSandbox::new(engine().await, "ts-space", limits());
    let source = "enum E { A = 4 }\nexport function bgUpdater() { return E.A; }";
    let typed = Piece::new("both", source).with_lang(Lang::TypeScript);
    assert_eq!(
        run(&mut sandbox, &typed, json!({})).await.outcome.value,
        Some(json!(4))
    );
    // As JavaScript, an enum does not parse: the instance must not reuse the
    // stripped source loaded under the same id and text.
    let untyped = Piece::new("both", source);
    assert_eq!(
        run(&mut sandbox, &untyped, json!({}))
            .await
            .outcome
            .error_kind(),
        Some(ErrorKind::SyntaxError)
    );
}
