//! Who may call the API, decided once at the edge: every route but
//! `GET /healthz` is behind one of the middlewares here (a `route_layer`, so
//! it runs after routing). Each reads the space a request touches the one
//! way there is — the `{space}` path parameter as axum extracts it, the
//! parsed registration body, or the `?space=` of a listing — checks the
//! signature against it (see [`crate::auth`] for the scheme), and hands the
//! handler what it decided: [`Verified`], the parsed [`RegisterRequest`](super::RegisterRequest), or
//! the [`RegistrationFilter`]. Handlers take those and never parse the space
//! again. Calls across all spaces (listing every registration) are the
//! operator's alone.

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use super::registrations::parse_register_request;
use super::state::ApiState;
use crate::auth::{AuthError, Authority, now_unix};
use crate::identity::Did;
use crate::store::{IntegrationFilter, RegistrationFilter};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// What the signature check decided about a request on one space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Who signed: the space's key or the operator. `None` when no signature
    /// was needed: an unsigned registration under
    /// `--insecure-open-registration`, or an API built without a verifier.
    pub signer: Option<Authority>,
    /// The space the request acts on.
    pub space: Did,
}

/// The `{space}` parameter of `/api/spaces/{space}/...`, percent-decoded by
/// axum.
#[derive(Debug, Deserialize)]
pub struct SpaceParam {
    space: String,
}

/// The query of `GET /api/integrations/bg`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    space: Option<String>,
    integration: Option<String>,
}

/// What a request acts on, as its middleware read it.
enum Scope {
    /// One space: in the path, or named by a registration body.
    Space(Did),
    /// Listing registrations: one space's (`?space=`) or every space's.
    Listing(Option<Did>),
}

/// The space a request names, or a 400 naming it.
fn space(text: &str) -> Result<Did, ApiError> {
    Did::parse_as(text, "space").map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `/api/spaces/{space}/...`: the space is the path's.
pub async fn space_in_path(
    State(state): State<ApiState>,
    path: Result<ApiPath<SpaceParam>, ApiError>,
    request: Request,
    next: Next,
) -> Response {
    let scope = path.and_then(|ApiPath(param)| space(&param.space).map(Scope::Space));
    guard(&state, request, next, false, |_, _| scope).await
}

/// `/api/integrations/bg`: a registration's space is its body's; a
/// listing's is its `?space=`, and without one it spans every space.
pub async fn registrations(
    State(state): State<ApiState>,
    query: Result<ApiQuery<ListQuery>, ApiError>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::POST {
        let query = request.uri().query().map(str::to_owned);
        return guard(&state, request, next, true, |body, extensions| {
            if let Some(query) = query {
                return Err(ApiError::bad_request(format!(
                    "POST /api/integrations/bg takes no query string (got {query:?}); name the \
                     space in the body"
                )));
            }
            let registration = parse_register_request(body)?;
            let space = registration.space;
            extensions.insert(registration);
            Ok(Scope::Space(space))
        })
        .await;
    }
    guard(&state, request, next, false, |_, extensions| {
        let ApiQuery(query) = query?;
        let space = query.space.as_deref().map(space).transpose()?;
        extensions.insert(RegistrationFilter {
            space: space.map(|did| did.to_string()),
            integrations: query
                .integration
                .map_or_else(IntegrationFilter::all, |i| IntegrationFilter::only([i])),
        });
        Ok(Scope::Listing(space))
    })
    .await
}

/// A call over all spaces with nothing in the request to decide: the
/// operator's alone.
pub async fn operator_only(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    guard(&state, request, next, false, |_, _| {
        Ok(Scope::Listing(None))
    })
    .await
}

/// Reads the body (the signature covers it), decides the scope with
/// `decide`, checks the signature against it, and runs the handler with
/// what was decided. A request whose scope cannot be read is checked as a
/// call over all spaces, and any genuine signer (not only the operator) then
/// gets the 400 saying why; `open` lets an unsigned request through when
/// the daemon runs with `--insecure-open-registration`.
async fn guard(
    state: &ApiState,
    request: Request,
    next: Next,
    open: bool,
    decide: impl FnOnce(&[u8], &mut axum::http::Extensions) -> Result<Scope, ApiError>,
) -> Response {
    let (mut parts, bytes) = match read_body(state, request).await {
        Ok(read) => read,
        Err(error) => return error.into_response(),
    };
    let scope = decide(&bytes, &mut parts.extensions);
    let signer = match check_signature(state, &parts, &bytes, &scope, open) {
        Ok(signer) => signer,
        Err(error) => {
            tracing::info!(method = %parts.method, path = %parts.uri.path(), problem = error.code(), "refused a request");
            return refusal(&error);
        }
    };
    match scope {
        Ok(Scope::Space(space)) => {
            parts.extensions.insert(Verified { signer, space });
        }
        Ok(Scope::Listing(_)) => {}
        Err(error) => return error.into_response(),
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The request's body, read within the body limit.
async fn read_body(state: &ApiState, request: Request) -> Result<(Parts, Bytes), ApiError> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, state.body_limit()).await {
        Ok(bytes) => Ok((parts, bytes)),
        Err(_) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than the limit of {} bytes",
                state.body_limit()
            ),
        )),
    }
}

/// Who signed, or why the request is refused.
fn check_signature(
    state: &ApiState,
    parts: &Parts,
    body: &[u8],
    scope: &Result<Scope, ApiError>,
    open: bool,
) -> Result<Option<Authority>, AuthError> {
    let Some(auth) = state.auth() else {
        return Ok(None);
    };
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if header.is_none() && open && auth.open_registration {
        return Ok(None);
    }
    let space = match scope {
        Ok(Scope::Space(space)) => Some(space),
        Ok(Scope::Listing(space)) => space.as_ref(),
        Err(_) => None,
    };
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    match auth.verifier.verify(
        header,
        parts.method.as_str(),
        target,
        body,
        space,
        now_unix(),
    ) {
        Ok(authority) => Ok(Some(authority)),
        // Genuinely signed, just not by the operator: the request itself is
        // at fault, and the handler's 400 says how.
        Err(AuthError::OperatorOnly { .. }) if scope.is_err() => Ok(None),
        Err(error) => Err(error),
    }
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
