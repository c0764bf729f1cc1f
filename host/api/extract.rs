//! Extractors that reject with [`ApiError`], so malformed paths, queries and
//! oversized bodies get the same JSON errors as everything else.

use super::error::ApiError;
use super::state::ApiState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;

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
