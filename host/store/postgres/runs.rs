//! The `runs` table: each piece's run history, and the commit of a run
//! (history row, its record for replay, registration state and cell writes
//! in one transaction). A run's record (`run_records`) goes when its history
//! row is pruned.

use super::rows::{Columns, query_map};
use super::{cells, leases, registrations};
use crate::sandbox::RunOutcome;
use crate::store::error::{PostgresContext, StoreError};
use crate::store::{
    CommittedRun, FinishedRun, PieceId, RUN_HISTORY_PER_PIECE, RecordedRun, RunRecord, RunTime,
    RunTransition, RunTrigger,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

const COLUMNS: &str = "id, space, piece_id, trigger, started_at, finished_at, outcome";

fn from_row(row: &Row, context: &'static str) -> Result<RunRecord, StoreError> {
    let row = Columns::new(row, context);
    Ok(RunRecord {
        id: row.get("id")?,
        space: row.get("space")?,
        piece_id: row.piece_id("piece_id")?,
        trigger: row.parsed("trigger", |text| {
            RunTrigger::parse(text).ok_or_else(|| format!("unknown trigger {text:?}"))
        })?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        outcome: row.parsed("outcome", |text| {
            serde_json::from_str::<RunOutcome>(text).map_err(|e| e.to_string())
        })?,
    })
}

fn outcome_json(outcome: &RunOutcome) -> Result<String, StoreError> {
    serde_json::to_string(outcome).map_err(|e| StoreError::Corrupt {
        what: "run outcome",
        reason: e.to_string(),
    })
}

/// Commits a run in the caller's transaction: its history row (pruned to
/// the newest [`RUN_HISTORY_PER_PIECE`]), `transition` applied to the
/// registration if it still exists, and, only if the run succeeded, its cell
/// changes. A run claimed under a space lease is fenced: unless `node` still
/// holds that lease under the run's token, it fails with
/// [`StoreError::LeaseLost`] and the caller rolls the transaction back, so
/// nothing of it is applied.
pub async fn commit(
    client: &impl GenericClient,
    node: &str,
    run: FinishedRun,
    transition: RunTransition,
) -> Result<CommittedRun, StoreError> {
    const CONTEXT: &str = "committing a run";
    let outcome = outcome_json(&run.outcome)?;
    let key = &run.key;
    // Statements are prepared once per connection (cached); the three that
    // do not depend on each other are then sent together, pipelined on the
    // connection in this order, so a commit waits for four round trips
    // (BEGIN, these, the registration's update, COMMIT), not seven.
    let insert = client
        .prepare_cached(
            "INSERT INTO runs (space, piece_id, trigger, started_at, finished_at, ok, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .await
        .context(CONTEXT)?;
    let prune = client
        .prepare_cached(
            "DELETE FROM runs WHERE space = $1 AND piece_id = $2 AND id <= (
                SELECT id FROM runs WHERE space = $1 AND piece_id = $2
                ORDER BY id DESC LIMIT 1 OFFSET $3)",
        )
        .await
        .context("pruning run history")?;
    let select = client
        .prepare_cached(&registrations::select_sql(true))
        .await
        .context(CONTEXT)?;
    let kept = RUN_HISTORY_PER_PIECE as i64;
    let (piece_id, trigger) = (key.piece_id.as_str(), run.trigger.as_str());
    let run_row: [&(dyn ToSql + Sync); 7] = [
        &key.space,
        &piece_id,
        &trigger,
        &run.started_at,
        &run.finished_at,
        &run.outcome.ok,
        &outcome,
    ];
    let prune_row: [&(dyn ToSql + Sync); 3] = [&key.space, &piece_id, &kept];
    let key_row: [&(dyn ToSql + Sync); 2] = [&key.space, &piece_id];
    // The lease is checked after the registration's row is locked, in the
    // order a claim locks them (registration, then lease), so the two never
    // wait on each other in a cycle.
    let fence = async {
        match run.lease {
            Some(token) => leases::still_held(client, &key.space, node, token)
                .await
                .map(|held| (!held).then_some(token)),
            None => Ok(None),
        }
    };
    let (inserted, _, stored, lost) = futures::try_join!(
        async { client.query_one(&insert, &run_row).await.context(CONTEXT) },
        async { client.execute(&prune, &prune_row).await.context(CONTEXT) },
        async { client.query_opt(&select, &key_row).await.context(CONTEXT) },
        fence,
    )?;
    if let Some(token) = lost {
        return Err(StoreError::LeaseLost {
            key: key.clone(),
            space: key.space.clone(),
            node: node.to_owned(),
            token: token.0,
        });
    }
    let run_id: i64 = inserted.try_get(0).context(CONTEXT)?;
    if let Some(record) = run.record.as_deref() {
        let json = record.to_json().map_err(|e| StoreError::Corrupt {
            what: "run record",
            reason: e.to_string(),
        })?;
        let statement = client
            .prepare_cached(
                "INSERT INTO run_records (run_id, truncated, record) VALUES ($1, $2, $3)",
            )
            .await
            .context("recording a run's record")?;
        client
            .execute(&statement, &[&run_id, &record.truncated.is_some(), &json])
            .await
            .context("recording a run's record")?;
    }
    let stored = stored
        .map(|row| registrations::from_row(&row, CONTEXT))
        .transpose()?;

    // A failed run's writes are dropped whole: the cells stay as they were.
    let cells_applied = run.outcome.ok;
    if cells_applied {
        cells::apply(client, &key.space, &run.cell_changes).await?;
    }

    // Only an existing registration is updated: an unregistered piece's run
    // is recorded but does not bring the registration back.
    let mut disabled_by_this_run = false;
    let registration = match stored {
        None => None,
        Some(mut registration) => {
            disabled_by_this_run = registration.commit_run(&transition, run.claim, run.finished_at);
            registrations::store_state(client, key, &registration.state, run.finished_at).await?;
            Some(registration)
        }
    };
    Ok(CommittedRun {
        run_id,
        cells_applied,
        registration,
        disabled_by_this_run,
    })
}

/// A piece's newest runs, newest first.
pub async fn recent(
    client: &impl GenericClient,
    space: &str,
    id: &PieceId,
    limit: usize,
) -> Result<Vec<RunRecord>, StoreError> {
    const CONTEXT: &str = "reading run history";
    let sql = format!(
        "SELECT {COLUMNS} FROM runs WHERE space = $1 AND piece_id = $2 ORDER BY id DESC LIMIT $3"
    );
    let statement = client.prepare_cached(&sql).await.context(CONTEXT)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    client
        .query(&statement, &[&space, &id.as_str(), &limit])
        .await
        .context(CONTEXT)?
        .iter()
        .map(|row| from_row(row, CONTEXT))
        .collect()
}

/// A piece's newest runs in brief, newest first (no outcome is read).
pub async fn recent_times(
    client: &impl GenericClient,
    space: &str,
    id: &PieceId,
    limit: usize,
) -> Result<Vec<RunTime>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    query_map(
        client,
        "SELECT id, started_at, finished_at, ok FROM runs
         WHERE space = $1 AND piece_id = $2 ORDER BY id DESC LIMIT $3",
        &[&space, &id.as_str(), &limit],
        "reading run times",
        |row| {
            Ok(RunTime {
                id: row.get("id")?,
                started_at: row.get("started_at")?,
                finished_at: row.get("finished_at")?,
                ok: row.get("ok")?,
            })
        },
    )
    .await
}

/// One run of a piece with its record.
pub async fn recorded(
    client: &impl GenericClient,
    space: &str,
    id: &PieceId,
    run_id: i64,
) -> Result<Option<RecordedRun>, StoreError> {
    const CONTEXT: &str = "reading a run's record";
    let statement = client
        .prepare_cached(
            "SELECT runs.id, space, piece_id, trigger, started_at, finished_at, outcome, record
             FROM runs LEFT JOIN run_records ON run_records.run_id = runs.id
             WHERE runs.id = $1 AND space = $2 AND piece_id = $3",
        )
        .await
        .context(CONTEXT)?;
    let Some(row) = client
        .query_opt(&statement, &[&run_id, &space, &id.as_str()])
        .await
        .context(CONTEXT)?
    else {
        return Ok(None);
    };
    let run = from_row(&row, CONTEXT)?;
    let json: Option<Vec<u8>> = Columns::new(&row, CONTEXT).get("record")?;
    RecordedRun::from_stored(run, json).map(Some)
}

/// Every run, oldest first (for `store migrate`).
pub async fn all(client: &impl GenericClient) -> Result<Vec<RunRecord>, StoreError> {
    const CONTEXT: &str = "reading every run";
    client
        .query(&format!("SELECT {COLUMNS} FROM runs ORDER BY id"), &[])
        .await
        .context(CONTEXT)?
        .iter()
        .map(|row| from_row(row, CONTEXT))
        .collect()
}

/// Inserts runs with their ids (for `store migrate`), and moves the id
/// sequence past them so new runs keep counting up.
pub async fn insert_all(client: &impl GenericClient, runs: &[RunRecord]) -> Result<(), StoreError> {
    const CONTEXT: &str = "copying a run";
    let statement = client
        .prepare_cached(
            "INSERT INTO runs (id, space, piece_id, trigger, started_at, finished_at, ok, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await
        .context(CONTEXT)?;
    for run in runs {
        client
            .execute(
                &statement,
                &[
                    &run.id,
                    &run.space,
                    &run.piece_id.as_str(),
                    &run.trigger.as_str(),
                    &run.started_at,
                    &run.finished_at,
                    &run.outcome.ok,
                    &outcome_json(&run.outcome)?,
                ],
            )
            .await
            .context(CONTEXT)?;
    }
    client
        .execute(
            "SELECT setval(pg_get_serial_sequence('runs', 'id'), max(id)) FROM runs
             HAVING max(id) IS NOT NULL",
            &[],
        )
        .await
        .context("moving the run id sequence past the copied runs")?;
    Ok(())
}
