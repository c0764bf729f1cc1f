//! The API's errors: always JSON, `{"success": false, "error": "..."}` (the
//! shape the reference service's clients read), with a message that names
//! what is wrong and what to do.

use crate::scheduler::SchedulerError;
use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// The same error about a field of the request body.
    pub fn in_field(self, field: &str) -> Self {
        Self {
            message: format!("field `{field}`: {}", self.message),
            ..self
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "success": false, "error": self.message });
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let status = match &error {
            StoreError::PieceNotFound { .. } | StoreError::NotRegistered { .. } => {
                StatusCode::NOT_FOUND
            }
            StoreError::PieceIdTaken { .. } => StatusCode::CONFLICT,
            // A manual run outlived its space's lease: nothing was applied,
            // and it may be asked for again.
            StoreError::LeaseLost { .. } => StatusCode::CONFLICT,
            StoreError::InvalidPieceId(_) => StatusCode::BAD_REQUEST,
            // The database is unreachable: the client may retry later.
            StoreError::PostgresPool { .. } => {
                tracing::error!(%error, "the store failed while serving a request");
                StatusCode::SERVICE_UNAVAILABLE
            }
            StoreError::DataDir { .. }
            | StoreError::NewerSchema { .. }
            | StoreError::NewerPostgresSchema { .. }
            | StoreError::Sqlite { .. }
            | StoreError::Postgres { .. }
            | StoreError::PostgresSetup { .. }
            | StoreError::BadColumn { .. }
            | StoreError::TargetNotEmpty { .. }
            | StoreError::CellReaderThread { .. }
            | StoreError::CheckpointerThread { .. }
            | StoreError::CellReaderGone { .. }
            | StoreError::Corrupt { .. }
            | StoreError::GroupCommitFailed { .. }
            | StoreError::ScheduleLocked { .. }
            | StoreError::ScheduleLock { .. }
            | StoreError::TaskFailed { .. } => {
                tracing::error!(%error, "the store failed while serving a request");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self::new(status, error.to_string())
    }
}

impl From<SchedulerError> for ApiError {
    fn from(error: SchedulerError) -> Self {
        match error {
            SchedulerError::Store(error) => error.into(),
            SchedulerError::Stopping { .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
            }
            // Another node runs the space: retry later.
            SchedulerError::SpaceBusy { .. } => Self::new(StatusCode::CONFLICT, error.to_string()),
        }
    }
}
