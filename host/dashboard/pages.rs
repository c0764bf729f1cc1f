//! The dashboard's HTML: the single page (its script and style, embedded in
//! the binary) and the plain pages that explain a refused login. Every
//! response of the dashboard carries the security headers of [`secure`].

use super::sessions::LoginRefusal;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub const INDEX_HTML: &str = include_str!("assets/index.html");
pub const APP_JS: &str = include_str!("assets/app.js");
pub const APP_CSS: &str = include_str!("assets/app.css");

/// What to do after any refusal.
const AGAIN: &str = "Run <code>bgwasm dashboard</code> (add <code>--space SPACE</code> for one \
                     space's key) for a new login URL, and open it once, within five minutes.";

/// A plain page with a title and a paragraph of trusted (static) HTML.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} · bgwasm</title><link rel=\"stylesheet\" href=\"/dashboard/app.css\">\
         </head><body><main class=\"notice\"><h1>{title}</h1><p>{body}</p><p>{AGAIN}</p>\
         </main></body></html>\n"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// Why a login URL did not log in.
pub fn refused_login(why: LoginRefusal) -> Response {
    match why {
        LoginRefusal::Used => page(
            StatusCode::GONE,
            "This login link was already used",
            "A login link works once. If that was not you, someone else opened it: its session \
             is theirs until it expires or the daemon restarts.",
        ),
        LoginRefusal::Expired => page(
            StatusCode::GONE,
            "This login link has expired",
            "A login link must be opened within five minutes of being made.",
        ),
        LoginRefusal::Unknown => page(
            StatusCode::FORBIDDEN,
            "This login link is not valid",
            "This daemon never issued it: it is mistyped, made up, or from before the daemon \
             restarted (a restart forgets every login link and session).",
        ),
    }
}

/// The dashboard opened without a session.
pub fn not_logged_in() -> Response {
    page(
        StatusCode::UNAUTHORIZED,
        "Not logged in",
        "The dashboard needs a login: you have none here, or it expired (sessions last 12 hours \
         and end when the daemon restarts). If you just followed a login link from another \
         site's page, the browser may hold the cookie back on this first page: reload it.",
    )
}

/// An embedded asset.
pub fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Adds the dashboard's security headers: nothing but its own scripts and
/// styles run, no framing, no referrer (a login URL never leaks), no caching.
pub async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers.insert::<HeaderName>(name, HeaderValue::from_static(value));
    }
    response
}
