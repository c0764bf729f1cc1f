//! The `registrations` table: which pieces run, and the persisted state of
//! each (see `store/registration.rs` for its state machine).

use super::due_index::DueIndex;
use super::{pieces, rows};
use crate::store::error::{SqliteContext, StoreError};
use crate::store::{
    EpochMillis, IntegrationFilter, Phase, PhaseCounts, Registration, RegistrationFilter,
    RegistrationKey, RegistrationPage, RegistrationState,
};
use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, named_params};

pub const COLUMNS: &str = "space, piece_id, integration, created_at, updated_at, disabled_at, \
    last_run, status, last_success, consecutive_failures, last_error, next_run, total_runs, \
    total_failures, last_duration_ms, last_fuel, phase, claimed_at";

pub fn from_row(row: &Row<'_>) -> rusqlite::Result<Registration> {
    Ok(Registration {
        space: row.get("space")?,
        piece_id: rows::piece_id(row, "piece_id")?,
        integration: row.get("integration")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        state: RegistrationState {
            disabled_at: row.get("disabled_at")?,
            last_run: row.get("last_run")?,
            status: row.get("status")?,
            last_success: row.get("last_success")?,
            consecutive_failures: u32::try_from(row.get::<_, i64>("consecutive_failures")?)
                .unwrap_or(u32::MAX),
            last_error: row.get("last_error")?,
            next_run: row.get("next_run")?,
            total_runs: rows::unsigned(row, "total_runs")?,
            total_failures: rows::unsigned(row, "total_failures")?,
            last_duration_ms: rows::unsigned_or_null(row, "last_duration_ms")?,
            last_fuel: rows::unsigned_or_null(row, "last_fuel")?,
            phase: rows::parsed(row, "phase", |text| {
                Phase::parse(text).ok_or_else(|| format!("unknown phase {text:?}"))
            })?,
            claimed_at: row.get("claimed_at")?,
        },
        // One daemon per SQLite store: no other node to name.
        claimed_by: None,
    })
}

/// A registration, if there is one.
pub fn get(conn: &Connection, key: &RegistrationKey) -> Result<Option<Registration>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM registrations WHERE space = :space AND piece_id = :piece_id"
    ))
    .context("reading a registration")?
    .query_row(
        named_params! { ":space": key.space, ":piece_id": key.piece_id.as_str() },
        from_row,
    )
    .optional()
    .context("reading a registration")
}

/// Writes a registration's state (the row must exist).
pub fn store_state(
    conn: &Connection,
    key: &RegistrationKey,
    state: &RegistrationState,
    now: EpochMillis,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE registrations SET updated_at = :now, disabled_at = :disabled_at,
            last_run = :last_run, status = :status, last_success = :last_success,
            consecutive_failures = :consecutive_failures, last_error = :last_error,
            next_run = :next_run, total_runs = :total_runs, total_failures = :total_failures,
            last_duration_ms = :last_duration_ms, last_fuel = :last_fuel, phase = :phase,
            claimed_at = :claimed_at
         WHERE space = :space AND piece_id = :piece_id",
    )
    .context("updating a registration")?
    .execute(named_params! {
        ":space": key.space,
        ":piece_id": key.piece_id.as_str(),
        ":now": now,
        ":disabled_at": state.disabled_at,
        ":last_run": state.last_run,
        ":status": state.status,
        ":last_success": state.last_success,
        ":consecutive_failures": i64::from(state.consecutive_failures),
        ":last_error": state.last_error,
        ":next_run": state.next_run,
        ":total_runs": rows::signed(state.total_runs),
        ":total_failures": rows::signed(state.total_failures),
        ":last_duration_ms": state.last_duration_ms.map(rows::signed),
        ":last_fuel": state.last_fuel.map(rows::signed),
        ":phase": state.phase.as_str(),
        ":claimed_at": state.claimed_at,
    })
    .context("updating a registration")?;
    Ok(())
}

/// Reads, transforms and writes back one registration, in one transaction.
pub fn update(
    conn: &mut Connection,
    index: &DueIndex,
    key: &RegistrationKey,
    now: EpochMillis,
    change: impl FnOnce(&RegistrationState) -> RegistrationState,
) -> Result<Registration, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting a registration update")?;
    let Some(mut registration) = get(&tx, key)? else {
        return Err(StoreError::NotRegistered {
            space: key.space.clone(),
            piece_id: key.piece_id.clone(),
        });
    };
    index.overlay(&mut registration);
    registration.state = change(&registration.state);
    registration.updated_at = now;
    store_state(&tx, key, &registration.state, now)?;
    tx.commit().context("committing a registration update")?;
    index.wrote(&registration, None);
    Ok(registration)
}

/// Registers a piece (it must exist); registering again re-initialises it
/// and takes the new integration label.
pub fn register(
    conn: &mut Connection,
    index: &DueIndex,
    key: &RegistrationKey,
    integration: &str,
    now: EpochMillis,
) -> Result<Registration, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting a registration")?;
    let Some(piece) = pieces::info(&tx, &key.space, &key.piece_id)? else {
        return Err(StoreError::PieceNotFound {
            space: key.space.clone(),
            piece_id: key.piece_id.clone(),
        });
    };
    let registration = match get(&tx, key)? {
        Some(mut existing) => {
            index.overlay(&mut existing);
            let state = existing.state.reinitialized(now);
            store_state(&tx, key, &state, now)?;
            tx.execute(
                "UPDATE registrations SET integration = :integration
                 WHERE space = :space AND piece_id = :piece_id",
                named_params! {
                    ":space": key.space,
                    ":piece_id": key.piece_id.as_str(),
                    ":integration": integration,
                },
            )
            .context("updating a registration's integration")?;
            Registration {
                integration: integration.to_owned(),
                updated_at: now,
                state,
                ..existing
            }
        }
        None => {
            let state = RegistrationState::initializing(now);
            tx.execute(
                "INSERT INTO registrations
                    (space, piece_id, integration, created_at, updated_at, status, next_run, phase)
                 VALUES (:space, :piece_id, :integration, :now, :now, :status, :next_run, :phase)",
                named_params! {
                    ":space": key.space,
                    ":piece_id": key.piece_id.as_str(),
                    ":integration": integration,
                    ":now": now,
                    ":status": state.status,
                    ":next_run": state.next_run,
                    ":phase": state.phase.as_str(),
                },
            )
            .context("creating a registration")?;
            Registration {
                space: key.space.clone(),
                piece_id: key.piece_id.clone(),
                integration: integration.to_owned(),
                created_at: now,
                updated_at: now,
                state,
                claimed_by: None,
            }
        }
    };
    tx.commit().context("committing a registration")?;
    index.wrote(&registration, Some(&piece.hash));
    Ok(registration)
}

/// Deletes a registration; whether there was one.
pub fn unregister(conn: &mut Connection, key: &RegistrationKey) -> Result<bool, StoreError> {
    let deleted = conn
        .execute(
            "DELETE FROM registrations WHERE space = :space AND piece_id = :piece_id",
            named_params! { ":space": key.space, ":piece_id": key.piece_id.as_str() },
        )
        .context("unregistering a piece")?;
    Ok(deleted > 0)
}

/// Registrations, sorted by space then piece id.
pub fn list(
    conn: &Connection,
    filter: &RegistrationFilter,
) -> Result<Vec<Registration>, StoreError> {
    select(conn, filter, "", &[])
}

/// The `SELECT` of `filter`, sorted by space then piece id, with `tail`
/// (a `LIMIT` clause of further numbered parameters, bound to `extra`).
fn select(
    conn: &Connection,
    filter: &RegistrationFilter,
    tail: &str,
    extra: &[i64],
) -> Result<Vec<Registration>, StoreError> {
    let (where_sql, names) = where_clause(filter);
    let sql = format!(
        "SELECT {COLUMNS} FROM registrations WHERE {where_sql} ORDER BY space, piece_id{tail}"
    );
    let mut values: Vec<&dyn ToSql> = vec![&filter.space];
    values.extend(names.iter().map(|n| n as &dyn ToSql));
    values.extend(extra.iter().map(|n| n as &dyn ToSql));
    let mut stmt = conn.prepare_cached(&sql).context("listing registrations")?;
    let rows = stmt
        .query_map(values.as_slice(), from_row)
        .context("listing registrations")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("listing registrations")?;
    Ok(rows)
}

/// Registrations by phase: one grouped count, a scan of the table (for
/// `/healthz` and the metrics; no index is kept for it, since an index on the
/// phase or due time would be written at every run).
pub fn count_by_phase(conn: &Connection) -> Result<PhaseCounts, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT phase, count(*) AS n FROM registrations GROUP BY phase")
        .context("counting registrations by phase")?;
    let rows = stmt
        .query_map([], |row| {
            let phase = rows::parsed(row, "phase", |text| {
                Phase::parse(text).ok_or_else(|| format!("unknown phase {text:?}"))
            })?;
            Ok((phase, rows::unsigned(row, "n")?))
        })
        .context("counting registrations by phase")?;
    let mut counts = PhaseCounts::default();
    for row in rows {
        let (phase, n) = row.context("counting registrations by phase")?;
        counts.add(phase, n);
    }
    Ok(counts)
}

/// The `WHERE` condition of a filter (space as `?1`, integrations from
/// `?2`), with the integration names to bind after the space.
fn where_clause(filter: &RegistrationFilter) -> (String, Vec<String>) {
    let (integration_sql, names) = integration_clause(&filter.integrations, 2);
    (
        format!("(?1 IS NULL OR space = ?1){integration_sql}"),
        names,
    )
}

/// One page of [`list`]: at most `limit` after the first `offset`, with the
/// total, read in one transaction so the two agree.
pub fn page(
    conn: &Connection,
    filter: &RegistrationFilter,
    offset: usize,
    limit: usize,
) -> Result<RegistrationPage, StoreError> {
    let tx = conn
        .unchecked_transaction()
        .context("starting to list a page of registrations")?;
    let (where_sql, names) = where_clause(filter);
    let mut values: Vec<&dyn ToSql> = vec![&filter.space];
    values.extend(names.iter().map(|n| n as &dyn ToSql));
    let total: i64 = tx
        .prepare_cached(&format!(
            "SELECT count(*) FROM registrations WHERE {where_sql}"
        ))
        .context("counting registrations")?
        .query_row(values.as_slice(), |row| row.get(0))
        .context("counting registrations")?;
    let first = names.len() + 2;
    let tail = format!(" LIMIT ?{first} OFFSET ?{}", first + 1);
    let bound = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let registrations = select(&tx, filter, &tail, &[bound(limit), bound(offset)])?;
    tx.commit()
        .context("finishing listing a page of registrations")?;
    Ok(RegistrationPage {
        total: u64::try_from(total).unwrap_or(0),
        registrations,
    })
}

/// `AND integration IN (?n, ...)` for a filter, numbering parameters from
/// `first`, with the values to bind. The names are bound, never pasted.
pub fn integration_clause(filter: &IntegrationFilter, first: usize) -> (String, Vec<String>) {
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
