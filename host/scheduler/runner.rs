//! The seam between scheduling and running: the scheduler decides when a
//! piece runs, a [`PieceRunner`] runs it. The daemon's runner keeps one
//! sandbox per space; the tests' runner is a fake.

use crate::sandbox::{CellSource, ErrorKind, Piece, RunOutcome, RunReport};
use futures::future::BoxFuture;
use std::sync::Arc;

/// Runs one piece once.
///
/// The scheduler never calls `run` twice at once for the same space, so an
/// implementation may keep one sandbox per space without locking it across
/// runs. A run must always finish (the sandbox enforces its limits) and report
/// failures in its outcome rather than panicking.
pub trait PieceRunner: Send + Sync + 'static {
    fn run(
        &self,
        space: &str,
        piece: Piece,
        event: serde_json::Value,
        cells: Arc<dyn CellSource>,
    ) -> BoxFuture<'static, RunReport>;
}

/// A failed outcome for a run that could not happen or went wrong outside the
/// sandbox's accounting (the runner panicked, the piece's source vanished).
pub fn internal_failure(message: String) -> RunOutcome {
    RunOutcome::failure(ErrorKind::Internal, message)
}
