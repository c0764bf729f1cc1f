//! The `runs` table: each piece's run history, and the commit of a run
//! (history row, its record for replay, registration state and cell writes
//! in one transaction). A run's record (`run_records`) goes when its history
//! row is pruned.

use super::due_index::DueIndex;
use super::{RUN_HISTORY_PER_PIECE, cells, registrations, rows};
use crate::sandbox::RunOutcome;
use crate::store::error::{SqliteContext, StoreError};
use crate::store::{
    CommittedRun, FinishedRun, PieceId, RecordedRun, RunRecord, RunTime, RunTransition, RunTrigger,
};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, named_params};

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
    index: &DueIndex,
    run: FinishedRun,
    transition: RunTransition,
) -> Result<CommittedRun, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting a run commit")?;
    let committed = write(&tx, index, &run, &transition)?;
    tx.commit().context("committing a run")?;
    if let Some(registration) = &committed.registration {
        index.wrote(registration, None);
    }
    Ok(committed)
}

/// Group commit: many runs in one transaction, so one fsync covers them all.
/// A run that cannot be written (its error is its entry) leaves the others
/// in. The outer error means nothing of the group was committed.
///
/// The group is first written as a whole, without a savepoint per run: a
/// savepoint copies every page its run is the first to change (its
/// statement journal), which cost a fifth of a commit. Only if a run fails
/// is the group rolled back and written again with one savepoint per run,
/// so that the failed run alone is left out.
pub fn commit_batch(
    conn: &mut Connection,
    index: &DueIndex,
    runs: Vec<(FinishedRun, RunTransition)>,
) -> Result<Vec<Result<CommittedRun, StoreError>>, StoreError> {
    let together = in_group_transaction(conn, index, |tx| {
        runs.iter()
            .map(|(run, transition)| write_settled(tx, index, run, transition))
            .collect::<Result<Vec<_>, _>>()
    });
    match together {
        Ok(committed) => Ok(committed.into_iter().map(Ok).collect()),
        // A run could not be written (or the commit failed): again, one run
        // at a time. A failure of the group as such fails again there.
        Err(_) => in_group_transaction(conn, index, |tx| write_each(tx, index, &runs)),
    }
}

/// Runs `write` in one write transaction and commits it. If either fails,
/// nothing of it is on disk, and the schedule in memory, which followed each
/// run as it was written, goes back to what the database says (the claims
/// still held stay).
fn in_group_transaction<T>(
    conn: &mut Connection,
    index: &DueIndex,
    write: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting a group commit")?;
    let written = match write(&tx) {
        Ok(written) => tx
            .commit()
            .context("committing a group of runs")
            .map(|()| written),
        Err(error) => {
            drop(tx);
            Err(error)
        }
    };
    if written.is_err() {
        index.reload(conn, |_| false)?;
    }
    written
}

/// Writes one run of a group, and has the schedule in memory follow it, so
/// that a later run of the same registration in the group sees it settled.
fn write_settled(
    tx: &Connection,
    index: &DueIndex,
    run: &FinishedRun,
    transition: &RunTransition,
) -> Result<CommittedRun, StoreError> {
    let committed = write(tx, index, run, transition)?;
    if let Some(registration) = &committed.registration {
        index.wrote(registration, None);
    }
    Ok(committed)
}

/// Writes each run of a group under its own savepoint: a run that fails is
/// rolled back, and the others stay in.
fn write_each(
    tx: &Connection,
    index: &DueIndex,
    runs: &[(FinishedRun, RunTransition)],
) -> Result<Vec<Result<CommittedRun, StoreError>>, StoreError> {
    // The savepoint statements are prepared once, not parsed for every run
    // (as `Transaction::savepoint` would).
    let savepoint = |sql: &str| -> Result<(), StoreError> {
        tx.prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map(drop)
            .context("a run's savepoint")
    };
    let mut results = Vec::with_capacity(runs.len());
    for (run, transition) in runs {
        savepoint("SAVEPOINT run")?;
        match write_settled(tx, index, run, transition) {
            Ok(committed) => {
                savepoint("RELEASE run")?;
                results.push(Ok(committed));
            }
            Err(error) => {
                savepoint("ROLLBACK TO run")?;
                savepoint("RELEASE run")?;
                results.push(Err(error));
            }
        }
    }
    Ok(results)
}

/// A registered piece's history is pruned once every this many of its runs,
/// so it holds at most [`RUN_HISTORY_PER_PIECE`] + `PRUNE_EVERY - 1` rows;
/// reads never return more than the newest [`RUN_HISTORY_PER_PIECE`].
const PRUNE_EVERY: u64 = 16;

/// Writes one run inside the caller's transaction.
fn write(
    tx: &Connection,
    index: &DueIndex,
    run: &FinishedRun,
    transition: &RunTransition,
) -> Result<CommittedRun, StoreError> {
    let outcome_json = serde_json::to_string(&run.outcome).map_err(|e| StoreError::Corrupt {
        what: "run outcome",
        reason: e.to_string(),
    })?;
    let record = run
        .record
        .as_deref()
        .map(|record| {
            record
                .to_json()
                .map(|json| (record.truncated.is_some(), json))
        })
        .transpose()
        .map_err(|e| StoreError::Corrupt {
            what: "run record",
            reason: e.to_string(),
        })?;
    let key = &run.key;
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
    if let Some((truncated, json)) = record {
        tx.prepare_cached(
            "INSERT INTO run_records (run_id, truncated, record) VALUES (:run_id, :truncated, :record)",
        )
        .context("recording a run's record")?
        .execute(named_params! {
            ":run_id": run_id,
            ":truncated": truncated,
            ":record": json,
        })
        .context("recording a run's record")?;
    }
    // A failed run's writes are dropped whole: the cells stay as they were.
    let cells_applied = run.outcome.ok;
    if cells_applied && !run.cell_changes.is_empty() {
        cells::apply(tx, &key.space, &run.cell_changes)?;
    }

    // Only an existing registration is updated: an unregistered piece's run
    // is recorded but does not bring the registration back.
    let mut disabled_by_this_run = false;
    let mut counted = false;
    let registration = match registrations::get(tx, key)? {
        None => None,
        Some(mut registration) => {
            index.overlay(&mut registration);
            let runs_before = registration.state.total_runs;
            disabled_by_this_run = registration.commit_run(transition, run.claim, run.finished_at);
            registrations::store_state(tx, key, &registration.state, run.finished_at)?;
            counted = registration.state.total_runs > runs_before;
            Some(registration)
        }
    };
    // A registration counts its runs, so its history is pruned every
    // `PRUNE_EVERY` of them; a run it did not count (a piece without one)
    // prunes at once.
    let prune = !counted
        || registration
            .as_ref()
            .is_none_or(|registration| registration.state.total_runs % PRUNE_EVERY == 0);
    if prune {
        // Pruned rows take their records with them (ON DELETE CASCADE).
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
    }
    Ok(CommittedRun {
        run_id,
        cells_applied,
        registration,
        disabled_by_this_run,
    })
}

/// A read's limit: never more than the runs kept, though up to
/// `PRUNE_EVERY - 1` older ones may wait for their piece's next prune.
fn kept(limit: usize) -> i64 {
    limit.min(RUN_HISTORY_PER_PIECE) as i64
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
                ":limit": kept(limit),
            },
            from_row,
        )
        .context("reading run history")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("reading run history")?;
    Ok(runs)
}

/// A piece's newest runs in brief, newest first (no outcome is read).
pub fn recent_times(
    conn: &Connection,
    space: &str,
    id: &PieceId,
    limit: usize,
) -> Result<Vec<RunTime>, StoreError> {
    let times = conn
        .prepare_cached(
            "SELECT id, started_at, finished_at, ok FROM runs
             WHERE space = :space AND piece_id = :piece_id ORDER BY id DESC LIMIT :limit",
        )
        .context("reading run times")?
        .query_map(
            named_params! {
                ":space": space,
                ":piece_id": id.as_str(),
                ":limit": kept(limit),
            },
            |row| {
                Ok(RunTime {
                    id: row.get("id")?,
                    started_at: row.get("started_at")?,
                    finished_at: row.get("finished_at")?,
                    ok: row.get("ok")?,
                })
            },
        )
        .context("reading run times")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("reading run times")?;
    Ok(times)
}

/// One run of a piece with its record.
pub fn recorded(
    conn: &Connection,
    space: &str,
    id: &PieceId,
    run_id: i64,
) -> Result<Option<RecordedRun>, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT runs.id, space, piece_id, trigger, started_at, finished_at, outcome, record
             FROM runs LEFT JOIN run_records ON run_records.run_id = runs.id
             WHERE runs.id = :id AND space = :space AND piece_id = :piece_id",
        )
        .context("reading a run's record")?
        .query_row(
            named_params! { ":id": run_id, ":space": space, ":piece_id": id.as_str() },
            |row| Ok((from_row(row)?, row.get::<_, Option<Vec<u8>>>("record")?)),
        )
        .optional()
        .context("reading a run's record")?;
    found
        .map(|(run, json)| RecordedRun::from_stored(run, json))
        .transpose()
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
