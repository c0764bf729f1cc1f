//! The web dashboard, served by the daemon on its API listener under
//! `/dashboard/`: every registration (paged), a piece's source and runs with
//! their whole outcomes, a space's cells, and buttons to run now, enable and
//! disable. One page of plain JavaScript polls JSON routes; everything is
//! embedded in the binary.
//!
//! Logging in: `bgwasm dashboard` makes a signed call for a one-time login
//! URL (`login`); opening it sets an HttpOnly, SameSite=Strict session
//! cookie scoped to `/dashboard` (`sessions`, in memory). The operator's
//! login sees every space; a space key's login sees that space only
//! (`access`). Mutating routes also need the session's CSRF token.

mod access;
mod data;
mod login;
mod pages;
mod sessions;

#[cfg(test)]
mod tests;

pub use access::{BASE, COOKIE, CSRF_HEADER};
pub use sessions::{Access, LOGIN_TTL, SESSION_TTL, Sessions};

use crate::api::ApiState;
use crate::api::auth::{operator_only, space_in_path};
use access::session_of;
use axum::Router;
use axum::extract::{Extension, Request};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::sync::Arc;

/// The dashboard's routes, with fresh (empty) sessions.
pub fn router(state: &ApiState) -> Router<ApiState> {
    routes(state, Arc::new(Sessions::default()))
}

/// The dashboard's routes over `sessions`.
pub fn routes(state: &ApiState, sessions: Arc<Sessions>) -> Router<ApiState> {
    const PIECE: &str = "/dashboard/api/spaces/{space}/pieces/{piece_id}";
    let signed = Router::new()
        .route("/api/dashboard/login", post(login::issue))
        .route_layer(middleware::from_fn_with_state(state.clone(), operator_only))
        .merge(
            Router::new()
                .route("/api/spaces/{space}/dashboard/login", post(login::issue))
                .route_layer(middleware::from_fn_with_state(state.clone(), space_in_path)),
        );
    let browser = Router::new()
        .route("/dashboard", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard/", get(index))
        .route(
            "/dashboard/app.js",
            get(|| async { pages::asset("text/javascript; charset=utf-8", pages::APP_JS) }),
        )
        .route(
            "/dashboard/app.css",
            get(|| async { pages::asset("text/css; charset=utf-8", pages::APP_CSS) }),
        )
        .route("/dashboard/login/{token}", get(login::redeem))
        .route("/dashboard/api/session", get(login::session))
        .route("/dashboard/api/logout", post(login::logout))
        .route("/dashboard/api/registrations", get(data::registrations))
        .route(PIECE, get(data::piece))
        .route(&format!("{PIECE}/run"), post(data::run))
        .route(&format!("{PIECE}/enable"), post(data::enable))
        .route(&format!("{PIECE}/disable"), post(data::disable))
        .route("/dashboard/api/spaces/{space}/cells", get(data::cells))
        .layer(middleware::map_response(pages::secure));
    signed.merge(browser).layer(Extension(sessions))
}

/// `GET /dashboard/`: the page, or why it cannot be shown.
async fn index(request: Request) -> Response {
    let (parts, _) = request.into_parts();
    match session_of(&parts) {
        Ok(Some(_)) => pages::asset("text/html; charset=utf-8", pages::INDEX_HTML),
        Ok(None) => pages::not_logged_in(),
        Err(error) => error.into_response(),
    }
}
