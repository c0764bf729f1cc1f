//! The `runs` table: each piece's run history, and the commit of a run
//! (history row, registration state and cell writes in one transaction).

use super::{RUN_HISTORY_PER_PIECE, cells, registrations, rows};
use crate::sandbox::RunOutcome;
use crate::store::error::{SqliteContext, StoreError};
use crate::store::{CommittedRun, FinishedRun, PieceId, RunRecord, RunTransition, RunTrigger};
use rusqlite::{Connection, Row, TransactionBehavior, named_params};

fn from_row(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get("id")?,
        space: row.get("space")?,
        piece_id: rows::piece_id(row, "piece_id")?,
        trigger: rows::parsed(row, "trigger", |text| {
            RunTrigger::parse(text).ok_or_else(|| format!("unknown trigger {text:?}"))
        })?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        outcome: rows::parsed(row, "outcome", |text| {
            serde_json::from_str::<RunOutcome>(text).map_err(|e| e.to_string())
        })?,
    })
}

/// Commits a run: its history row (pruned to the newest
/// [`RUN_HISTORY_PER_PIECE`]), `transition` applied to the registration if it
/// still exists, and, only if the run succeeded, its cell changes.
pub fn commit(
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
         VALUES (:space, :piece_id, :trigger, :started_at, :finished_at, :ok, :outcome)",
    )
    .context("recording a run")?
    .execute(named_params! {
        ":space": key.space,
        ":piece_id": key.piece_id.as_str(),
        ":trigger": run.trigger.as_str(),
        ":started_at": run.started_at,
        ":finished_at": run.finished_at,
        ":ok": run.outcome.ok,
        ":outcome": outcome_json,
    })
    .context("recording a run")?;
    let run_id = tx.last_insert_rowid();
    tx.prepare_cached(
        "DELETE FROM runs WHERE space = :space AND piece_id = :piece_id AND id <= (
            SELECT id FROM runs WHERE space = :space AND piece_id = :piece_id
            ORDER BY id DESC LIMIT 1 OFFSET :kept)",
    )
    .context("pruning run history")?
    .execute(named_params! {
        ":space": key.space,
        ":piece_id": key.piece_id.as_str(),
        ":kept": RUN_HISTORY_PER_PIECE as i64,
    })
    .context("pruning run history")?;

    // A failed run's writes are dropped whole: the cells stay as they were.
    let cells_applied = run.outcome.ok;
    if cells_applied {
        cells::apply(&tx, &key.space, &run.cell_changes)?;
    }

    // Only an existing registration is updated: an unregistered piece's run
    // is recorded but does not bring the registration back.
    let mut disabled_by_this_run = false;
    let registration = match registrations::get(&tx, key)? {
        None => None,
        Some(mut registration) => {
            disabled_by_this_run = registration.commit_run(&transition, run.claim, run.finished_at);
            registrations::store_state(&tx, key, &registration.state, run.finished_at)?;
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

/// A piece's newest runs, newest first.
pub fn recent(
    conn: &Connection,
    space: &str,
    id: &PieceId,
    limit: usize,
) -> Result<Vec<RunRecord>, StoreError> {
    let runs = conn
        .prepare_cached(
            "SELECT id, space, piece_id, trigger, started_at, finished_at, outcome FROM runs
             WHERE space = :space AND piece_id = :piece_id ORDER BY id DESC LIMIT :limit",
        )
        .context("reading run history")?
        .query_map(
            named_params! {
                ":space": space,
                ":piece_id": id.as_str(),
                ":limit": i64::try_from(limit).unwrap_or(i64::MAX),
            },
            from_row,
        )
        .context("reading run history")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("reading run history")?;
    Ok(runs)
}

/// Every run, oldest first (for `store migrate`).
pub fn all(conn: &Connection) -> Result<Vec<RunRecord>, StoreError> {
    conn.prepare(
        "SELECT id, space, piece_id, trigger, started_at, finished_at, outcome FROM runs
         ORDER BY id",
    )
    .context("reading every run")?
    .query_map([], from_row)
    .context("reading every run")?
    .collect::<rusqlite::Result<Vec<_>>>()
    .context("reading every run")
}
