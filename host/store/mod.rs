//! The daemon's persistent state: pieces, registrations and their schedule,
//! run history, and each space's cells.
//!
//! [`Store`] is what the scheduler and the API use, so a server-backed store
//! can replace the embedded [`SqliteStore`] without touching either: [`PostgresStore`]
//! is that one, and [`StoreUrl`] says which a command opens. Callers
//! pass the time (`now`) in, so the scheduler's clock (paused in tests) is the
//! only clock.

mod error;
mod lease;
pub mod migrate;
mod piece_id;
mod postgres;
mod records;
mod registration;
mod snapshot;
mod sqlite;
mod url;

pub use error::StoreError;
pub use lease::{
    DEFAULT_LEASE_TTL, Heartbeat, LeaseConfig, LeaseToken, MAX_NODE_ID_LEN, MIN_LEASE_TTL, NodeId,
    NodeIdError, NodeStatus, SpaceLease, SpaceLeases,
};
pub use piece_id::{MAX_PIECE_ID_LEN, PieceId, PieceIdError, source_hash};
pub use postgres::PostgresStore;
pub use records::{
    AddedPiece, ClaimedRun, CommittedRun, FinishedRun, IntegrationFilter, PhaseCounts, PieceInfo,
    PieceSource, RecordedRun, RegistrationFilter, RegistrationPage, RunRecord, RunTime,
    RunTransition, RunTrigger, StoreCounts, StoredPiece,
};
pub use registration::{
    ClaimToken, EpochMillis, Phase, Registration, RegistrationKey, RegistrationState,
    STATUS_DISABLED_VIA_UI, STATUS_INITIALIZING, STATUS_REINITIALIZING, STATUS_SUCCESS,
};
pub use snapshot::{CellRow, Snapshot};
pub use sqlite::{DATABASE_FILE, RUN_HISTORY_PER_PIECE, SqliteStore};
pub use url::{StoreUrl, StoreUrlError};

use crate::sandbox::CellSource;
use futures::future::BoxFuture;
use std::sync::Arc;

/// A store call's result, awaited without blocking the runtime.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// What a group commit did to each of its runs, in order.
pub type BatchCommit = Vec<Result<CommittedRun, StoreError>>;

/// Everything the daemon keeps. Every method is one atomic step.
pub trait Store: Send + Sync + 'static {
    /// Adds a piece under `id`, or under its content-addressed id when `None`.
    /// Adding the same source (in the same language) again is a no-op; a
    /// different source under a taken id is [`StoreError::PieceIdTaken`].
    fn add_piece(
        &self,
        space: &str,
        id: Option<PieceId>,
        source: PieceSource,
        now: EpochMillis,
    ) -> StoreFuture<'_, AddedPiece>;

    /// Replaces the source (and language) of an existing piece; its next run
    /// uses it.
    fn replace_piece(
        &self,
        space: &str,
        id: &PieceId,
        source: PieceSource,
        now: EpochMillis,
    ) -> StoreFuture<'_, PieceInfo>;

    fn get_piece(&self, space: &str, id: &PieceId) -> StoreFuture<'_, Option<StoredPiece>>;

    /// Registers a piece (it must exist). Idempotent: registering again
    /// re-enables it, forgives its failures and makes it due now; the
    /// integration label is updated to the latest one given.
    fn register(
        &self,
        key: &RegistrationKey,
        integration: &str,
        now: EpochMillis,
    ) -> StoreFuture<'_, Registration>;

    /// Enables a registration, like registering it again.
    fn enable(&self, key: &RegistrationKey, now: EpochMillis) -> StoreFuture<'_, Registration>;

    /// Disables a registration (`Disabled via UI`); a run in flight finishes.
    fn disable(&self, key: &RegistrationKey, now: EpochMillis) -> StoreFuture<'_, Registration>;

    /// Deletes a registration; returns whether there was one. A run in flight
    /// finishes and is recorded, but its commit does not bring it back.
    fn unregister(&self, key: &RegistrationKey) -> StoreFuture<'_, bool>;

    fn get_registration(&self, key: &RegistrationKey) -> StoreFuture<'_, Option<Registration>>;

    /// Registrations, sorted by space then piece id.
    fn list_registrations(&self, filter: &RegistrationFilter)
    -> StoreFuture<'_, Vec<Registration>>;

    /// One page of [`Store::list_registrations`]: at most `limit` of them
    /// after the first `offset`, and how many match in all (the dashboard
    /// pages through 10,000 registrations). The default lists them all and
    /// slices; a store should do better.
    fn list_registrations_page(
        &self,
        filter: &RegistrationFilter,
        offset: usize,
        limit: usize,
    ) -> StoreFuture<'_, RegistrationPage> {
        let filter = filter.clone();
        Box::pin(async move {
            let all = self.list_registrations(&filter).await?;
            Ok(RegistrationPage {
                total: all.len() as u64,
                registrations: all.into_iter().skip(offset).take(limit).collect(),
            })
        })
    }

    /// Claims up to `limit` due, enabled, scheduled registrations of the served
    /// integrations (oldest due first), moving them to `Dispatched` so no other
    /// tick or daemon takes them.
    fn claim_due(
        &self,
        now: EpochMillis,
        integrations: &IntegrationFilter,
        limit: usize,
    ) -> StoreFuture<'_, Vec<ClaimedRun>>;

    /// The earliest `next_run` among scheduled registrations served that this
    /// daemon could claim (not those of a space another live node holds), if
    /// any.
    fn next_due(&self, integrations: &IntegrationFilter) -> StoreFuture<'_, Option<EpochMillis>>;

    /// Gives back a claim whose run never started (the daemon is stopping).
    fn release_claim(&self, key: &RegistrationKey, claim: ClaimToken) -> StoreFuture<'_, ()>;

    /// Startup recovery: claims left by a daemon that died (`kill -9`) are
    /// released. Returns the enabled registrations served that are overdue at
    /// `now`, so the scheduler can spread them out. A store shared by several
    /// daemons releases only the claims no live lease covers (and this
    /// node's own, left by its previous run), and returns only those.
    fn recover_after_restart(
        &self,
        now: EpochMillis,
        integrations: &IntegrationFilter,
    ) -> StoreFuture<'_, Vec<RegistrationKey>>;

    /// Sets new due times for scheduled registrations, in one transaction.
    fn reschedule(&self, due: Vec<(RegistrationKey, EpochMillis)>) -> StoreFuture<'_, ()>;

    /// Commits a run in one transaction: its history row (pruned to the
    /// newest [`RUN_HISTORY_PER_PIECE`]), `transition` applied to the stored
    /// registration (if it still exists; a matching claim is released), and
    /// — only if the run succeeded — its cell changes.
    fn commit_run(
        &self,
        run: FinishedRun,
        transition: RunTransition,
    ) -> StoreFuture<'_, CommittedRun>;

    /// Group commit: commits many runs, each as [`Store::commit_run`] would,
    /// with one durable sync for the whole batch where the backend can. An
    /// entry's error is that run's alone; the outer error means none of the
    /// batch was committed. The default commits them one by one.
    fn commit_runs(&self, runs: Vec<(FinishedRun, RunTransition)>) -> StoreFuture<'_, BatchCommit> {
        Box::pin(async move {
            let mut results = Vec::with_capacity(runs.len());
            for (run, transition) in runs {
                results.push(self.commit_run(run, transition).await);
            }
            Ok(results)
        })
    }

    /// A piece's newest runs, newest first.
    fn recent_runs(
        &self,
        space: &str,
        id: &PieceId,
        limit: usize,
    ) -> StoreFuture<'_, Vec<RunRecord>>;

    /// A piece's newest runs in brief (when, and whether they succeeded),
    /// newest first: what a chart of durations needs, without reading whole
    /// outcomes. The default reads them whole; a store should do better.
    fn recent_run_times(
        &self,
        space: &str,
        id: &PieceId,
        limit: usize,
    ) -> StoreFuture<'_, Vec<RunTime>> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(async move {
            let runs = self.recent_runs(&space, &id, limit).await?;
            Ok(runs.iter().map(RunTime::of).collect())
        })
    }

    /// One run of a piece's history with its record for replay; none when
    /// there is no such run (never run, or pruned).
    fn run_record(
        &self,
        space: &str,
        id: &PieceId,
        run_id: i64,
    ) -> StoreFuture<'_, Option<RecordedRun>>;

    /// Every cell of a space as JSON text, sorted by key.
    fn list_cells(&self, space: &str) -> StoreFuture<'_, Vec<(String, String)>>;

    fn get_cell(&self, space: &str, key: &str) -> StoreFuture<'_, Option<String>>;

    /// What a run of `space` reads its cells from (its writes come back in the
    /// run report and go through [`Store::commit_run`]).
    fn cell_source(&self, space: &str) -> Arc<dyn CellSource>;

    fn counts(&self) -> StoreFuture<'_, StoreCounts>;

    /// Registrations by phase, for the metrics (counted every few seconds).
    /// This default lists every registration; a store should override it
    /// with a count where the data is.
    /// The space leases of a store shared by several daemons; `None` (the
    /// default) for a store only one daemon opens.
    fn leases(&self) -> Option<&dyn SpaceLeases> {
        None
    }

    fn count_by_phase(&self) -> StoreFuture<'_, PhaseCounts> {
        Box::pin(async move {
            let all = self
                .list_registrations(&RegistrationFilter::default())
                .await?;
            Ok(PhaseCounts::tally(&all))
        })
    }

    /// Wake-ups from other nodes sharing the store: the receiver changes
    /// whenever a registration of `integrations` became due now through any
    /// node, so an idle scheduler looks at once. Starts listening (on the
    /// current tokio runtime) until the receiver is dropped. `None`: the
    /// store has no other nodes (SQLite), and the API wakes its own
    /// scheduler.
    fn wake_ups(
        &self,
        _integrations: &IntegrationFilter,
    ) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

#[cfg(test)]
mod tests;
