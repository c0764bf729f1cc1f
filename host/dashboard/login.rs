//! Logging in: the signed API call that makes a one-time login URL
//! (`bgwasm dashboard` makes it), opening that URL (a session cookie and a
//! redirect to the dashboard), what the page asks about its session, and
//! logging out.

use super::access::{BASE, COOKIE, LoggedIn, cookie};
use super::pages;
use super::sessions::{Access, LoginRefusal, Sessions};
use crate::api::Verified;
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The answer to `POST /api/dashboard/login`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginUrl {
    /// The URL's path on this daemon (the client knows its address).
    pub path: String,
    /// `all`, or the one space the session will see.
    pub access: String,
    pub expires_in_secs: u64,
}

/// `POST /api/dashboard/login` (the operator: every space) and
/// `POST /api/spaces/{space}/dashboard/login` (that space only, signed by
/// its key or the operator's): a one-time login URL.
pub async fn issue(
    Extension(sessions): Extension<Arc<Sessions>>,
    verified: Option<Extension<Verified>>,
) -> Json<LoginUrl> {
    let access = match verified {
        Some(Extension(verified)) => Access::Space(verified.space),
        None => Access::All,
    };
    let shown = match &access {
        Access::All => "all".to_owned(),
        Access::Space(space) => space.to_string(),
    };
    let token = sessions.issue_login(access);
    tracing::info!(access = %shown, "issued a dashboard login URL");
    Json(LoginUrl {
        path: format!("{BASE}/login/{token}"),
        access: shown,
        expires_in_secs: sessions.login_ttl().as_secs(),
    })
}

/// The `Set-Cookie` of a session (or, with `max_age` 0, of its end).
fn session_cookie(token: &str, max_age: u64) -> HeaderValue {
    HeaderValue::try_from(format!(
        "{COOKIE}={token}; Path={BASE}; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("bgwasm_dashboard=; Max-Age=0"))
}

/// `GET /dashboard/login/{token}`: opens a session and goes to the
/// dashboard, or says why the URL no longer works.
pub async fn redeem(
    Extension(sessions): Extension<Arc<Sessions>>,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    // A path that does not even decode is as forged as a wrong token.
    let redeemed = match token {
        Ok(Path(token)) => sessions.redeem(&token),
        Err(_) => Err(LoginRefusal::Unknown),
    };
    match redeemed {
        Ok((cookie, session)) => {
            tracing::info!(access = ?session.access, "a dashboard login URL was opened");
            let mut response =
                (StatusCode::SEE_OTHER, [(header::LOCATION, "/dashboard/")]).into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&cookie, sessions.session_ttl().as_secs()),
            );
            response
        }
        Err(why) => {
            tracing::info!(?why, "refused a dashboard login URL");
            pages::refused_login(why)
        }
    }
}

/// `GET /dashboard/api/session`: what the page needs to know about its
/// session (its access, and the CSRF token its buttons send).
pub async fn session(LoggedIn(session): LoggedIn) -> Json<Value> {
    let left = session
        .expires
        .saturating_duration_since(tokio::time::Instant::now());
    let access = match &session.access {
        Access::All => Value::Null,
        Access::Space(space) => json!(space.to_string()),
    };
    Json(json!({
        "space": access,
        "csrf": session.csrf,
        "expiresInSecs": left.as_secs(),
    }))
}

/// `POST /dashboard/api/logout`: ends the session and its cookie.
pub async fn logout(
    LoggedIn(_): LoggedIn,
    Extension(sessions): Extension<Arc<Sessions>>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = cookie(&headers, COOKIE) {
        sessions.end(token);
    }
    let mut response = Json(json!({ "success": true })).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    response
}
