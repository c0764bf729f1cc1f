//! The PostgreSQL store: any number of daemons can share one database.
//!
//! Each table (or concern) has its file of async functions over a client or
//! transaction (`deadpool_postgres::GenericClient`): `pieces`,
//! `registrations`, `schedule` (the scheduler's side of registrations),
//! `runs`, `cells`, with `rows` for reading columns by name and `schema` for
//! the versioned migrations. Each [`Store`] method is one statement or one
//! transaction on a pooled connection; every value is a bound parameter.
//! Read-modify-write steps lock their row (`SELECT ... FOR UPDATE`), and
//! claims skip rows another transaction holds (`FOR UPDATE SKIP LOCKED`).
//!
//! Registering or enabling a piece due now wakes idle nodes through
//! `LISTEN/NOTIFY` (`notify`).
//!
//! When the database goes away, each call fails with a
//! [`StoreError::PostgresPool`] or [`StoreError::Postgres`] (a transaction
//! in flight is rolled back by the server, never half-applied), and the pool
//! opens fresh connections once the database is back.

mod cells;
mod leases;
mod notify;
mod pieces;
mod registrations;
mod rows;
mod runs;
mod schedule;
mod schema;

#[cfg(test)]
pub use schema::SCHEMA_VERSION;

use super::error::{PostgresContext, StoreError};
use super::{
    AddedPiece, BatchCommit, ClaimToken, ClaimedRun, CommittedRun, EpochMillis, FinishedRun,
    Heartbeat, IntegrationFilter, LeaseConfig, NodeStatus, PhaseCounts, PieceId, PieceInfo,
    PieceSource, RecordedRun, Registration, RegistrationFilter, RegistrationKey, RunRecord,
    RunTime, RunTransition, Snapshot, SpaceLease, SpaceLeases, Store, StoreCounts, StoreFuture,
    StoredPiece,
};
use crate::sandbox::CellSource;
use cells::{CellReader, PostgresCells};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rows::Columns;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_postgres::NoTls;

/// Connections the store keeps at most (API, scheduler and commits).
const MAX_CONNECTIONS: usize = 16;
/// Connections for the cell reads of running pieces.
const MAX_CELL_CONNECTIONS: usize = 4;
/// How long a call waits for a free connection, or for a new one to open.
const POOL_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `$body` (an expression using the transaction `$tx`) in one
/// transaction on a pooled connection, committing if it succeeds.
macro_rules! in_transaction {
    ($store:expr, $context:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.client($context).await?;
        let $tx = client.transaction().await.context($context)?;
        let value = $body.await?;
        $tx.commit().await.context($context)?;
        Ok(value)
    }};
}

/// The PostgreSQL store, as one node among those sharing the database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    cells: Arc<CellReader>,
    /// For the wake-up listener's connection of its own.
    config: Arc<tokio_postgres::Config>,
    /// This node's name and lease ttl.
    lease: Arc<LeaseConfig>,
}

fn pool(config: &tokio_postgres::Config, max_size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .build()
        .map_err(|error| StoreError::PostgresSetup {
            reason: error.to_string(),
        })
}

impl PostgresStore {
    /// Connects to the database `config` names (`name` is how errors and logs
    /// show it, without its password) and migrates it, under an advisory lock.
    pub async fn connect(config: &tokio_postgres::Config, name: &str) -> Result<Self, StoreError> {
        let pool = pool(config, MAX_CONNECTIONS)?;
        let mut client = pool
            .get()
            .await
            .map_err(|source| StoreError::PostgresPool {
                context: "connecting to the database",
                source,
            })?;
        schema::migrate(&mut client, name).await?;
        drop(client);
        let cell_config = config.clone();
        let cells = CellReader::start(move || pool_for_cells(&cell_config))?;
        tracing::info!(database = %name, "opened the store");
        Ok(Self {
            pool,
            cells: Arc::new(cells),
            config: Arc::new(config.clone()),
            lease: Arc::new(LeaseConfig::default_for_this_process()),
        })
    }

    /// The same store as node `lease.node`, its leases lasting `lease.ttl`
    /// (the default is this process's `<hostname>-<pid>` and 15 s).
    pub fn as_node(mut self, lease: LeaseConfig) -> Self {
        self.lease = Arc::new(lease);
        self
    }

    async fn client(&self, context: &'static str) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|source| StoreError::PostgresPool { context, source })
    }

    /// Everything the store holds (for `store migrate`), read in one
    /// repeatable-read transaction so the rows agree with each other.
    pub async fn export(&self) -> Result<Snapshot, StoreError> {
        const CONTEXT: &str = "reading the whole store";
        let mut client = self.client(CONTEXT).await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .context(CONTEXT)?;
        let snapshot = Snapshot {
            pieces: pieces::all(&tx).await?,
            registrations: registrations::list(&tx, &RegistrationFilter::default()).await?,
            runs: runs::all(&tx).await?,
            cells: cells::all(&tx).await?,
        };
        tx.commit().await.context(CONTEXT)?;
        Ok(snapshot)
    }

    /// Writes `snapshot` into this store in one transaction. The store must be
    /// empty: nothing is merged or overwritten.
    pub async fn import(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        const CONTEXT: &str = "copying into the store";
        in_transaction!(self, CONTEXT, |tx| async {
            tx.batch_execute("LOCK TABLE pieces, registrations, runs, cells IN EXCLUSIVE MODE")
                .await
                .context(CONTEXT)?;
            let found = counts(&tx).await?;
            if found.pieces + found.registrations + found.runs + found.cells > 0 {
                return Err(StoreError::TargetNotEmpty {
                    found: format!(
                        "{} pieces, {} registrations, {} runs, {} cells",
                        found.pieces, found.registrations, found.runs, found.cells
                    ),
                });
            }
            pieces::insert_all(&tx, &snapshot.pieces).await?;
            registrations::insert_all(&tx, &snapshot.registrations).await?;
            runs::insert_all(&tx, &snapshot.runs).await?;
            cells::insert_all(&tx, &snapshot.cells).await
        })
    }
}

/// The cell reader's pool: built on its own thread's runtime.
fn pool_for_cells(config: &tokio_postgres::Config) -> Result<Pool, StoreError> {
    pool(config, MAX_CELL_CONNECTIONS)
}

/// Totals for `/healthz`.
async fn counts(client: &impl deadpool_postgres::GenericClient) -> Result<StoreCounts, StoreError> {
    const CONTEXT: &str = "counting";
    let row = client
        .query_one(StoreCounts::QUERY, &[])
        .await
        .context(CONTEXT)?;
    let row = Columns::new(&row, CONTEXT);
    Ok(StoreCounts {
        spaces: row.unsigned("spaces")?,
        pieces: row.unsigned("pieces")?,
        registrations: row.unsigned("registrations")?,
        enabled: row.unsigned("enabled")?,
        dispatched: row.unsigned("dispatched")?,
        runs: row.unsigned("runs")?,
        cells: row.unsigned("cells")?,
    })
}

impl Store for PostgresStore {
    fn add_piece(
        &self,
        space: &str,
        id: Option<PieceId>,
        source: PieceSource,
        now: EpochMillis,
    ) -> StoreFuture<'_, AddedPiece> {
        let space = space.to_owned();
        Box::pin(async move {
            let client = self.client("adding a piece").await?;
            pieces::add(&client, &space, id, &source, now).await
        })
    }

    fn replace_piece(
        &self,
        space: &str,
        id: &PieceId,
        source: PieceSource,
        now: EpochMillis,
    ) -> StoreFuture<'_, PieceInfo> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(async move {
            let client = self.client("replacing a piece").await?;
            pieces::replace(&client, &space, &id, &source, now).await
        })
    }

    fn get_piece(&self, space: &str, id: &PieceId) -> StoreFuture<'_, Option<StoredPiece>> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(async move {
            let client = self.client("reading a piece").await?;
            pieces::get(&client, &space, &id).await
        })
    }

    fn register(
        &self,
        key: &RegistrationKey,
        integration: &str,
        now: EpochMillis,
    ) -> StoreFuture<'_, Registration> {
        let (key, integration) = (key.clone(), integration.to_owned());
        Box::pin(async move {
            in_transaction!(self, "registering a piece", |tx| async {
                let registration = registrations::register(&tx, &key, &integration, now).await?;
                notify::announce_if_due(&tx, &registration, now).await?;
                Ok::<_, StoreError>(registration)
            })
        })
    }

    fn enable(&self, key: &RegistrationKey, now: EpochMillis) -> StoreFuture<'_, Registration> {
        let key = key.clone();
        Box::pin(async move {
            in_transaction!(self, "enabling a registration", |tx| async {
                let registration =
                    registrations::update(&tx, &key, now, |state| state.reinitialized(now)).await?;
                notify::announce_if_due(&tx, &registration, now).await?;
                Ok::<_, StoreError>(registration)
            })
        })
    }

    fn disable(&self, key: &RegistrationKey, now: EpochMillis) -> StoreFuture<'_, Registration> {
        let key = key.clone();
        Box::pin(async move {
            in_transaction!(self, "disabling a registration", |tx| {
                registrations::update(&tx, &key, now, |state| state.disabled_via_ui(now))
            })
        })
    }

    fn unregister(&self, key: &RegistrationKey) -> StoreFuture<'_, bool> {
        let key = key.clone();
        Box::pin(async move {
            let client = self.client("unregistering a piece").await?;
            registrations::unregister(&client, &key).await
        })
    }

    fn get_registration(&self, key: &RegistrationKey) -> StoreFuture<'_, Option<Registration>> {
        let key = key.clone();
        Box::pin(async move {
            let client = self.client("reading a registration").await?;
            registrations::get(&client, &key).await
        })
    }

    fn list_registrations(
        &self,
        filter: &RegistrationFilter,
    ) -> StoreFuture<'_, Vec<Registration>> {
        let filter = filter.clone();
        Box::pin(async move {
            let client = self.client("listing registrations").await?;
            registrations::list(&client, &filter).await
        })
    }

    fn claim_due(
        &self,
        now: EpochMillis,
        integrations: &IntegrationFilter,
        limit: usize,
    ) -> StoreFuture<'_, Vec<ClaimedRun>> {
        let integrations = integrations.clone();
        Box::pin(async move {
            let client = self.client("claiming due registrations").await?;
            schedule::claim_due(&client, &self.lease, now, &integrations, limit).await
        })
    }

    fn next_due(&self, integrations: &IntegrationFilter) -> StoreFuture<'_, Option<EpochMillis>> {
        let integrations = integrations.clone();
        Box::pin(async move {
            let client = self.client("finding the next due time").await?;
            schedule::next_due(&client, &self.lease, &integrations).await
        })
    }

    fn release_claim(&self, key: &RegistrationKey, claim: ClaimToken) -> StoreFuture<'_, ()> {
        let key = key.clone();
        Box::pin(async move {
            in_transaction!(self, "releasing a claim", |tx| {
                schedule::release_claim(&tx, &key, claim)
            })
        })
    }

    fn recover_after_restart(
        &self,
        now: EpochMillis,
        integrations: &IntegrationFilter,
    ) -> StoreFuture<'_, Vec<RegistrationKey>> {
        let integrations = integrations.clone();
        Box::pin(async move {
            in_transaction!(self, "recovering after a restart", |tx| {
                schedule::recover_after_restart(&tx, &self.lease, now, &integrations)
            })
        })
    }

    fn reschedule(&self, due: Vec<(RegistrationKey, EpochMillis)>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client("rescheduling registrations").await?;
            schedule::reschedule(&client, &due).await
        })
    }

    fn commit_run(
        &self,
        run: FinishedRun,
        transition: RunTransition,
    ) -> StoreFuture<'_, CommittedRun> {
        Box::pin(async move {
            in_transaction!(self, "committing a run", |tx| {
                runs::commit(&tx, self.lease.node.as_str(), run, transition)
            })
        })
    }

    fn commit_runs(&self, runs: Vec<(FinishedRun, RunTransition)>) -> StoreFuture<'_, BatchCommit> {
        Box::pin(async move {
            const CONTEXT: &str = "committing a group of runs";
            let mut client = self.client(CONTEXT).await?;
            let mut tx = client.transaction().await.context(CONTEXT)?;
            let mut results = Vec::with_capacity(runs.len());
            for (run, transition) in runs {
                // A savepoint per run: one that cannot be written leaves the
                // others in.
                let savepoint = tx.savepoint("run").await.context(CONTEXT)?;
                match runs::commit(&savepoint, self.lease.node.as_str(), run, transition).await {
                    Ok(committed) => {
                        savepoint.commit().await.context(CONTEXT)?;
                        results.push(Ok(committed));
                    }
                    Err(error) => {
                        savepoint.rollback().await.context(CONTEXT)?;
                        results.push(Err(error));
                    }
                }
            }
            tx.commit().await.context(CONTEXT)?;
            Ok(results)
        })
    }

    fn recent_run_times(
        &self,
        space: &str,
        id: &PieceId,
        limit: usize,
    ) -> StoreFuture<'_, Vec<RunTime>> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(async move {
            let client = self.client("reading run times").await?;
            runs::recent_times(&client, &space, &id, limit).await
        })
    }

    fn leases(&self) -> Option<&dyn SpaceLeases> {
        Some(self)
    }

    fn count_by_phase(&self) -> StoreFuture<'_, PhaseCounts> {
        Box::pin(async move {
            let client = self.client("counting registrations by phase").await?;
            registrations::count_by_phase(&client).await
        })
    }

    fn run_record(
        &self,
        space: &str,
        id: &PieceId,
        run_id: i64,
    ) -> StoreFuture<'_, Option<RecordedRun>> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(async move {
            let client = self.client("reading a run's record").await?;
            runs::recorded(&client, &space, &id, run_id).await
        })
    }

    fn recent_runs(
        &self,
        space: &str,
        id: &PieceId,
        limit: usize,
    ) -> StoreFuture<'_, Vec<RunRecord>> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(async move {
            let client = self.client("reading run history").await?;
            runs::recent(&client, &space, &id, limit).await
        })
    }

    fn list_cells(&self, space: &str) -> StoreFuture<'_, Vec<(String, String)>> {
        let space = space.to_owned();
        Box::pin(async move {
            let client = self.client("listing cells").await?;
            cells::list(&client, &space).await
        })
    }

    fn get_cell(&self, space: &str, key: &str) -> StoreFuture<'_, Option<String>> {
        let (space, key) = (space.to_owned(), key.to_owned());
        Box::pin(async move {
            let client = self.client("reading a cell").await?;
            cells::get(&client, &space, &key).await
        })
    }

    fn cell_source(&self, space: &str) -> Arc<dyn CellSource> {
        Arc::new(PostgresCells {
            reader: Arc::clone(&self.cells),
            space: space.to_owned(),
        })
    }

    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        Box::pin(async move {
            let client = self.client("counting").await?;
            counts(&client).await
        })
    }

    fn wake_ups(&self, integrations: &IntegrationFilter) -> Option<watch::Receiver<u64>> {
        Some(notify::listen(&self.config, integrations))
    }
}

impl SpaceLeases for PostgresStore {
    fn lease_config(&self) -> &LeaseConfig {
        &self.lease
    }

    fn heartbeat(&self, active_spaces: Vec<String>) -> StoreFuture<'_, Heartbeat> {
        Box::pin(async move {
            let client = self.client("renewing space leases").await?;
            leases::heartbeat(&client, &self.lease, &active_spaces).await
        })
    }

    fn acquire_space(&self, space: &str) -> StoreFuture<'_, SpaceLease> {
        let space = space.to_owned();
        Box::pin(async move {
            let client = self.client("taking a space's lease").await?;
            leases::acquire(&client, &self.lease, &space).await
        })
    }

    fn leave(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client("giving back this node's leases").await?;
            leases::leave(&client, &self.lease).await
        })
    }

    fn nodes(&self, within: Duration) -> StoreFuture<'_, Vec<NodeStatus>> {
        Box::pin(async move {
            let client = self.client("listing the nodes").await?;
            leases::nodes(&client, within).await
        })
    }
}
