//! The embedded store: one SQLite database, `<data-dir>/bgwasm.sqlite3`.
//!
//! Each [`Store`] method is one transaction; read-modify-write methods take
//! the write lock up front (`BEGIN IMMEDIATE`) so they never fail half-way on
//! a busy database. See `connections` for threading and `schema` for
//! durability settings.

use super::connections::{Connections, ReaderPool, Writer};
use super::error::{SqliteContext, StoreError};
use super::records::{
    AddedPiece, ClaimedRun, CommittedRun, FinishedRun, IntegrationFilter, PieceInfo,
    RegistrationFilter, RunRecord, RunTransition, RunTrigger, StoreCounts, StoredPiece,
};
use super::registration::{
    ClaimToken, EpochMillis, Phase, Registration, RegistrationKey, RegistrationState,
};
use super::sqlite_cells::SqliteCells;
use super::{PieceId, Store, StoreFuture, source_hash};
use crate::sandbox::{CellSource, RunOutcome};
use rusqlite::types::{ToSql, Type};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
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
}

const REGISTRATION_COLUMNS: &str = "space, piece_id, integration, created_at, updated_at, \
    disabled_at, last_run, status, last_success, consecutive_failures, last_error, next_run, \
    total_runs, total_failures, last_duration_ms, last_fuel, phase, claimed_at";

fn conversion_error(column: usize, reason: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, Type::Text, reason.into())
}

fn piece_id_at(row: &Row<'_>, column: usize) -> rusqlite::Result<PieceId> {
    let raw: String = row.get(column)?;
    PieceId::parse(&raw).map_err(|e| conversion_error(column, e.to_string()))
}

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn registration_from_row(row: &Row<'_>) -> rusqlite::Result<Registration> {
    let phase: String = row.get(16)?;
    let phase = Phase::parse(&phase)
        .ok_or_else(|| conversion_error(16, format!("unknown phase {phase:?}")))?;
    Ok(Registration {
        space: row.get(0)?,
        piece_id: piece_id_at(row, 1)?,
        integration: row.get(2)?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
        state: RegistrationState {
            disabled_at: row.get(5)?,
            last_run: row.get(6)?,
            status: row.get(7)?,
            last_success: row.get(8)?,
            consecutive_failures: u32::try_from(row.get::<_, i64>(9)?).unwrap_or(u32::MAX),
            last_error: row.get(10)?,
            next_run: row.get(11)?,
            total_runs: unsigned(row.get(12)?),
            total_failures: unsigned(row.get(13)?),
            last_duration_ms: row.get::<_, Option<i64>>(14)?.map(unsigned),
            last_fuel: row.get::<_, Option<i64>>(15)?.map(unsigned),
            phase,
            claimed_at: row.get(17)?,
        },
    })
}

fn load_registration(
    conn: &Connection,
    key: &RegistrationKey,
) -> Result<Option<Registration>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {REGISTRATION_COLUMNS} FROM registrations WHERE space = ?1 AND piece_id = ?2"
    ))
    .context("reading a registration")?
    .query_row(
        params![key.space, key.piece_id.as_str()],
        registration_from_row,
    )
    .optional()
    .context("reading a registration")
}

/// Writes a registration's state (the row must exist).
fn store_state(
    tx: &Transaction<'_>,
    key: &RegistrationKey,
    state: &RegistrationState,
    now: EpochMillis,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE registrations SET updated_at = ?3, disabled_at = ?4, last_run = ?5, status = ?6,
            last_success = ?7, consecutive_failures = ?8, last_error = ?9, next_run = ?10,
            total_runs = ?11, total_failures = ?12, last_duration_ms = ?13, last_fuel = ?14,
            phase = ?15, claimed_at = ?16
         WHERE space = ?1 AND piece_id = ?2",
    )
    .context("updating a registration")?
    .execute(params![
        key.space,
        key.piece_id.as_str(),
        now,
        state.disabled_at,
        state.last_run,
        state.status,
        state.last_success,
        i64::from(state.consecutive_failures),
        state.last_error,
        state.next_run,
        signed(state.total_runs),
        signed(state.total_failures),
        state.last_duration_ms.map(signed),
        state.last_fuel.map(signed),
        state.phase.as_str(),
        state.claimed_at,
    ])
    .context("updating a registration")?;
    Ok(())
}

/// Reads, transforms and writes back one registration, in one transaction.
fn update_registration(
    conn: &mut Connection,
    key: &RegistrationKey,
    now: EpochMillis,
    change: impl FnOnce(&RegistrationState) -> RegistrationState,
) -> Result<Registration, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting a registration update")?;
    let Some(mut registration) = load_registration(&tx, key)? else {
        return Err(StoreError::NotRegistered {
            space: key.space.clone(),
            piece_id: key.piece_id.clone(),
        });
    };
    registration.state = change(&registration.state);
    registration.updated_at = now;
    store_state(&tx, key, &registration.state, now)?;
    tx.commit().context("committing a registration update")?;
    Ok(registration)
}

fn piece_info_from_row(row: &Row<'_>) -> rusqlite::Result<PieceInfo> {
    Ok(PieceInfo {
        space: row.get(0)?,
        id: piece_id_at(row, 1)?,
        hash: row.get(2)?,
        source_bytes: unsigned(row.get(3)?),
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

const PIECE_INFO_COLUMNS: &str =
    "space, id, hash, length(CAST(source AS BLOB)), created_at, updated_at";

fn load_piece_info(
    conn: &Connection,
    space: &str,
    id: &PieceId,
) -> Result<Option<PieceInfo>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {PIECE_INFO_COLUMNS} FROM pieces WHERE space = ?1 AND id = ?2"
    ))
    .context("reading a piece")?
    .query_row(params![space, id.as_str()], piece_info_from_row)
    .optional()
    .context("reading a piece")
}

/// `AND integration IN (?, ...)` for a filter, numbering parameters from
/// `first`, with the values to bind.
fn integration_clause(filter: &IntegrationFilter, first: usize) -> (String, Vec<String>) {
    match filter.names() {
        None => (String::new(), Vec::new()),
        Some(names) => {
            let placeholders: Vec<String> = (first..first + names.len())
                .map(|i| format!("?{i}"))
                .collect();
            (
                format!(" AND integration IN ({})", placeholders.join(", ")),
                names.to_vec(),
            )
        }
    }
}

fn keys_from(
    rows: rusqlite::Result<Vec<(String, String)>>,
    context: &'static str,
) -> Result<Vec<RegistrationKey>, StoreError> {
    rows.context(context)?
        .into_iter()
        .map(|(space, id)| Ok(RegistrationKey::new(space, PieceId::parse(&id)?)))
        .collect()
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let trigger: String = row.get(3)?;
    let outcome: String = row.get(6)?;
    Ok(RunRecord {
        id: row.get(0)?,
        space: row.get(1)?,
        piece_id: piece_id_at(row, 2)?,
        trigger: RunTrigger::parse(&trigger)
            .ok_or_else(|| conversion_error(3, format!("unknown trigger {trigger:?}")))?,
        started_at: row.get(4)?,
        finished_at: row.get(5)?,
        outcome: serde_json::from_str::<RunOutcome>(&outcome)
            .map_err(|e| conversion_error(6, e.to_string()))?,
    })
}

fn commit_run_in(
    conn: &mut Connection,
    run: FinishedRun,
    transition: RunTransition,
) -> Result<CommittedRun, StoreError> {
    let outcome_json = serde_json::to_string(&run.outcome).map_err(|e| StoreError::Corrupt {
        what: "run outcome",
        reason: e.to_string(),
    })?;
    let key = &run.key;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting a run commit")?;
    tx.prepare_cached(
        "INSERT INTO runs (space, piece_id, trigger, started_at, finished_at, ok, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .context("recording a run")?
    .execute(params![
        key.space,
        key.piece_id.as_str(),
        run.trigger.as_str(),
        run.started_at,
        run.finished_at,
        run.outcome.ok,
        outcome_json
    ])
    .context("recording a run")?;
    let run_id = tx.last_insert_rowid();
    tx.prepare_cached(
        "DELETE FROM runs WHERE space = ?1 AND piece_id = ?2 AND id <= (
            SELECT id FROM runs WHERE space = ?1 AND piece_id = ?2
            ORDER BY id DESC LIMIT 1 OFFSET ?3)",
    )
    .context("pruning run history")?
    .execute(params![
        key.space,
        key.piece_id.as_str(),
        RUN_HISTORY_PER_PIECE as i64
    ])
    .context("pruning run history")?;

    // A failed run's writes are dropped whole: the cells stay as they were.
    let cells_applied = run.outcome.ok;
    if cells_applied {
        let mut upsert = tx
            .prepare_cached("INSERT OR REPLACE INTO cells (space, key, json) VALUES (?1, ?2, ?3)")
            .context("writing a cell")?;
        let mut delete = tx
            .prepare_cached("DELETE FROM cells WHERE space = ?1 AND key = ?2")
            .context("deleting a cell")?;
        for change in &run.cell_changes {
            match &change.value {
                Some(json) => upsert
                    .execute(params![key.space, change.key, json])
                    .context("writing a cell")?,
                None => delete
                    .execute(params![key.space, change.key])
                    .context("deleting a cell")?,
            };
        }
    }

    // Only an existing registration is updated: an unregistered piece's run
    // is recorded but does not bring the registration back.
    let mut disabled_by_this_run = false;
    let registration = match load_registration(&tx, key)? {
        None => None,
        Some(mut registration) => {
            let before = registration.state;
            registration.state = transition(&before).committed_by(&before, run.claim);
            registration.updated_at = run.finished_at;
            disabled_by_this_run = before.is_enabled() && !registration.state.is_enabled();
            store_state(&tx, key, &registration.state, run.finished_at)?;
            Some(registration)
        }
    };
    tx.commit().context("committing a run")?;
    Ok(CommittedRun {
        run_id,
        cells_applied,
        registration,
        disabled_by_this_run,
    })
}

impl Store for SqliteStore {
    fn add_piece(
        &self,
        space: &str,
        id: Option<PieceId>,
        source: Arc<str>,
        now: EpochMillis,
    ) -> StoreFuture<'_, AddedPiece> {
        let space = space.to_owned();
        Box::pin(self.connections.write("adding a piece", move |conn| {
            let id = id.unwrap_or_else(|| PieceId::for_source(&source));
            let hash = source_hash(&source);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("starting to add a piece")?;
            if let Some(existing) = load_piece_info(&tx, &space, &id)? {
                if existing.hash != hash {
                    return Err(StoreError::PieceIdTaken {
                        space,
                        piece_id: id,
                    });
                }
                return Ok(AddedPiece {
                    info: existing,
                    created: false,
                });
            }
            tx.execute(
                "INSERT INTO pieces (space, id, source, hash, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![space, id.as_str(), &*source, hash, now],
            )
            .context("adding a piece")?;
            let info = load_piece_info(&tx, &space, &id)?.ok_or_else(|| StoreError::Corrupt {
                what: "piece",
                reason: "vanished after insert".into(),
            })?;
            tx.commit().context("committing a new piece")?;
            Ok(AddedPiece {
                info,
                created: true,
            })
        }))
    }

    fn replace_piece(
        &self,
        space: &str,
        id: &PieceId,
        source: Arc<str>,
        now: EpochMillis,
    ) -> StoreFuture<'_, PieceInfo> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(self.connections.write("replacing a piece", move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("starting to replace a piece")?;
            let changed = tx
                .execute(
                    "UPDATE pieces SET source = ?3, hash = ?4, updated_at = ?5 WHERE space = ?1 AND id = ?2",
                    params![space, id.as_str(), &*source, source_hash(&source), now],
                )
                .context("replacing a piece")?;
            if changed == 0 {
                return Err(StoreError::PieceNotFound { space, piece_id: id });
            }
            let info = load_piece_info(&tx, &space, &id)?
                .ok_or_else(|| StoreError::Corrupt { what: "piece", reason: "vanished after update".into() })?;
            tx.commit().context("committing a replaced piece")?;
            Ok(info)
        }))
    }

    fn get_piece(&self, space: &str, id: &PieceId) -> StoreFuture<'_, Option<StoredPiece>> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(self.connections.read("reading a piece", move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {PIECE_INFO_COLUMNS}, source FROM pieces WHERE space = ?1 AND id = ?2"
            ))
            .context("reading a piece")?
            .query_row(params![space, id.as_str()], |row| {
                let source: String = row.get(6)?;
                Ok(StoredPiece {
                    info: piece_info_from_row(row)?,
                    source: source.into(),
                })
            })
            .optional()
            .context("reading a piece")
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
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("starting a registration")?;
            if load_piece_info(&tx, &key.space, &key.piece_id)?.is_none() {
                return Err(StoreError::PieceNotFound { space: key.space, piece_id: key.piece_id });
            }
            let registration = match load_registration(&tx, &key)? {
                Some(existing) => {
                    let state = existing.state.reinitialized(now);
                    store_state(&tx, &key, &state, now)?;
                    tx.execute(
                        "UPDATE registrations SET integration = ?3 WHERE space = ?1 AND piece_id = ?2",
                        params![key.space, key.piece_id.as_str(), integration],
                    )
                    .context("updating a registration's integration")?;
                    Registration { integration, updated_at: now, state, ..existing }
                }
                None => {
                    let state = RegistrationState::initializing(now);
                    tx.execute(
                        "INSERT INTO registrations (space, piece_id, integration, created_at, updated_at,
                            status, next_run, phase)
                         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)",
                        params![
                            key.space,
                            key.piece_id.as_str(),
                            integration,
                            now,
                            state.status,
                            state.next_run,
                            state.phase.as_str()
                        ],
                    )
                    .context("creating a registration")?;
                    Registration {
                        space: key.space.clone(),
                        piece_id: key.piece_id.clone(),
                        integration,
                        created_at: now,
                        updated_at: now,
                        state,
                    }
                }
            };
            tx.commit().context("committing a registration")?;
            Ok(registration)
        }))
    }

    fn enable(&self, key: &RegistrationKey, now: EpochMillis) -> StoreFuture<'_, Registration> {
        let key = key.clone();
        Box::pin(
            self.connections
                .write("enabling a registration", move |conn| {
                    update_registration(conn, &key, now, |state| state.reinitialized(now))
                }),
        )
    }

    fn disable(&self, key: &RegistrationKey, now: EpochMillis) -> StoreFuture<'_, Registration> {
        let key = key.clone();
        Box::pin(
            self.connections
                .write("disabling a registration", move |conn| {
                    update_registration(conn, &key, now, |state| state.disabled_via_ui(now))
                }),
        )
    }

    fn unregister(&self, key: &RegistrationKey) -> StoreFuture<'_, bool> {
        let key = key.clone();
        Box::pin(
            self.connections
                .write("unregistering a piece", move |conn| {
                    let deleted = conn
                        .execute(
                            "DELETE FROM registrations WHERE space = ?1 AND piece_id = ?2",
                            params![key.space, key.piece_id.as_str()],
                        )
                        .context("unregistering a piece")?;
                    Ok(deleted > 0)
                }),
        )
    }

    fn get_registration(&self, key: &RegistrationKey) -> StoreFuture<'_, Option<Registration>> {
        let key = key.clone();
        Box::pin(
            self.connections
                .read("reading a registration", move |conn| {
                    load_registration(conn, &key)
                }),
        )
    }

    fn list_registrations(
        &self,
        filter: &RegistrationFilter,
    ) -> StoreFuture<'_, Vec<Registration>> {
        let filter = filter.clone();
        Box::pin(self.connections.read("listing registrations", move |conn| {
            let (integration_sql, names) = integration_clause(&filter.integrations, 2);
            let sql = format!(
                "SELECT {REGISTRATION_COLUMNS} FROM registrations
                 WHERE (?1 IS NULL OR space = ?1){integration_sql} ORDER BY space, piece_id"
            );
            let mut values: Vec<&dyn ToSql> = vec![&filter.space];
            values.extend(names.iter().map(|n| n as &dyn ToSql));
            let mut stmt = conn.prepare_cached(&sql).context("listing registrations")?;
            let rows = stmt
                .query_map(values.as_slice(), registration_from_row)
                .context("listing registrations")?
                .collect::<rusqlite::Result<Vec<_>>>()
                .context("listing registrations")?;
            Ok(rows)
        }))
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
                    let tx = conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .context("starting to claim due registrations")?;
                    let (integration_sql, names) = integration_clause(&integrations, 3);
                    let sql = format!(
                        "SELECT space, piece_id, next_run FROM registrations
                 WHERE phase = 'scheduled' AND next_run <= ?1{integration_sql}
                 ORDER BY next_run LIMIT ?2"
                    );
                    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                    let mut values: Vec<&dyn ToSql> = vec![&now, &limit];
                    values.extend(names.iter().map(|n| n as &dyn ToSql));
                    let due = {
                        let mut stmt = tx
                            .prepare_cached(&sql)
                            .context("finding due registrations")?;
                        stmt.query_map(values.as_slice(), |row| {
                            Ok((
                                row.get::<_, String>(0)?,
                                piece_id_at(row, 1)?,
                                row.get::<_, i64>(2)?,
                            ))
                        })
                        .context("finding due registrations")?
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .context("finding due registrations")?
                    };
                    let mut claimed = Vec::with_capacity(due.len());
                    {
                        let mut claim = tx
                            .prepare_cached(
                                "UPDATE registrations SET phase = 'dispatched', claimed_at = ?3
                         WHERE space = ?1 AND piece_id = ?2",
                            )
                            .context("claiming a registration")?;
                        for (space, piece_id, due_at) in due {
                            claim
                                .execute(params![space, piece_id.as_str(), now])
                                .context("claiming a registration")?;
                            claimed.push(ClaimedRun {
                                key: RegistrationKey::new(space, piece_id),
                                claim: ClaimToken(now),
                                due_at,
                            });
                        }
                    }
                    tx.commit().context("committing claims")?;
                    Ok(claimed)
                }),
        )
    }

    fn next_due(&self, integrations: &IntegrationFilter) -> StoreFuture<'_, Option<EpochMillis>> {
        let integrations = integrations.clone();
        Box::pin(self.connections.read("finding the next due time", move |conn| {
            let (integration_sql, names) = integration_clause(&integrations, 1);
            let sql = format!("SELECT min(next_run) FROM registrations WHERE phase = 'scheduled'{integration_sql}");
            let values: Vec<&dyn ToSql> = names.iter().map(|n| n as &dyn ToSql).collect();
            conn.prepare_cached(&sql)
                .context("finding the next due time")?
                .query_row(values.as_slice(), |row| row.get(0))
                .context("finding the next due time")
        }))
    }

    fn release_claim(&self, key: &RegistrationKey, claim: ClaimToken) -> StoreFuture<'_, ()> {
        let key = key.clone();
        Box::pin(self.connections.write("releasing a claim", move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .context("starting to release a claim")?;
            if let Some(registration) = load_registration(&tx, &key)?
                && registration.state.is_claimed_by(claim)
            {
                store_state(
                    &tx,
                    &key,
                    &registration.state.released(),
                    registration.updated_at,
                )?;
            }
            tx.commit().context("committing a released claim")
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
                    let tx = conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .context("starting recovery")?;
                    let (integration_sql, names) = integration_clause(&integrations, 1);
                    let values: Vec<&dyn ToSql> = names.iter().map(|n| n as &dyn ToSql).collect();
                    let released = tx
                        .execute(
                            &format!(
                                "UPDATE registrations
                         SET phase = CASE WHEN disabled_at = 0 THEN 'scheduled' ELSE 'disabled' END,
                             claimed_at = NULL
                         WHERE phase = 'dispatched'{integration_sql}"
                            ),
                            values.as_slice(),
                        )
                        .context("releasing orphaned claims")?;
                    if released > 0 {
                        tracing::info!(
                            released,
                            "released the claims of runs a previous daemon left unfinished"
                        );
                    }
                    let (integration_sql, names) = integration_clause(&integrations, 2);
                    let mut values: Vec<&dyn ToSql> = vec![&now];
                    values.extend(names.iter().map(|n| n as &dyn ToSql));
                    let overdue = {
                        let mut stmt = tx
                            .prepare(&format!(
                                "SELECT space, piece_id FROM registrations
                         WHERE phase = 'scheduled' AND next_run < ?1{integration_sql}
                         ORDER BY space, piece_id"
                            ))
                            .context("finding overdue registrations")?;
                        let rows = stmt
                            .query_map(values.as_slice(), |row| Ok((row.get(0)?, row.get(1)?)))
                            .context("finding overdue registrations")?
                            .collect::<rusqlite::Result<Vec<_>>>();
                        keys_from(rows, "finding overdue registrations")?
                    };
                    tx.commit().context("committing recovery")?;
                    Ok(overdue)
                }),
        )
    }

    fn reschedule(&self, due: Vec<(RegistrationKey, EpochMillis)>) -> StoreFuture<'_, ()> {
        Box::pin(
            self.connections
                .write("rescheduling registrations", move |conn| {
                    let tx = conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .context("starting to reschedule")?;
                    {
                        let mut stmt = tx
                            .prepare_cached(
                                "UPDATE registrations SET next_run = ?3
                         WHERE space = ?1 AND piece_id = ?2 AND phase = 'scheduled'",
                            )
                            .context("rescheduling a registration")?;
                        for (key, at) in &due {
                            stmt.execute(params![key.space, key.piece_id.as_str(), at])
                                .context("rescheduling a registration")?;
                        }
                    }
                    tx.commit().context("committing new due times")
                }),
        )
    }

    fn commit_run(
        &self,
        run: FinishedRun,
        transition: RunTransition,
    ) -> StoreFuture<'_, CommittedRun> {
        Box::pin(self.connections.write("committing a run", move |conn| {
            commit_run_in(conn, run, transition)
        }))
    }

    fn recent_runs(
        &self,
        space: &str,
        id: &PieceId,
        limit: usize,
    ) -> StoreFuture<'_, Vec<RunRecord>> {
        let (space, id) = (space.to_owned(), id.clone());
        Box::pin(self.connections.read("reading run history", move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, space, piece_id, trigger, started_at, finished_at, outcome FROM runs
                     WHERE space = ?1 AND piece_id = ?2 ORDER BY id DESC LIMIT ?3",
                )
                .context("reading run history")?;
            let runs = stmt
                .query_map(
                    params![space, id.as_str(), i64::try_from(limit).unwrap_or(i64::MAX)],
                    run_from_row,
                )
                .context("reading run history")?
                .collect::<rusqlite::Result<Vec<_>>>()
                .context("reading run history")?;
            Ok(runs)
        }))
    }

    fn list_cells(&self, space: &str) -> StoreFuture<'_, Vec<(String, String)>> {
        let space = space.to_owned();
        Box::pin(self.connections.read("listing cells", move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT key, json FROM cells WHERE space = ?1 ORDER BY key")
                .context("listing cells")?;
            let cells = stmt
                .query_map(params![space], |row| Ok((row.get(0)?, row.get(1)?)))
                .context("listing cells")?
                .collect::<rusqlite::Result<Vec<_>>>()
                .context("listing cells")?;
            Ok(cells)
        }))
    }

    fn get_cell(&self, space: &str, key: &str) -> StoreFuture<'_, Option<String>> {
        let cells = self.cell_source(space);
        let key = key.to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || cells.get(&key))
                .await
                .map_err(|_| StoreError::TaskFailed {
                    context: "reading a cell",
                })?
                .map_err(|reason| StoreError::Corrupt {
                    what: "cell",
                    reason,
                })
        })
    }

    fn cell_source(&self, space: &str) -> Arc<dyn CellSource> {
        Arc::new(SqliteCells {
            readers: Arc::clone(&self.connections.readers),
            space: space.to_owned(),
        })
    }

    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        Box::pin(self.connections.read("counting", |conn| {
            conn.query_row(
                "SELECT
                    (SELECT count(DISTINCT space) FROM pieces),
                    (SELECT count(*) FROM pieces),
                    (SELECT count(*) FROM registrations),
                    (SELECT count(*) FROM registrations WHERE disabled_at = 0),
                    (SELECT count(*) FROM registrations WHERE phase = 'dispatched'),
                    (SELECT count(*) FROM runs),
                    (SELECT count(*) FROM cells)",
                [],
                |row| {
                    Ok(StoreCounts {
                        spaces: unsigned(row.get(0)?),
                        pieces: unsigned(row.get(1)?),
                        registrations: unsigned(row.get(2)?),
                        enabled: unsigned(row.get(3)?),
                        dispatched: unsigned(row.get(4)?),
                        runs: unsigned(row.get(5)?),
                        cells: unsigned(row.get(6)?),
                    })
                },
            )
            .context("counting")
        }))
    }
}
