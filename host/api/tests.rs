//! The API through its router, with a real store and a fake runner.

use super::*;
use crate::sandbox::{CellChange, CellSource, Piece, RunOutcome, RunReport};
use crate::scheduler::{PieceRunner, Scheduler, SchedulerConfig};
use crate::store::SqliteStore;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const SPACE: &str = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";

/// Succeeds and writes one cell, unless the source says `fail`.
struct CellWriter;

impl PieceRunner for CellWriter {
    fn run(
        &self,
        _space: &str,
        piece: Piece,
        _event: Value,
        _cells: Arc<dyn CellSource>,
    ) -> BoxFuture<'static, RunReport> {
        Box::pin(async move {
            let ok = !piece.source.contains("fail");
            RunReport {
                outcome: RunOutcome {
                    ok,
                    value: ok.then(|| json!({ "ran": piece.id })),
                    error: (!ok).then(|| crate::sandbox::RunError {
                        kind: crate::sandbox::ErrorKind::JsError,
                        message: format!("piece {} threw", piece.id),
                        stack: None,
                    }),
                    duration_ms: 1,
                    fuel_used: 2,
                    memory_peak_bytes: 0,
                    logs: vec![],
                    cell_writes: vec!["feeds/latest".into()],
                    fetches: vec![],
                },
                cell_changes: vec![CellChange {
                    key: "feeds/latest".into(),
                    value: Some("\"hello\"".into()),
                }],
                record: None,
            }
        })
    }
}

struct App {
    router: axum::Router,
    _dir: tempfile::TempDir,
}

fn app_with_limit(limit: usize) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<SqliteStore> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let scheduler = Scheduler::new(
        store.clone(),
        Arc::new(CellWriter),
        SchedulerConfig::default(),
    );
    App {
        router: router(ApiState::new(store, scheduler).with_body_limit(limit)),
        _dir: dir,
    }
}

fn app() -> App {
    app_with_limit(DEFAULT_BODY_LIMIT)
}

impl App {
    async fn call(&self, method: &str, uri: &str, body: impl Into<Body>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(body.into())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            content_type.as_deref(),
            Some("application/json"),
            "{method} {uri}: {bytes:?}"
        );
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn add(&self, id: &str, source: &str) {
        let (status, body) = self
            .call(
                "POST",
                &format!("/api/spaces/{SPACE}/pieces?id={id}"),
                source.to_owned(),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    async fn register(&self, id: &str, integration: &str) -> (StatusCode, Value) {
        let body = json!({ "pieceId": id, "space": SPACE, "integration": integration }).to_string();
        self.call("POST", "/api/integrations/bg", body).await
    }
}

fn error_text(body: &Value) -> &str {
    assert_eq!(body["success"], false, "{body}");
    body["error"].as_str().unwrap()
}

#[tokio::test]
async fn registering_like_a_reference_client() {
    let app = app();
    let (status, body) = app
        .call(
            "POST",
            &format!("/api/spaces/{SPACE}/pieces"),
            "export default 1",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = body["pieceId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 16, "content-addressed");
    let (status, again) = app
        .call(
            "POST",
            &format!("/api/spaces/{SPACE}/pieces"),
            "export default 1",
        )
        .await;
    assert_eq!(
        (status, &again["pieceId"]),
        (StatusCode::OK, &body["pieceId"])
    );

    // No Content-Type, the older `charmId`: as reference clients send it.
    let legacy = json!({ "charmId": id, "space": SPACE, "integration": "rss" }).to_string();
    let (status, body) = app.call("POST", "/api/integrations/bg", legacy).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({ "success": true, "message": "success" })
        )
    );
    let (status, _) = app.register(&id, "rss").await;
    assert_eq!(status, StatusCode::OK, "idempotent");

    let (status, list) = app
        .call(
            "GET",
            &format!("/api/integrations/bg?space={SPACE}&integration=rss"),
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let entry = &list.as_array().unwrap()[0];
    for field in [
        "space",
        "pieceId",
        "integration",
        "createdAt",
        "updatedAt",
        "disabledAt",
        "lastRun",
        "status",
        "lastSuccess",
        "consecutiveFailures",
        "lastError",
        "nextRun",
        "totalRuns",
        "totalFailures",
        "lastDurationMs",
        "lastFuel",
    ] {
        assert!(entry.get(field).is_some(), "missing {field} in {entry}");
    }
    assert_eq!(entry["status"], "Re-initializing");
    assert_eq!(entry["disabledAt"], 0);
    let (_, none) = app
        .call(
            "GET",
            "/api/integrations/bg?integration=gmail",
            Body::empty(),
        )
        .await;
    assert_eq!(none, json!([]));
}

#[tokio::test]
async fn bad_registrations_name_the_field_and_unknown_pieces_are_404() {
    let app = app();
    let cases = [
        (json!({ "space": SPACE, "integration": "rss" }), "`pieceId`"),
        (json!({ "pieceId": "p", "integration": "rss" }), "`space`"),
        (json!({ "pieceId": "p", "space": SPACE }), "`integration`"),
        (
            json!({ "pieceId": 7, "space": SPACE, "integration": "rss" }),
            "`pieceId` must be a string",
        ),
        (
            json!({ "pieceId": "p", "charmId": "p", "space": SPACE, "integration": "rss" }),
            "not both",
        ),
        (
            json!({ "pieceId": "p", "space": SPACE, "integration": "rss", "x": 1 }),
            "`x`",
        ),
        (
            json!({ "pieceId": "a/b", "space": SPACE, "integration": "rss" }),
            "field `pieceId`",
        ),
        (
            json!({ "pieceId": "p", "space": "bob", "integration": "rss" }),
            "field `space`",
        ),
    ];
    for (body, expected) in cases {
        let (status, response) = app
            .call("POST", "/api/integrations/bg", body.to_string())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            error_text(&response).contains(expected),
            "{body} -> {response}"
        );
    }
    let (status, response) = app.call("POST", "/api/integrations/bg", "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&response).contains("not valid JSON"));

    let (status, response) = app.register("unknown", "rss").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_text(&response).contains("unknown"), "{response}");
}

#[tokio::test]
async fn managing_a_piece_end_to_end() {
    let app = app();
    app.add("feed", "export default 1").await;
    let piece = format!("/api/spaces/{SPACE}/pieces/feed");
    app.register("feed", "rss").await;

    let (status, replaced) = app.call("PUT", &piece, "export default 2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        replaced["hash"],
        crate::store::source_hash("export default 2")
    );

    let (status, disabled) = app
        .call("POST", &format!("{piece}/disable"), Body::empty())
        .await;
    assert_eq!(
        (status, &disabled["status"]),
        (StatusCode::OK, &json!("Disabled via UI"))
    );
    let (_, enabled) = app
        .call("POST", &format!("{piece}/enable"), Body::empty())
        .await;
    assert_eq!(
        (&enabled["status"], &enabled["disabledAt"]),
        (&json!("Re-initializing"), &json!(0))
    );

    let (status, outcome) = app
        .call("POST", &format!("{piece}/run"), Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&outcome["ok"], &outcome["value"]),
        (&json!(true), &json!({ "ran": "feed" }))
    );

    let (status, details) = app.call("GET", &piece, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(details["registration"]["status"], "Success");
    assert_eq!(details["registration"]["totalRuns"], 1);
    assert_eq!(details["runs"].as_array().unwrap().len(), 1);
    assert_eq!(details["runs"][0]["trigger"], "manual");
    assert_eq!(details["piece"]["id"], "feed");

    let (_, cells) = app
        .call("GET", &format!("/api/spaces/{SPACE}/cells"), Body::empty())
        .await;
    assert_eq!(cells["cells"], json!({ "feeds/latest": "hello" }));
    let (status, cell) = app
        .call(
            "GET",
            &format!("/api/spaces/{SPACE}/cells/feeds/latest"),
            Body::empty(),
        )
        .await;
    assert_eq!(
        (status, cell),
        (
            StatusCode::OK,
            json!({ "key": "feeds/latest", "value": "hello" })
        )
    );
    let (status, _) = app
        .call(
            "GET",
            &format!("/api/spaces/{SPACE}/cells/nope"),
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app.call("DELETE", &piece, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, response) = app.call("DELETE", &piece, Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_text(&response).contains("not registered"));
    let (_, details) = app.call("GET", &piece, Body::empty()).await;
    assert_eq!(details["registration"], Value::Null);
}

#[tokio::test]
async fn a_failed_manual_run_answers_its_outcome_and_keeps_the_cells() {
    let app = app();
    app.add("bad", "fail").await;
    let (status, outcome) = app
        .call(
            "POST",
            &format!("/api/spaces/{SPACE}/pieces/bad/run"),
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&outcome["ok"], &outcome["error"]["kind"]),
        (&json!(false), &json!("js_error"))
    );
    let (_, cells) = app
        .call("GET", &format!("/api/spaces/{SPACE}/cells"), Body::empty())
        .await;
    assert_eq!(cells["cells"], json!({}));
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/spaces/{SPACE}/pieces/nope/run"),
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversized_bodies_get_413_as_json() {
    let app = app_with_limit(64);
    let big = "x".repeat(65);
    let (status, response) = app
        .call("POST", &format!("/api/spaces/{SPACE}/pieces"), big.clone())
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_text(&response).contains("64 bytes"));
    let (status, _) = app.call("POST", "/api/integrations/bg", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn bad_paths_and_bodies_are_json_errors() {
    let app = app();
    let (status, response) = app.call("GET", "/nowhere", Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_text(&response).contains("/nowhere"));
    let (status, _) = app
        .call("PATCH", "/api/integrations/bg", Body::empty())
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, response) = app
        .call("GET", "/api/spaces/alice/cells", Body::empty())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&response).contains("did:key"));
    let (status, response) = app
        .call(
            "GET",
            &format!("/api/spaces/{SPACE}/pieces/a..b"),
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&response).contains(".."));
    let (status, response) = app
        .call(
            "POST",
            &format!("/api/spaces/{SPACE}/pieces"),
            vec![0xff, 0xfe],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&response).contains("UTF-8"));
    let (status, _) = app
        .call("PUT", &format!("/api/spaces/{SPACE}/pieces/missing"), "x")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.add("taken", "one").await;
    let (status, response) = app
        .call(
            "POST",
            &format!("/api/spaces/{SPACE}/pieces?id=taken"),
            "two",
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(error_text(&response).contains("taken"));
}

#[tokio::test]
async fn health_reports_counts_and_activity() {
    let app = app();
    app.add("p", "src").await;
    app.register("p", "rss").await;
    let (status, health) = app.call("GET", "/healthz", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["running"], 0);
    assert_eq!(
        (
            &health["counts"]["pieces"],
            &health["counts"]["registrations"]
        ),
        (&json!(1), &json!(1))
    );
    assert!(health["uptimeSeconds"].is_u64());
}

#[tokio::test]
async fn typescript_pieces_are_named_by_lang_or_file_name_and_checked_when_added() {
    let app = app();
    let typed = "export function bgUpdater(): number { return 1; }";
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/spaces/{SPACE}/pieces?id=typed&lang=ts"),
            typed,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let piece = format!("/api/spaces/{SPACE}/pieces/typed");
    let (_, details) = app.call("GET", &piece, Body::empty()).await;
    assert_eq!(details["piece"]["lang"], "typescript");

    // A replacement keeps the piece's language unless it names another.
    let (status, replaced) = app.call("PUT", &piece, "export const x: number = 2;").await;
    assert_eq!(
        (status, &replaced["lang"]),
        (StatusCode::OK, &json!("typescript"))
    );
    let (_, replaced) = app
        .call("PUT", &format!("{piece}?lang=js"), "export default 3")
        .await;
    assert_eq!(replaced["lang"], "javascript");

    let (status, _) = app
        .call(
            "POST",
            &format!("/api/spaces/{SPACE}/pieces?id=named&name=feed.mts"),
            typed,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, details) = app
        .call(
            "GET",
            &format!("/api/spaces/{SPACE}/pieces/named"),
            Body::empty(),
        )
        .await;
    assert_eq!(details["piece"]["lang"], "typescript");

    let (status, response) = app
        .call(
            "POST",
            &format!("/api/spaces/{SPACE}/pieces?id=broken&lang=ts"),
            "const a = 1;\nlet b: = 2;\n",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_text(&response).contains("piece.ts:2:"),
        "the error names the line: {response}"
    );
    let (status, response) = app
        .call(
            "POST",
            &format!("/api/spaces/{SPACE}/pieces?lang=python"),
            typed,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&response).contains("python"), "{response}");
    // The same text as JavaScript under the id a TypeScript piece holds is
    // another piece, refused.
    let (status, _) = app
        .call(
            "POST",
            &format!("/api/spaces/{SPACE}/pieces?id=named&lang=js"),
            typed,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_pieces_runs_are_listed_newest_first_up_to_the_limit() {
    let app = app();
    app.add("ok", "export default 1").await;
    app.add("bad", "fail").await;
    let runs = format!("/api/spaces/{SPACE}/pieces/ok/runs");
    let (status, body) = app.call("GET", &runs, Body::empty()).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "runs": [] })));
    for piece in ["ok", "ok", "bad"] {
        let (status, body) = app
            .call(
                "POST",
                &format!("/api/spaces/{SPACE}/pieces/{piece}/run"),
                Body::empty(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = app.call("GET", &runs, Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["runs"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed[0]["id"].as_i64() > listed[1]["id"].as_i64(),
        "{body}"
    );
    assert_eq!(listed[0]["trigger"], "manual");
    assert_eq!(listed[0]["outcome"]["ok"], true);

    let (_, body) = app
        .call("GET", &format!("{runs}?limit=1"), Body::empty())
        .await;
    assert_eq!(body["runs"].as_array().unwrap().len(), 1);
    let (_, body) = app
        .call(
            "GET",
            &format!("/api/spaces/{SPACE}/pieces/bad/runs?limit=500"),
            Body::empty(),
        )
        .await;
    assert_eq!(body["runs"][0]["outcome"]["error"]["kind"], "js_error");

    let (status, body) = app
        .call("GET", &format!("{runs}?limit=0"), Body::empty())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_text(&body).contains("limit must be at least 1"),
        "{body}"
    );
    let (status, body) = app
        .call(
            "GET",
            &format!("/api/spaces/{SPACE}/pieces/nope/runs"),
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        error_text(&body).contains("piece nope does not exist"),
        "{body}"
    );
}

#[tokio::test]
async fn the_api_does_not_serve_the_metrics() {
    let (status, body) = app().call("GET", "/metrics", Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        error_text(&body).contains("no route for GET /metrics"),
        "{body}"
    );
}
