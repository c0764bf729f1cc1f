//! The scheduler's side of the `registrations` table: claiming due runs,
//! releasing claims, recovering after a restart, and moving due times.

use super::registrations::{self, integration_clause};
use super::rows;
use crate::store::error::{SqliteContext, StoreError};
use crate::store::{ClaimToken, ClaimedRun, EpochMillis, IntegrationFilter, RegistrationKey};
use rusqlite::types::ToSql;
use rusqlite::{Connection, TransactionBehavior, named_params};

/// Claims up to `limit` due registrations, oldest due first.
///
/// The claims commit without waiting for a disk sync (`synchronous=NORMAL`
/// for this one transaction): a claim is worth nothing after a crash, since
/// the next start releases every claim anyway. It still survives `kill -9`
/// (WAL mode: it is in the OS's page cache), and a run's commit, which syncs,
/// makes the claims before it durable too.
pub fn claim_due(
    conn: &mut Connection,
    now: EpochMillis,
    integrations: &IntegrationFilter,
    limit: usize,
) -> Result<Vec<ClaimedRun>, StoreError> {
    set_synchronous(conn, "NORMAL")?;
    let claimed = claim_due_unsynced(conn, now, integrations, limit);
    // Every other write syncs, so FULL comes back even if the claim failed.
    set_synchronous(conn, "FULL")?;
    claimed
}

fn set_synchronous(conn: &Connection, level: &str) -> Result<(), StoreError> {
    conn.pragma_update(None, "synchronous", level)
        .context("setting when commits sync")
}

fn claim_due_unsynced(
    conn: &mut Connection,
    now: EpochMillis,
    integrations: &IntegrationFilter,
    limit: usize,
) -> Result<Vec<ClaimedRun>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting to claim due registrations")?;
    let (integration_sql, names) = integration_clause(integrations, 3);
    let sql = format!(
        "SELECT r.space, r.piece_id, r.next_run, coalesce(p.hash, '') AS hash
         FROM registrations AS r LEFT JOIN pieces AS p ON p.space = r.space AND p.id = r.piece_id
         WHERE r.phase = 'scheduled' AND r.next_run <= ?1{integration_sql}
         ORDER BY r.next_run LIMIT ?2"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut values: Vec<&dyn ToSql> = vec![&now, &limit];
    values.extend(names.iter().map(|n| n as &dyn ToSql));
    let due = tx
        .prepare_cached(&sql)
        .context("finding due registrations")?
        .query_map(values.as_slice(), |row| {
            Ok((
                row.get::<_, String>("space")?,
                rows::piece_id(row, "piece_id")?,
                row.get::<_, EpochMillis>("next_run")?,
                row.get::<_, String>("hash")?,
            ))
        })
        .context("finding due registrations")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("finding due registrations")?;
    let mut claimed = Vec::with_capacity(due.len());
    {
        let mut claim = tx
            .prepare_cached(
                "UPDATE registrations SET phase = 'dispatched', claimed_at = :now
                 WHERE space = :space AND piece_id = :piece_id",
            )
            .context("claiming a registration")?;
        for (space, piece_id, due_at, source_hash) in due {
            claim
                .execute(named_params! {
                    ":space": space,
                    ":piece_id": piece_id.as_str(),
                    ":now": now,
                })
                .context("claiming a registration")?;
            claimed.push(ClaimedRun {
                key: RegistrationKey::new(space, piece_id),
                claim: ClaimToken(now),
                lease: None,
                due_at,
                source_hash,
            });
        }
    }
    tx.commit().context("committing claims")?;
    Ok(claimed)
}

/// The earliest due time among scheduled registrations served.
pub fn next_due(
    conn: &Connection,
    integrations: &IntegrationFilter,
) -> Result<Option<EpochMillis>, StoreError> {
    let (integration_sql, names) = integration_clause(integrations, 1);
    let sql = format!(
        "SELECT min(next_run) AS due FROM registrations WHERE phase = 'scheduled'{integration_sql}"
    );
    let values: Vec<&dyn ToSql> = names.iter().map(|n| n as &dyn ToSql).collect();
    conn.prepare_cached(&sql)
        .context("finding the next due time")?
        .query_row(values.as_slice(), |row| row.get("due"))
        .context("finding the next due time")
}

/// Gives back a claim whose run never started.
pub fn release_claim(
    conn: &mut Connection,
    key: &RegistrationKey,
    claim: ClaimToken,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting to release a claim")?;
    if let Some(registration) = registrations::get(&tx, key)?
        && registration.state.is_claimed_by(claim)
    {
        registrations::store_state(
            &tx,
            key,
            &registration.state.released(),
            registration.updated_at,
        )?;
    }
    tx.commit().context("committing a released claim")
}

/// Releases the claims a dead daemon left, and returns the overdue
/// registrations served, so the scheduler can spread them out.
pub fn recover_after_restart(
    conn: &mut Connection,
    now: EpochMillis,
    integrations: &IntegrationFilter,
) -> Result<Vec<RegistrationKey>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting recovery")?;
    let (integration_sql, names) = integration_clause(integrations, 1);
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
    let (integration_sql, names) = integration_clause(integrations, 2);
    let mut values: Vec<&dyn ToSql> = vec![&now];
    values.extend(names.iter().map(|n| n as &dyn ToSql));
    let overdue = tx
        .prepare(&format!(
            "SELECT space, piece_id FROM registrations
             WHERE phase = 'scheduled' AND next_run < ?1{integration_sql}
             ORDER BY space, piece_id"
        ))
        .context("finding overdue registrations")?
        .query_map(values.as_slice(), |row| {
            Ok(RegistrationKey::new(
                row.get::<_, String>("space")?,
                rows::piece_id(row, "piece_id")?,
            ))
        })
        .context("finding overdue registrations")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("finding overdue registrations")?;
    tx.commit().context("committing recovery")?;
    Ok(overdue)
}

/// Sets new due times for scheduled registrations, in one transaction.
pub fn reschedule(
    conn: &mut Connection,
    due: &[(RegistrationKey, EpochMillis)],
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting to reschedule")?;
    {
        let mut stmt = tx
            .prepare_cached(
                "UPDATE registrations SET next_run = :next_run
                 WHERE space = :space AND piece_id = :piece_id AND phase = 'scheduled'",
            )
            .context("rescheduling a registration")?;
        for (key, at) in due {
            stmt.execute(named_params! {
                ":space": key.space,
                ":piece_id": key.piece_id.as_str(),
                ":next_run": at,
            })
            .context("rescheduling a registration")?;
        }
    }
    tx.commit().context("committing new due times")
}
