//! The daemon's answers and request bodies, as the client reads and writes
//! them. Only the fields the client uses are read; a missing or mistyped one
//! is an `Unexpected` error naming it, never a silent default.

use super::ClientError;
use crate::identity::Did;
use crate::sandbox::RunOutcome;
use crate::store::{EpochMillis, PieceId, RunTrigger};
use serde::{Deserialize, Serialize};

/// `POST /api/spaces/{space}/pieces`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PieceAdded {
    pub piece_id: PieceId,
}

/// `POST /api/integrations/bg` and `DELETE .../pieces/{id}`.
#[derive(Debug, Deserialize)]
pub struct Ack {
    pub success: bool,
}

impl Ack {
    /// Whether the daemon said the request succeeded.
    pub fn confirmed(self, what: &str) -> Result<(), ClientError> {
        if self.success {
            Ok(())
        } else {
            Err(ClientError::Unexpected(format!(
                "the daemon answered {what} with success: false"
            )))
        }
    }
}

/// The body of `POST /api/integrations/bg`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody<'a> {
    pub piece_id: &'a PieceId,
    pub space: Did,
    pub integration: &'a str,
}

/// `POST .../enable` and `.../disable`: the registration, of which the
/// client shows the status.
#[derive(Debug, Deserialize)]
pub struct RegistrationStatus {
    pub status: String,
}

/// `GET .../pieces/{id}/runs`: a piece's newest runs, newest first.
/// `bgwasm runs --json` prints it back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunHistory {
    pub runs: Vec<PastRun>,
}

/// One run of a piece, as the history lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PastRun {
    pub id: i64,
    pub trigger: RunTrigger,
    pub started_at: EpochMillis,
    pub finished_at: EpochMillis,
    pub outcome: RunOutcome,
}
