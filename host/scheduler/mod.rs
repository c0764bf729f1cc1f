//! The scheduler: when each registered piece runs, with what concurrency, and
//! what a run's outcome does to its schedule.
//!
//! Its states and transitions are explicit and persisted (see
//! `store::RegistrationState`): a registration is `Scheduled` with a due time,
//! `Dispatched` while a run owns it, or `Disabled`. The loop claims due
//! registrations in the store, each space's queue runs them one at a time,
//! and each outcome is committed together with the transition [`after_run`]
//! computes. Timers only wake the loop; they never hold a schedule.

mod clock;
mod committer;
mod config;
mod dispatcher;
mod piece_cache;
mod policy;
mod runner;
mod space_queues;
mod spread;

#[cfg(test)]
mod tests;

pub use clock::Clock;
pub use committer::{CommitStats, GroupCommit};
pub use config::SchedulerConfig;
pub use dispatcher::{Activity, Scheduler, StopReport};
pub use policy::{RetryPolicy, after_run};
pub use runner::{PieceRunner, internal_failure};
pub use spread::spread_due_time;

use crate::store::{RegistrationKey, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error(
        "the daemon is stopping, so piece {key} was not run; run it again once the daemon is back"
    )]
    Stopping { key: RegistrationKey },

    #[error(
        "piece {key} was not run: node {node} is running space {space} and still held its lease \
         after {waited:?}; a space runs one piece at a time across all nodes, so retry later \
         (or ask node {node})"
    )]
    SpaceBusy {
        key: RegistrationKey,
        space: String,
        node: String,
        waited: std::time::Duration,
    },
}
