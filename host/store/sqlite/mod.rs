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
mod checkpointer;
mod connections;
mod due_index;
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
use due_index::DueIndex;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

/// The database's file name inside the data directory.
pub const DATABASE_FILE: &str = "bgwasm.sqlite3";

/// Runs kept per piece; older ones are deleted as new ones commit.
pub const RUN_HISTORY_PER_PIECE: usize = 50;

/// The embedded SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    connections: Arc<Connections>,
    /// The schedule in memory, and this process's claims (see `due_index`).
    index: Arc<DueIndex>,
    /// The writer's `PRAGMA data_version` when the index last agreed with
    /// the database (see `DueIndex::sync`).
    seen_version: Arc<AtomicI64>,
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
        let (index, version) = writer.with(|conn| {
            Ok((
                DueIndex::shared(&path, conn)?,
                due_index::data_version(conn)?,
            ))
        })?;
        let readers = Arc::new(ReaderPool::new(path.clone()));
        tracing::info!(path = %path.display(), "opened the store");
        Ok(Self {
            connections: Arc::new(Connections { writer, readers }),
            index,
            seen_version: Arc::new(AtomicI64::new(version)),
            path,
        })
    }

    /// Runs a write on a blocking thread, with the schedule in memory: it is
    /// first brought up to date if another connection wrote meanwhile.
    async fn write<T: Send + 'static>(
        &self,
        context: &'static str,
        f: impl FnOnce(&mut Connection, &DueIndex) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (index, seen) = (Arc::clone(&self.index), Arc::clone(&self.seen_version));
        self.connections
            .write(context, move |conn| {
                index.sync(conn, &seen)?;
                f(conn, &index)
            })
            .await
    }

    /// Brings the schedule in memory up to date if another connection wrote
    /// to the database, unless a write holds the writer now (that write
    /// does it).
    fn sync_if_idle(&self) -> Result<(), StoreError> {
        self.connections
            .writer
            .try_with(|conn| self.index.sync(conn, &self.seen_version))
            .unwrap_or(Ok(()))
    }

    /// Whether the schedule in memory agrees with the database (for tests).
    #[cfg(test)]
    pub(crate) fn index_agrees(&self) -> Result<(), String> {
        self.connections
            .writer
            .with(|conn| Ok(self.index.agrees_with(conn)))
            .map_err(|e| e.to_string())?
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Everything the store holds (for `store migrate`), read in one
    /// transaction so the rows agree with each other.
    pub async fn export(&self) -> Result<Snapshot, StoreError> {
        let index = Arc::clone(&self.index);
        self.connections
            .read("reading the whole store", move |conn| {
                let tx = conn
                    .unchecked_transaction()
                    .context("reading the whole store")?;
                let mut registrations = registrations::list(&tx, &RegistrationFilter::default())?;
                index.overlay_all(&mut registrations);
                let snapshot = Snapshot {
                    pieces: pieces::all(&tx)?,
                    registrations,
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
        Box::pin(self.write("adding a piece", move |conn, _| {
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
        Box::pin(self.write("replacing a piece", move |conn, index| {
            let info = pieces::replace(conn, &space, &id, &source, now)?;
            index.source_changed(&RegistrationKey::new(space, id), &info.hash);
            Ok(info)
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
        Box::pin(self.write("registering a piece", move |conn, index| {
            registrations::register(conn, index, &key, &integration, now)
        }))
    }

    fn enable(&self, key: &RegistrationKey, now: EpochMillis) -> StoreFuture<'_, Registration> {
        let key = key.clone();
        Box::pin(self.write("enabling a registration", move |conn, index| {
            registrations::update(conn, index, &key, now, |state| state.reinitialized(now))
        }))
    }

    fn disable(&self, key: &RegistrationKey, now: EpochMillis) -> StoreFuture<'_, Registration> {
        let key = key.clone();
        Box::pin(self.write("disabling a registration", move |conn, index| {
            registrations::update(conn, index, &key, now, |state| state.disabled_via_ui(now))
        }))
    }

    fn unregister(&self, key: &RegistrationKey) -> StoreFuture<'_, bool> {
        let key = key.clone();
        Box::pin(self.write("unregistering a piece", move |conn, index| {
            let deleted = registrations::unregister(conn, &key)?;
            index.removed(&key);
            Ok(deleted)
        }))
    }

    fn get_registration(&self, key: &RegistrationKey) -> StoreFuture<'_, Option<Registration>> {
        let (key, index) = (key.clone(), Arc::clone(&self.index));
        Box::pin(
            self.connections
                .read("reading a registration", move |conn| {
                    let mut registration = registrations::get(conn, &key)?;
                    if let Some(registration) = &mut registration {
                        index.overlay(registration);
                    }
                    Ok(registration)
                }),
        )
    }

    fn list_registrations(
        &self,
        filter: &RegistrationFilter,
    ) -> StoreFuture<'_, Vec<Registration>> {
        let (filter, index) = (filter.clone(), Arc::clone(&self.index));
        Box::pin(self.connections.read("listing registrations", move |conn| {
            let mut all = registrations::list(conn, &filter)?;
            index.overlay_all(&mut all);
            Ok(all)
        }))
    }

    fn list_registrations_page(
        &self,
        filter: &RegistrationFilter,
        offset: usize,
        limit: usize,
    ) -> StoreFuture<'_, RegistrationPage> {
        let (filter, index) = (filter.clone(), Arc::clone(&self.index));
        Box::pin(
            self.connections
                .read("listing a page of registrations", move |conn| {
                    let mut page = registrations::page(conn, &filter, offset, limit)?;
                    index.overlay_all(&mut page.registrations);
                    Ok(page)
                }),
        )
    }

    fn claim_due(
        &self,
        now: EpochMillis,
        integrations: &IntegrationFilter,
        limit: usize,
    ) -> StoreFuture<'_, Vec<ClaimedRun>> {
        // In memory: no query, no write (see `due_index`).
        let claimed = self
            .sync_if_idle()
            .and_then(|()| self.index.claim_due(now, integrations, limit));
        Box::pin(std::future::ready(claimed))
    }

    fn next_due(&self, integrations: &IntegrationFilter) -> StoreFuture<'_, Option<EpochMillis>> {
        let next = self
            .sync_if_idle()
            .map(|()| self.index.next_due(integrations));
        Box::pin(std::future::ready(next))
    }

    fn release_claim(&self, key: &RegistrationKey, claim: ClaimToken) -> StoreFuture<'_, ()> {
        let key = key.clone();
        Box::pin(self.write("releasing a claim", move |conn, index| {
            schedule::release_claim(conn, index, &key, claim)
        }))
    }

    fn recover_after_restart(
        &self,
        now: EpochMillis,
        integrations: &IntegrationFilter,
    ) -> StoreFuture<'_, Vec<RegistrationKey>> {
        let integrations = integrations.clone();
        Box::pin(
            self.write("recovering after a restart", move |conn, index| {
                index.hold_schedule_lock()?;
                schedule::recover_after_restart(conn, index, now, &integrations)
            }),
        )
    }

    fn reschedule(&self, due: Vec<(RegistrationKey, EpochMillis)>) -> StoreFuture<'_, ()> {
        Box::pin(
            self.write("rescheduling registrations", move |conn, index| {
                schedule::reschedule(conn, index, &due)
            }),
        )
    }

    fn commit_run(
        &self,
        run: FinishedRun,
        transition: RunTransition,
    ) -> StoreFuture<'_, CommittedRun> {
        Box::pin(self.write("committing a run", move |conn, index| {
            runs::commit(conn, index, run, transition)
        }))
    }

    fn commit_runs(&self, runs: Vec<(FinishedRun, RunTransition)>) -> StoreFuture<'_, BatchCommit> {
        Box::pin(
            self.write("committing a group of runs", move |conn, index| {
                runs::commit_batch(conn, index, runs)
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
        let index = Arc::clone(&self.index);
        Box::pin(self.connections.read("counting", move |conn| {
            let mut counts = counts(conn)?;
            index.correct_counts(&mut counts);
            Ok(counts)
        }))
    }

    fn count_by_phase(&self) -> StoreFuture<'_, PhaseCounts> {
        let index = Arc::clone(&self.index);
        Box::pin(
            self.connections
                .read("counting registrations by phase", move |conn| {
                    let mut counts = registrations::count_by_phase(conn)?;
                    index.correct_phase_counts(&mut counts);
                    Ok(counts)
                }),
        )
    }
}
