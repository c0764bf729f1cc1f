//! What can go wrong in the store. Each message names the thing at fault and
//! what to do about it.

use super::{PieceId, PieceIdError, RegistrationKey};
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

    #[error(
        "another process is already scheduling the data directory {}: its lock file {path} \
         is held; run one daemon per data directory (stop the other `bgwasm serve`, or give \
         this one its own --data-dir)",
        path.parent().map_or_else(|| path.display().to_string(), |dir| dir.display().to_string())
    )]
    ScheduleLocked { path: PathBuf },

    #[error(
        "cannot take the scheduling lock {path}: {source}; check the data directory's permissions"
    )]
    ScheduleLock {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("database error while {context}: {source}")]
    Sqlite {
        context: &'static str,
        source: rusqlite::Error,
    },

    #[error(
        "the PostgreSQL database {database} has schema version {found}, newer than this bgwasm \
         supports ({supported}); run a newer bgwasm or point --store elsewhere"
    )]
    NewerPostgresSchema {
        database: String,
        found: i64,
        supported: i64,
    },

    #[error("PostgreSQL error while {context}: {}", describe_postgres(source))]
    Postgres {
        context: &'static str,
        source: tokio_postgres::Error,
    },

    #[error(
        "no PostgreSQL connection while {context}: {}; check that the database is up and \
         reachable (bgwasm retries)",
        describe_pool(source)
    )]
    PostgresPool {
        context: &'static str,
        source: deadpool_postgres::PoolError,
    },

    #[error(
        "while {context}: stored column {column} does not parse: {reason}; the database was \
         modified outside bgwasm"
    )]
    BadColumn {
        context: &'static str,
        column: &'static str,
        reason: String,
    },

    #[error(
        "the target store already holds data ({found}); `store migrate` copies only into an \
         empty store, so nothing is merged or overwritten: point --to at a new database"
    )]
    TargetNotEmpty { found: String },

    #[error("cannot set up the PostgreSQL connection pool: {reason}")]
    PostgresSetup { reason: String },

    #[error("cannot start the thread that reads cells for running pieces: {source}")]
    CellReaderThread { source: std::io::Error },

    #[error("cannot start the thread that checkpoints SQLite's write-ahead log: {source}")]
    CheckpointerThread { source: std::io::Error },

    #[error("the PostgreSQL cell reader could not start: {reason}")]
    CellReaderGone { reason: String },

    #[error("stored {what} is corrupt: {reason}; the database was modified outside bgwasm")]
    Corrupt { what: &'static str, reason: String },

    #[error(
        "the group commit this run was part of failed ({reason}); the run was not committed \
         and its piece runs again; check the database's disk and the log"
    )]
    GroupCommitFailed { reason: String },

    #[error(
        "the run of {key} was not applied: node {node} no longer holds the lease of space {space} \
         (fencing token {token}); it expired (the node was paused, overloaded or cut off from the \
         database for longer than --lease-ttl) or another node took the space. The run is \
         abandoned, nothing of it is committed, and the node holding the space runs the piece"
    )]
    LeaseLost {
        key: RegistrationKey,
        space: String,
        node: String,
        token: i64,
    },

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

/// A PostgreSQL error with its server-side message (`tokio_postgres::Error`
/// shows only "db error" on its own).
fn describe_postgres(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        },
    }
}

fn describe_pool(error: &deadpool_postgres::PoolError) -> String {
    match error {
        deadpool_postgres::PoolError::Backend(error) => describe_postgres(error),
        other => other.to_string(),
    }
}

/// Attaches what the store was doing to a PostgreSQL error.
pub(crate) trait PostgresContext<T> {
    fn context(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> PostgresContext<T> for Result<T, tokio_postgres::Error> {
    fn context(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Postgres { context, source })
    }
}
