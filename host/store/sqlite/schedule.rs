//! The scheduler's side of the `registrations` table: releasing claims,
//! recovering after a restart, and moving due times. Claiming and the next
//! due time are answered from memory (`due_index`).

use super::due_index::DueIndex;
use super::registrations::{self, integration_clause};
use super::rows;
use crate::store::error::{SqliteContext, StoreError};
use crate::store::{ClaimToken, EpochMillis, IntegrationFilter, Phase, RegistrationKey};
use rusqlite::types::ToSql;
use rusqlite::{Connection, TransactionBehavior, named_params};

/// Gives back a claim whose run never started.
pub fn release_claim(
    conn: &mut Connection,
    index: &DueIndex,
    key: &RegistrationKey,
    claim: ClaimToken,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting to release a claim")?;
    let Some(mut registration) = registrations::get(&tx, key)? else {
        return tx.commit().context("committing a released claim");
    };
    // Only a claim a later write put on disk (a disable while it ran) needs
    // writing; one only memory holds is given back there.
    let on_disk = registration.state.phase == Phase::Dispatched;
    index.overlay(&mut registration);
    if !registration.state.is_claimed_by(claim) {
        return tx.commit().context("committing a released claim");
    }
    registration.state = registration.state.released();
    if on_disk {
        registrations::store_state(&tx, key, &registration.state, registration.updated_at)?;
    }
    tx.commit().context("committing a released claim")?;
    index.wrote(&registration, None);
    Ok(())
}

/// Releases the claims a dead daemon left, and returns the overdue
/// registrations served, so the scheduler can spread them out.
pub fn recover_after_restart(
    conn: &mut Connection,
    index: &DueIndex,
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
    // The claims of the integrations served that only memory held (a
    // scheduler of this process stopped with runs abandoned) go too.
    index.reload(conn, |integration| integrations.serves(integration))?;
    Ok(overdue)
}

/// Sets new due times for scheduled registrations, in one transaction.
pub fn reschedule(
    conn: &mut Connection,
    index: &DueIndex,
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
        // A registration claimed here is `scheduled` on disk, but its run
        // owns it: its due time stays.
        for (key, at) in due
            .iter()
            .filter(|(key, _)| !index.claimed_in_memory_only(key))
        {
            stmt.execute(named_params! {
                ":space": key.space,
                ":piece_id": key.piece_id.as_str(),
                ":next_run": at,
            })
            .context("rescheduling a registration")?;
        }
    }
    tx.commit().context("committing new due times")?;
    for (key, at) in due {
        index.rescheduled(key, *at);
    }
    Ok(())
}
