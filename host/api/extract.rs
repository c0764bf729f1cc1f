//! Extractors that reject with [`ApiError`], so malformed paths, queries and
//! oversized bodies get the same JSON errors as everything else.

use super::error::ApiError;
use super::state::ApiState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;

/// Path parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::new(
            rejection.status(),
            format!("bad path: {}", rejection.body_text()),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(format!("bad query string: {}", rejection.body_text()))
    }
}

/// The raw request body, whatever its Content-Type (reference clients
/// sometimes send none), capped at the state's body limit.
pub struct RawBody(pub Bytes);

impl FromRequest<ApiState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(rejection) => Err(body_error(&rejection, state.body_limit())),
        }
    }
}

fn body_error(rejection: &BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the limit of {limit} bytes; send a smaller one"),
        );
    }
    ApiError::new(
        rejection.status(),
        format!("could not read the request body: {}", rejection.body_text()),
    )
}

/// A value the signature check decided before the handler ran (the
/// `Verified` space, a parsed registration, a
/// listing's filter): the handler takes it instead of parsing the request
/// again.
pub struct Decided<T>(pub T);

impl<T, S> FromRequestParts<S> for Decided<T>
where
    T: Clone + Send + Sync + 'static,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<T>()
            .cloned()
            .map(Decided)
            .ok_or_else(|| {
                tracing::error!(
                    wanted = std::any::type_name::<T>(),
                    path = %parts.uri.path(),
                    "a handler ran without the signature check that decides its input"
                );
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error: this route is missing its signature check",
                )
            })
    }
}
