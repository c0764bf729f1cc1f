//! The metrics listener (`bgwasm serve --metrics-listen ADDR`): `GET /metrics`
//! and nothing else, on its own address, so it can be opened to a Prometheus
//! server without opening the API, and the API never serves the metrics.
//! It is unsigned, like any scrape target: it shows counts, never a space,
//! a piece or a value.

use super::{CONTENT_TYPE, Metrics};
use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// The listener's routes.
pub fn router(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(elsewhere)
        .method_not_allowed_fallback(elsewhere)
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render())
}

async fn elsewhere(method: Method, uri: Uri) -> (StatusCode, String) {
    let status = if uri.path() == "/metrics" {
        StatusCode::METHOD_NOT_ALLOWED
    } else {
        StatusCode::NOT_FOUND
    };
    (
        status,
        format!(
            "no route for {method} {}; this listener serves only GET /metrics\n",
            uri.path()
        ),
    )
}
