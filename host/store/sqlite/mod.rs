//! The embedded store: one SQLite database, `<data-dir>/bgwasm.sqlite3`.
//!
//! Each table (or concern) has its file of plain synchronous functions over
//! a connection or transaction: `pieces`, `registrations`, `schedule` (the
//! scheduler's side of registrations), `runs`, `cells`, with `rows` for
//! reading columns by name. Each [`Store`] method is one of them, run on a
//! blocking thread, in one transaction; read-modify-write ones take the write
//! lock up front (`BEGIN IMMEDIATE`) so they never fail half-way on a busy
//! database. See `connections` for threading and `schema` for durability
//! settings.

mod cells;
mod connections;
mod pieces;
mod registrations;
mod rows;
mod runs;
mod schedule;
mod schema;

#[cfg(test)]
pub use schema::SCHEMA_VERSION;

use super::error::{SqliteContext, StoreError};
use super::{
    AddedPiece, BatchCommit, ClaimToken, ClaimedRun, CommittedRun, EpochMillis, FinishedRun,
    IntegrationFilter, PhaseCounts, PieceId, PieceInfo, PieceSource, RecordedRun, Registration,
    RegistrationFilter, RegistrationKey, RegistrationPage, RunRecord, RunTime, RunTransition,
    Snapshot, Store, StoreCounts, StoreFuture, StoredPiece,
};
use crate::sandbox::CellSource;
use cells::SqliteCells;
use connections::{Connections, ReaderPool, Writer};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The database's file name inside the data directory.
pub const DATABASE_FILE: &str = "bgwasm.sqlite3";

/// Runs kept per piece; older ones are deleted as new ones commit.
pub const RUN_HISTORY_PER_PIECE: usize = 50;

/// The embedded SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    connections: Arc<Connections>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) `<data_dir>/bgwasm.sqlite3` and migrates it.
    /// Blocking: call it before serving, or from `spawn_blocking`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let writer = Writer::open(&path)?;
        let readers = Arc::new(ReaderPool::new(path.clone()));
        tracing::info!(path = %path.display(), "opened the store");
        Ok(Self {
            connections: Arc::new(Connections { writer, readers }),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Everything the store holds (for `store migrate`), read in one
    /// transaction so the rows agree with each other.
    pub async fn export(&self) -> Result<Snapshot, StoreError> {
        self.connections
            .read("reading the whole store", |conn| {
                let tx = conn
                    .unchecked_transaction()
                    .context("reading the whole store")?;
                let snapshot = Snapshot {
                    pieces: pieces::all(&tx)?,
                    registrations: registrations::list(&tx, &RegistrationFilter::default())?,
                    runs: runs::all(&tx)?,
                    cells: cells::all(&tx)?,
                };
                tx.finish().context("reading the whole store")?;
                Ok(snapshot)
            })
            .await
    }
}

/// Totals for `/healthz`.
fn counts(conn: &Connection) -> Result<StoreCounts, StoreError> {
    conn.query_row(StoreCounts::QUERY, [], |row| {
        Ok(StoreCounts {
            spaces: rows::unsigned(row, "spaces")?,
            pieces: rows::unsigned(row, "pieces")?,
            registrations: rows::unsigned(row, "registrations")?,
            enabled: rows::unsigned(row, "enabled")?,
            dispatched: rows::unsigned(row, "dispatched")?,
            runs: rows::unsigned(row, "runs")?,
            cells: rows::unsigned(row, "cells")?,
        })
    })
    .context("counting")
}

impl Store for SqliteStore {
    fn add_piece(
        &self,
        space: &str,
        id: Option<PieceId>,
        source: PieceSource,
        now: EpochMillis,
    ) -> StoreFuture<'_, AddedPiece> {
        let space = space.to_owned();
        Box::pin(self.connections.write("adding a piece", move |conn| {
            pieces::add(conn, &space, id, &source, now)
        }))
    }

    fn replace_piece(
        &self,
        space: &str,
        id: &PieceId,
        source: PieceSource,
        now: EpochMillis,
    ) -> StoreFuture<'_, PieceInfo> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(self.connections.write("replacing a piece", move |conn| {
            pieces::replace(conn, &space, &id, &source, now)
        }))
    }

    fn get_piece(&self, space: &str, id: &PieceId) -> StoreFuture<'_, Option<StoredPiece>> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(self.connections.read("reading a piece", move |conn| {
            pieces::get(conn, &space, &id)
        }))
    }

    fn register(
        &self,
        key: &RegistrationKey,
        integration: &str,
        now: EpochMillis,
    ) -> StoreFuture<'_, Registration> {
        let (key, integration) = (key.clone(), integration.to_owned());
        Box::pin(self.connections.write("registering a piece", move |conn| {
            registrations::register(conn, &key, &integration, now)
        }))
    }

    fn enable(&self, key: &RegistrationKey, now: EpochMillis) -> StoreFuture<'_, Registration> {
        let key = key.clone();
        Box::pin(
            self.connections
                .write("enabling a registration", move |conn| {
                    registrations::update(conn, &key, now, |state| state.reinitialized(now))
                }),
        )
    }

    fn disable(&self, key: &RegistrationKey, now: EpochMillis) -> StoreFuture<'_, Registration> {
        let key = key.clone();
        Box::pin(
            self.connections
                .write("disabling a registration", move |conn| {
                    registrations::update(conn, &key, now, |state| state.disabled_via_ui(now))
                }),
        )
    }

    fn unregister(&self, key: &RegistrationKey) -> StoreFuture<'_, bool> {
        let key = key.clone();
        Box::pin(
            self.connections
                .write("unregistering a piece", move |conn| {
                    registrations::unregister(conn, &key)
                }),
        )
    }

    fn get_registration(&self, key: &RegistrationKey) -> StoreFuture<'_, Option<Registration>> {
        let key = key.clone();
        Box::pin(
            self.connections
                .read("reading a registration", move |conn| {
                    registrations::get(conn, &key)
                }),
        )
    }

    fn list_registrations(
        &self,
        filter: &RegistrationFilter,
    ) -> StoreFuture<'_, Vec<Registration>> {
        let filter = filter.clone();
        Box::pin(self.connections.read("listing registrations", move |conn| {
            registrations::list(conn, &filter)
        }))
    }

    fn list_registrations_page(
        &self,
        filter: &RegistrationFilter,
        offset: usize,
        limit: usize,
    ) -> StoreFuture<'_, RegistrationPage> {
        let filter = filter.clone();
        Box::pin(
            self.connections
                .read("listing a page of registrations", move |conn| {
                    registrations::page(conn, &filter, offset, limit)
                }),
        )
    }

    fn claim_due(
        &self,
        now: EpochMillis,
        integrations: &IntegrationFilter,
        limit: usize,
    ) -> StoreFuture<'_, Vec<ClaimedRun>> {
        let integrations = integrations.clone();
        Box::pin(
            self.connections
                .write("claiming due registrations", move |conn| {
                    schedule::claim_due(conn, now, &integrations, limit)
                }),
        )
    }

    fn next_due(&self, integrations: &IntegrationFilter) -> StoreFuture<'_, Option<EpochMillis>> {
        let integrations = integrations.clone();
        Box::pin(
            self.connections
                .read("finding the next due time", move |conn| {
                    schedule::next_due(conn, &integrations)
                }),
        )
    }

    fn release_claim(&self, key: &RegistrationKey, claim: ClaimToken) -> StoreFuture<'_, ()> {
        let key = key.clone();
        Box::pin(self.connections.write("releasing a claim", move |conn| {
            schedule::release_claim(conn, &key, claim)
        }))
    }

    fn recover_after_restart(
        &self,
        now: EpochMillis,
        integrations: &IntegrationFilter,
    ) -> StoreFuture<'_, Vec<RegistrationKey>> {
        let integrations = integrations.clone();
        Box::pin(
            self.connections
                .write("recovering after a restart", move |conn| {
                    schedule::recover_after_restart(conn, now, &integrations)
                }),
        )
    }

    fn reschedule(&self, due: Vec<(RegistrationKey, EpochMillis)>) -> StoreFuture<'_, ()> {
        Box::pin(
            self.connections
                .write("rescheduling registrations", move |conn| {
                    schedule::reschedule(conn, &due)
                }),
        )
    }

    fn commit_run(
        &self,
        run: FinishedRun,
        transition: RunTransition,
    ) -> StoreFuture<'_, CommittedRun> {
        Box::pin(self.connections.write("committing a run", move |conn| {
            runs::commit(conn, run, transition)
        }))
    }

    fn commit_runs(&self, runs: Vec<(FinishedRun, RunTransition)>) -> StoreFuture<'_, BatchCommit> {
        Box::pin(
            self.connections
                .write("committing a group of runs", move |conn| {
                    runs::commit_batch(conn, runs)
                }),
        )
    }

    fn recent_runs(
        &self,
        space: &str,
        id: &PieceId,
        limit: usize,
    ) -> StoreFuture<'_, Vec<RunRecord>> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(self.connections.read("reading run history", move |conn| {
            runs::recent(conn, &space, &id, limit)
        }))
    }

    fn recent_run_times(
        &self,
        space: &str,
        id: &PieceId,
        limit: usize,
    ) -> StoreFuture<'_, Vec<RunTime>> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(self.connections.read("reading run times", move |conn| {
            runs::recent_times(conn, &space, &id, limit)
        }))
    }

    fn run_record(
        &self,
        space: &str,
        id: &PieceId,
        run_id: i64,
    ) -> StoreFuture<'_, Option<RecordedRun>> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(
            self.connections
                .read("reading a run's record", move |conn| {
                    runs::recorded(conn, &space, &id, run_id)
                }),
        )
    }

    fn list_cells(&self, space: &str) -> StoreFuture<'_, Vec<(String, String)>> {
        let space = space.to_owned();
        Box::pin(
            self.connections
                .read("listing cells", move |conn| cells::list(conn, &space)),
        )
    }

    fn get_cell(&self, space: &str, key: &str) -> StoreFuture<'_, Option<String>> {
        let (space, key) = (space.to_owned(), key.to_owned());
        Box::pin(
            self.connections
                .read("reading a cell", move |conn| cells::get(conn, &space, &key)),
        )
    }

    fn cell_source(&self, space: &str) -> Arc<dyn CellSource> {
        Arc::new(SqliteCells {
            readers: Arc::clone(&self.connections.readers),
            space: space.to_owned(),
        })
    }

    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        Box::pin(self.connections.read("counting", counts))
    }

    fn count_by_phase(&self) -> StoreFuture<'_, PhaseCounts> {
        Box::pin(self.connections.read(
            "counting registrations by phase",
            registrations::count_by_phase,
        ))
    }
}
