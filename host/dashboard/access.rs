//! Who is asking: the session cookie, read into [`LoggedIn`] once at the
//! edge, with the CSRF checks every mutating request must pass, and the
//! space check every route on one space makes.

use super::sessions::{Access, Session, Sessions};
use crate::api::ApiError;
use crate::identity::Did;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use std::sync::Arc;

/// The session cookie's name.
pub const COOKIE: &str = "bgwasm_dashboard";
/// The header a mutating request carries its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-bgwasm-csrf";
/// Where the dashboard lives, and the cookie's `Path`.
pub const BASE: &str = "/dashboard";

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The sessions the dashboard's router shares (an `Extension`).
pub fn sessions(parts: &Parts) -> Result<Arc<Sessions>, ApiError> {
    parts
        .extensions
        .get::<Arc<Sessions>>()
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error: the dashboard's sessions are missing from this route",
            )
        })
}

/// The session of the request's cookie, if it is live.
pub fn session_of(parts: &Parts) -> Result<Option<Session>, ApiError> {
    let sessions = sessions(parts)?;
    Ok(cookie(&parts.headers, COOKIE).and_then(|token| sessions.session(token)))
}

/// A request from a logged-in browser. A request that is not `GET` or
/// `HEAD` has also passed the CSRF checks: its `Origin`, when sent, is this
/// daemon, and it carries the session's CSRF token.
pub struct LoggedIn(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for LoggedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let session = session_of(parts)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "not logged in to the dashboard, or the session expired (sessions last 12 hours \
                 and end when the daemon restarts); run `bgwasm dashboard` for a new login URL",
            )
        })?;
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            same_origin(&parts.headers)?;
            let token = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !session.csrf_matches(token) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "this request lacks the session's CSRF token (header {CSRF_HEADER}); \
                         use the dashboard's own buttons, or reload the dashboard"
                    ),
                ));
            }
        }
        Ok(Self(session))
    }
}

/// Refuses a request whose `Origin` names another site than the `Host` it
/// was sent to.
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    });
    match (origin_host, host) {
        (Some(origin_host), Some(host)) if origin_host == host => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this request comes from another site ({}); the dashboard acts only on requests \
                 from its own pages",
                origin.to_str().unwrap_or("an unreadable Origin")
            ),
        )),
    }
}

impl LoggedIn {
    /// The space `text` names, if this session may see it; otherwise 403
    /// (or 400 when it is no space at all).
    pub fn space(&self, text: &str) -> Result<Did, ApiError> {
        let space =
            Did::parse_as(text, "space").map_err(|e| ApiError::bad_request(e.to_string()))?;
        if !self.0.access.allows(&space) {
            return Err(self.refuse_other_space(&space));
        }
        Ok(space)
    }

    pub fn refuse_other_space(&self, space: &Did) -> ApiError {
        let own = match &self.0.access {
            Access::Space(own) => own.to_string(),
            Access::All => "every space".into(),
        };
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this dashboard session is limited to space {own}, not {space}; log in with \
                 `bgwasm dashboard --space` and that space's key, or the operator's"
            ),
        )
    }

    pub fn access(&self) -> &Access {
        &self.0.access
    }
}
