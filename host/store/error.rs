//! What can go wrong in the store. Each message names the thing at fault and
//! what to do about it.

use super::{PieceId, PieceIdError};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("piece {piece_id} does not exist in space {space}; add its source first")]
    PieceNotFound { space: String, piece_id: PieceId },

    #[error("piece {piece_id} of space {space} is not registered; register it first")]
    NotRegistered { space: String, piece_id: PieceId },

    #[error(
        "piece id {piece_id} is already used in space {space} by a different source; \
         replace that piece's source instead, or choose another id"
    )]
    PieceIdTaken { space: String, piece_id: PieceId },

    #[error(transparent)]
    InvalidPieceId(#[from] PieceIdError),

    #[error(
        "cannot create the data directory {path}: {source}; check the path and its permissions"
    )]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "the database {path} has schema version {found}, newer than this bgwasm supports \
         ({supported}); run a newer bgwasm or point --data-dir elsewhere"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("database error while {context}: {source}")]
    Sqlite {
        context: &'static str,
        source: rusqlite::Error,
    },

    #[error("stored {what} is corrupt: {reason}; the database was modified outside bgwasm")]
    Corrupt { what: &'static str, reason: String },

    #[error(
        "the group commit this run was part of failed ({reason}); the run was not committed \
         and its piece runs again; check the database's disk and the log"
    )]
    GroupCommitFailed { reason: String },

    #[error("a store task was cancelled or panicked while {context}; see the log for the panic")]
    TaskFailed { context: &'static str },
}

/// Attaches what the store was doing to a SQLite error.
pub(crate) trait SqliteContext<T> {
    fn context(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> SqliteContext<T> for Result<T, rusqlite::Error> {
    fn context(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite { context, source })
    }
}
