//! The daemon's HTTP API (axum): registering pieces the way reference clients
//! do, managing pieces, reading status, runs and cells.
//!
//! Every error is JSON (`{"success": false, "error": "..."}`), including
//! unknown routes, wrong methods and bodies past the size limit. The router
//! has a public part (`/healthz`) and a signed part, behind the middlewares
//! of `auth.rs`: they decide which space a request touches, once, check its
//! signature against that space, and hand the handler the decision
//! ([`Verified`]).

pub(crate) mod auth;
mod cells;
mod error;
pub(crate) mod extract;
mod health;
mod pieces;
mod records;
mod registrations;
mod runs;
mod state;

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod tests;

pub use auth::Verified;
pub use error::ApiError;
pub use registrations::{RegisterRequest, parse_register_request};
pub use state::{ApiAuth, ApiState, DEFAULT_BODY_LIMIT};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::routing::{get, post};

/// The API's routes, ready to serve.
pub fn router(state: ApiState) -> Router {
    const PIECE: &str = "/api/spaces/{space}/pieces/{piece_id}";
    let spaces = Router::new()
        .route("/api/spaces/{space}/pieces", post(pieces::add))
        .route(
            PIECE,
            get(pieces::show)
                .put(pieces::replace)
                .delete(pieces::unregister),
        )
        .route(&format!("{PIECE}/enable"), post(pieces::enable))
        .route(&format!("{PIECE}/disable"), post(pieces::disable))
        .route(&format!("{PIECE}/run"), post(pieces::run))
        .route(&format!("{PIECE}/runs"), get(runs::list))
        .route(
            &format!("{PIECE}/runs/{{run_id}}/record"),
            get(records::show),
        )
        .route("/api/spaces/{space}/cells", get(cells::list))
        // A wildcard, so cell keys may contain slashes.
        .route("/api/spaces/{space}/cells/{*key}", get(cells::get))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::space_in_path,
        ));
    let registrations = Router::new()
        .route(
            "/api/integrations/bg",
            post(registrations::register).get(registrations::list),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::registrations,
        ));
    Router::new()
        .route("/healthz", get(health::health))
        .merge(spaces)
        .merge(registrations)
        .merge(crate::dashboard::router(&state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.body_limit()))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route for {method} {}; see the README for the API",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed on {}; see the README for the API",
            uri.path()
        ),
    )
}
