//! The metrics as a scrape shows them, and the listener's routes.

use super::*;
use crate::sandbox::{FetchRecord, RunError};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

fn fetch(status: Option<u16>, error: Option<&str>) -> FetchRecord {
    FetchRecord {
        method: "GET".into(),
        url: "https://example.com/".into(),
        status,
        duration_ms: 1,
        error: error.map(str::to_owned),
    }
}

fn outcome(kind: Option<ErrorKind>, duration_ms: u64, fetches: Vec<FetchRecord>) -> RunOutcome {
    RunOutcome {
        ok: kind.is_none(),
        error: kind.map(|kind| RunError {
            kind,
            message: "piece p failed".into(),
            stack: None,
        }),
        duration_ms,
        fuel_used: 50_000,
        fetches,
        ..RunOutcome::default()
    }
}

/// The value of the series named exactly `series` (with its labels).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn every_series_is_there_at_zero_before_anything_happened() {
    let text = Metrics::new().render();
    for outcome in labels::OUTCOMES {
        assert_eq!(
            value(
                &text,
                &format!("bgwasm_runs_total{{outcome=\"{outcome}\"}}")
            ),
            0.0
        );
    }
    for phase in ["scheduled", "dispatched", "disabled"] {
        assert_eq!(
            value(&text, &format!("bgwasm_registrations{{phase=\"{phase}\"}}")),
            0.0
        );
    }
    for result in ["ok", "denied", "error"] {
        assert_eq!(
            value(
                &text,
                &format!("bgwasm_fetches_total{{result=\"{result}\"}}")
            ),
            0.0
        );
    }
    for histogram in [
        "bgwasm_run_duration_seconds",
        "bgwasm_schedule_lateness_seconds",
        "bgwasm_run_fuel",
        "bgwasm_store_commit_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {histogram} histogram\n")),
            "{text}"
        );
        assert_eq!(value(&text, &format!("{histogram}_count")), 0.0);
    }
    assert_eq!(value(&text, "bgwasm_live_sandboxes"), 0.0);
    assert_eq!(value(&text, "bgwasm_queued_runs"), 0.0);
    assert!(
        text.contains("# TYPE bgwasm_runs_total counter\n"),
        "{text}"
    );
    assert!(
        !text.contains("# EOF"),
        "the Prometheus format, not OpenMetrics"
    );
}

#[test]
fn a_run_moves_its_outcome_duration_fuel_and_fetches() {
    let metrics = Metrics::new();
    let denied =
        "http://10.0.0.1/ is denied by the egress policy: a private network (rule `private`)";
    metrics.observe_run(&outcome(
        None,
        20,
        vec![
            fetch(Some(200), None),
            fetch(Some(404), None),
            fetch(None, Some(denied)),
        ],
    ));
    metrics.observe_run(&outcome(
        Some(ErrorKind::Timeout),
        3_000,
        vec![
            fetch(None, Some("cannot connect: refused")),
            fetch(Some(200), Some("the body broke off: reset")),
            fetch(None, None),
        ],
    ));
    metrics.observe_lateness(Duration::from_millis(1_500));
    metrics.observe_commit(Duration::from_micros(700));
    let text = metrics.render();
    for (series, expected) in [
        ("bgwasm_runs_total{outcome=\"ok\"}", 1.0),
        ("bgwasm_runs_total{outcome=\"timeout\"}", 1.0),
        ("bgwasm_runs_total{outcome=\"js_error\"}", 0.0),
        ("bgwasm_run_duration_seconds_count", 2.0),
        ("bgwasm_run_duration_seconds_bucket{le=\"0.025\"}", 1.0),
        ("bgwasm_run_duration_seconds_bucket{le=\"5\"}", 2.0),
        ("bgwasm_run_fuel_sum", 100_000.0),
        ("bgwasm_fetches_total{result=\"ok\"}", 2.0),
        ("bgwasm_fetches_total{result=\"denied\"}", 1.0),
        ("bgwasm_fetches_total{result=\"error\"}", 3.0),
        ("bgwasm_schedule_lateness_seconds_sum", 1.5),
        ("bgwasm_schedule_lateness_seconds_bucket{le=\"1\"}", 0.0),
        ("bgwasm_store_commit_seconds_count", 1.0),
    ] {
        assert_eq!(value(&text, series), expected, "{series}");
    }
    assert!((value(&text, "bgwasm_run_duration_seconds_sum") - 3.02).abs() < 1e-9);
}

#[test]
fn gauges_follow_what_they_are_told() {
    let metrics = Metrics::new();
    metrics.set_live_sandboxes(3);
    metrics.queued_run_added();
    metrics.queued_run_added();
    metrics.queued_run_added();
    metrics.queued_runs_removed(2);
    metrics.set_registrations(PhaseCounts {
        scheduled: 7,
        dispatched: 2,
        disabled: 1,
    });
    let text = metrics.render();
    for (series, expected) in [
        ("bgwasm_live_sandboxes", 3.0),
        ("bgwasm_queued_runs", 1.0),
        ("bgwasm_registrations{phase=\"scheduled\"}", 7.0),
        ("bgwasm_registrations{phase=\"dispatched\"}", 2.0),
        ("bgwasm_registrations{phase=\"disabled\"}", 1.0),
    ] {
        assert_eq!(value(&text, series), expected, "{series}");
    }
    assert_eq!(metrics.registrations(Phase::Scheduled), 7);
}

#[tokio::test]
async fn the_listener_serves_get_metrics_and_nothing_else() {
    let metrics = Metrics::new();
    metrics.set_live_sandboxes(1);
    let call = async |method: &str, path: &str| {
        let response = listener::router(metrics.clone())
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    };
    let (status, content_type, body) = call("GET", "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some(CONTENT_TYPE));
    assert_eq!(value(&body, "bgwasm_live_sandboxes"), 1.0);
    let (status, _, body) = call("GET", "/api/integrations/bg").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("serves only GET /metrics"), "{body}");
    let (status, _, _) = call("POST", "/metrics").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
