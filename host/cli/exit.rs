//! The exit codes of `bgwasm`, and which failure gets which.

use crate::client::ClientError;
use crate::run_once::RunOnceError;

/// Exit code of a run that failed (the piece threw, timed out, ...), or of a
/// daemon that refused a request.
pub const EXIT_RUN_FAILED: u8 = 1;
/// Exit code of bad usage or bad input (a missing file, invalid JSON).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of a replay that did not come to the run's outcome.
pub const EXIT_DIVERGED: u8 = 3;

/// `run-once` could not run the piece: bad input is usage, the rest is a
/// failed run.
pub fn of_run_once(error: &RunOnceError) -> u8 {
    match error {
        RunOnceError::Sandbox(_) | RunOnceError::Output(_) | RunOnceError::WriteCells { .. } => {
            EXIT_RUN_FAILED
        }
        _ => EXIT_USAGE,
    }
}

/// A client command failed: bad input refused locally is usage; the daemon
/// unreachable, refusing or answering oddly is a failure.
pub fn of_client(error: &ClientError) -> u8 {
    match error {
        ClientError::Usage(_) | ClientError::ReadFile { .. } => EXIT_USAGE,
        _ => EXIT_RUN_FAILED,
    }
}
