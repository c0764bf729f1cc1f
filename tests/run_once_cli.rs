//! `bgwasm run-once` as a user runs it: the real binary, its output and its
//! exit codes.

mod common;

use common::{bgwasm, fixture_path};
use serde_json::{Value, json};
use std::process::Output;

fn fixture_arg(name: &str) -> String {
    fixture_path(name).to_string_lossy().into_owned()
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn json_outcome_of_a_successful_run_exits_zero() {
    let output = bgwasm(&[
        "run-once",
        &fixture_arg("sync_counter.js"),
        "--json",
        "--event",
        r#"{"x":1}"#,
        "--space",
        "mine",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcome = stdout_json(&output);
    assert_eq!(outcome["ok"], json!(true));
    assert_eq!(
        outcome["value"],
        json!({"count": 1, "piece": "sync_counter", "event": {"x": 1}})
    );
    assert_eq!(
        outcome["logs"],
        json!([{"level": "info", "message": "run 1 in mine"}])
    );
    assert_eq!(outcome["cell_writes"], json!(["count"]));
    for field in ["duration_ms", "fuel_used", "memory_peak_bytes"] {
        assert!(outcome[field].is_u64(), "{field} missing: {outcome}");
    }
}

#[test]
fn a_failing_piece_exits_one_with_a_readable_summary() {
    let output = bgwasm(&["run-once", &fixture_arg("throws.js")]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with("FAILED (js_error): piece \"throws\""),
        "{text}"
    );
    assert!(text.contains("boom from a sync handler"), "{text}");
    assert!(text.contains("fuel:"), "{text}");
}

#[test]
fn fuel_flag_stops_an_endless_loop() {
    let output = bgwasm(&[
        "run-once",
        &fixture_arg("infinite_loop.js"),
        "--fuel",
        "50000000",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout_json(&output)["error"]["kind"],
        json!("fuel_exhausted")
    );
}

#[test]
fn bad_input_exits_two_with_a_one_line_error_naming_it() {
    let missing = bgwasm(&["run-once", "/nonexistent/piece.js"]);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("/nonexistent/piece.js"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let bad_event = bgwasm(&[
        "run-once",
        &fixture_arg("sync_counter.js"),
        "--event",
        "{not json",
    ]);
    assert_eq!(bad_event.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_event.stderr).contains("--event"));

    let bad_flag = bgwasm(&[
        "run-once",
        &fixture_arg("sync_counter.js"),
        "--memory-mib",
        "0",
    ]);
    assert_eq!(bad_flag.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_flag.stderr).contains("--memory-mib"));

    let usage = bgwasm(&["run-once"]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn cells_are_seeded_from_a_file_and_written_back_only_after_success() {
    let dir = tempfile::tempdir().unwrap();
    let cells = dir.path().join("cells.json");
    std::fs::write(&cells, r#"{"count": 41, "other": {"kept": true}}"#).unwrap();
    let cells_arg = cells.to_string_lossy().into_owned();

    let output = bgwasm(&[
        "run-once",
        &fixture_arg("sync_counter.js"),
        "--cells",
        &cells_arg,
        "--write-cells",
        "--json",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout_json(&output)["value"]["count"], json!(42));
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&cells).unwrap()).unwrap();
    assert_eq!(written, json!({"count": 42, "other": {"kept": true}}));

    // A failed run writes nothing back, though it called cells.set.
    let failed = bgwasm(&[
        "run-once",
        &fixture_arg("throws.js"),
        "--cells",
        &cells_arg,
        "--write-cells",
    ]);
    assert_eq!(failed.status.code(), Some(1));
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&cells).unwrap()).unwrap();
    assert_eq!(after, written);

    // Without --write-cells the file is only read.
    let read_only = bgwasm(&[
        "run-once",
        &fixture_arg("sync_counter.js"),
        "--cells",
        &cells_arg,
        "--json",
    ]);
    assert_eq!(stdout_json(&read_only)["value"]["count"], json!(43));
    let unchanged: Value = serde_json::from_str(&std::fs::read_to_string(&cells).unwrap()).unwrap();
    assert_eq!(unchanged, written);
}

#[test]
fn a_cells_file_that_is_not_an_object_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let cells = dir.path().join("cells.json");
    std::fs::write(&cells, "[1, 2]").unwrap();
    let output = bgwasm(&[
        "run-once",
        &fixture_arg("sync_counter.js"),
        "--cells",
        &cells.to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a JSON object"));
}

#[test]
fn a_stored_piece_runs_against_stored_cells_and_commits_only_when_asked() {
    use bgwasm::store::{SqliteStore, Store};
    let dir = tempfile::tempdir().unwrap();
    let space = bgwasm::identity::space_did_for_name("alice", "common user").to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let piece_id = runtime.block_on(async {
        let store = SqliteStore::open(dir.path()).unwrap();
        let source = std::fs::read_to_string(fixture_path("sync_counter.js")).unwrap();
        let added = store
            .add_piece(&space, None, source.into(), 0)
            .await
            .unwrap();
        added.info.id.to_string()
    });
    let data_dir = dir.path().to_string_lossy().into_owned();
    let count_in_store = || {
        runtime.block_on(async {
            let store = SqliteStore::open(dir.path()).unwrap();
            store.get_cell(&space, "count").await.unwrap()
        })
    };

    let dry = bgwasm(&[
        "run-once",
        &piece_id,
        "--data-dir",
        &data_dir,
        "--space",
        "alice",
        "--json",
    ]);
    assert_eq!(
        dry.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert_eq!(stdout_json(&dry)["value"]["count"], json!(1));
    assert_eq!(
        count_in_store(),
        None,
        "without --commit nothing is written"
    );

    let committed = bgwasm(&[
        "run-once",
        &piece_id,
        "--data-dir",
        &data_dir,
        "--space",
        &space,
        "--commit",
    ]);
    assert_eq!(
        committed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&committed.stderr)
    );
    assert!(String::from_utf8_lossy(&committed.stdout).contains("committed: run"));
    assert_eq!(count_in_store().as_deref(), Some("1"));

    let again = bgwasm(&[
        "run-once",
        &piece_id,
        "--data-dir",
        &data_dir,
        "--space",
        "alice",
        "--json",
    ]);
    assert_eq!(stdout_json(&again)["value"]["count"], json!(2));

    let unknown = bgwasm(&[
        "run-once",
        "nope",
        "--data-dir",
        &data_dir,
        "--space",
        "alice",
    ]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no piece nope"));
}

#[test]
fn a_ts_file_runs_as_typescript_and_a_type_syntax_error_names_its_line() {
    let event = r#"{"readings":[{"sensor":"a","value":4},{"sensor":"b","value":3.5},{"sensor":"c","value":5}]}"#;
    let output = bgwasm(&[
        "run-once",
        &fixture_arg("ts_shapes.ts"),
        "--json",
        "--event",
        event,
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(
        stdout_json(&output)["value"],
        json!({"count": 3, "total": 25, "level": 10, "label": "sensors High °C"})
    );

    // The same file, said to be JavaScript, does not parse.
    let output = bgwasm(&[
        "run-once",
        &fixture_arg("ts_shapes.ts"),
        "--json",
        "--lang",
        "js",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_json(&output)["error"]["kind"], "syntax_error");

    let output = bgwasm(&["run-once", &fixture_arg("ts_syntax_error.ts"), "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let outcome = stdout_json(&output);
    assert_eq!(outcome["error"]["kind"], "syntax_error");
    assert!(
        outcome["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 7"),
        "{outcome}"
    );
}
