//! Who may call the API: every request except `GET /healthz` must carry a
//! token signed by the key of the space it touches, or by the daemon's
//! operator (see [`crate::auth`] for the scheme). Calls across all spaces
//! (listing every registration) are the operator's alone.

use super::error::ApiError;
use super::state::ApiState;
use crate::auth::{AuthError, Verifier, now_unix};
use crate::identity::Did;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The verifier, and whether unsigned registrations are let through.
pub struct ApiAuth {
    pub verifier: Verifier,
    /// `--insecure-open-registration`: reference clients post registrations
    /// unsigned.
    pub open_registration: bool,
}

/// What a request touches.
enum Scope {
    Space(Did),
    Everything,
    /// A registration whose body names no readable space: it cannot change
    /// anything, and the handler answers 400 saying why, to any signer.
    Unreadable,
}

const REGISTRATIONS: &str = "/api/integrations/bg";

pub async fn require_signature(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(auth) = state.auth() else {
        return next.run(request).await;
    };
    if request.uri().path() == "/healthz" {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    // The signature covers the body, so it is read here, within the limit.
    let bytes = match axum::body::to_bytes(body, state.body_limit()).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than the limit of {} bytes",
                    state.body_limit()
                ),
            )
            .into_response();
        }
    };
    let scope = match scope_of(&parts.method, parts.uri.path(), parts.uri.query(), &bytes) {
        Ok(scope) => scope,
        Err(error) => return error.into_response(),
    };
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let unsigned_registration =
        header.is_none() && parts.method == Method::POST && parts.uri.path() == REGISTRATIONS;
    if !(unsigned_registration && auth.open_registration) {
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let space = match &scope {
            Scope::Space(did) => Some(did),
            Scope::Everything | Scope::Unreadable => None,
        };
        let verified = auth.verifier.verify(
            header,
            parts.method.as_str(),
            path_and_query,
            &bytes,
            space,
            now_unix(),
        );
        match verified {
            Ok(_) => {}
            // Genuinely signed, just not by the operator: the body is at fault.
            Err(AuthError::OperatorOnly { .. }) if matches!(scope, Scope::Unreadable) => {}
            Err(error) => {
                tracing::info!(method = %parts.method, path = %parts.uri.path(), problem = error.code(), "refused a request");
                return refusal(&error);
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The space a request is about: from the path, from the registration body,
/// or from `?space=` when listing registrations.
fn scope_of(
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<Scope, ApiError> {
    let parse =
        |text: &str| Did::parse_as(text, "space").map_err(|e| ApiError::bad_request(e.to_string()));
    if let Some(rest) = path.strip_prefix("/api/spaces/") {
        let space = rest.split('/').next().unwrap_or_default();
        return parse(&percent_decode(space)).map(Scope::Space);
    }
    if path == REGISTRATIONS {
        let named = if *method == Method::POST {
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("space").and_then(|s| s.as_str()).map(str::to_owned))
        } else {
            query.and_then(|q| {
                q.split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| *name == "space")
                    .map(|(_, value)| percent_decode(value))
            })
        };
        return Ok(match named.and_then(|s| Did::decode(&s).ok()) {
            Some(did) => Scope::Space(did),
            None if *method == Method::POST => Scope::Unreadable,
            None => Scope::Everything,
        });
    }
    Ok(Scope::Everything)
}

/// Path segments and query values arrive percent-encoded (`did%3Akey%3A...`).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn refusal(error: &AuthError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut response = ApiError::new(status, error.to_string()).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bgwasm"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_dids_and_stray_percent_signs() {
        assert_eq!(percent_decode("did%3Akey%3Az6Mk"), "did:key:z6Mk");
        assert_eq!(percent_decode("did:key:z6Mk"), "did:key:z6Mk");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
