//! The daemon's HTTP API (axum): registering pieces the way reference clients
//! do, managing pieces, reading status, runs and cells.
//!
//! Every error is JSON (`{"success": false, "error": "..."}`), including
//! unknown routes, wrong methods and bodies past the size limit. Spaces in
//! paths go through [`validate_space`]; signed requests are checked by the
//! middleware in `auth.rs`, with the verifier carried by [`ApiState`].

mod auth;
mod cells;
mod error;
mod extract;
mod health;
mod pieces;
mod registrations;
mod space;
mod state;

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod tests;

pub use error::ApiError;
pub use registrations::{RegisterRequest, parse_register_request};
pub use space::validate_space;
pub use state::{ApiState, DEFAULT_BODY_LIMIT};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::routing::{get, post};

/// The API's routes, ready to serve.
pub fn router(state: ApiState) -> Router {
    const PIECE: &str = "/api/spaces/{space}/pieces/{piece_id}";
    Router::new()
        .route(
            "/api/integrations/bg",
            post(registrations::register).get(registrations::list),
        )
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
        .route("/api/spaces/{space}/cells", get(cells::list))
        // A wildcard, so cell keys may contain slashes.
        .route("/api/spaces/{space}/cells/{*key}", get(cells::get))
        .route("/healthz", get(health::health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.body_limit()))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_signature,
        ))
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
