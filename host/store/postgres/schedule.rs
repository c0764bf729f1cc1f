//! The scheduler's side of the `registrations` table: claiming due runs,
//! releasing claims, recovering after a restart, and moving due times.
//!
//! Claims take rows with `FOR UPDATE SKIP LOCKED`, so claimers never wait on
//! each other's rows and never take the same row twice.

use super::registrations::{self, integration_names};
use super::rows::Columns;
use crate::store::error::{PostgresContext, StoreError};
use crate::store::{ClaimToken, ClaimedRun, EpochMillis, IntegrationFilter, RegistrationKey};
use deadpool_postgres::GenericClient;

/// Claims up to `limit` due registrations, oldest due first, in one statement.
pub async fn claim_due(
    client: &impl GenericClient,
    now: EpochMillis,
    integrations: &IntegrationFilter,
    limit: usize,
) -> Result<Vec<ClaimedRun>, StoreError> {
    const CONTEXT: &str = "claiming due registrations";
    let statement = client
        .prepare_cached(
            "UPDATE registrations AS r SET phase = 'dispatched', claimed_at = $1
             FROM (
                SELECT space, piece_id FROM registrations
                WHERE phase = 'scheduled' AND next_run <= $1
                  AND ($3::TEXT[] IS NULL OR integration = ANY($3))
                ORDER BY next_run LIMIT $2
                FOR UPDATE SKIP LOCKED
             ) AS due
             WHERE r.space = due.space AND r.piece_id = due.piece_id
             RETURNING r.space, r.piece_id, r.next_run,
                coalesce((SELECT p.hash FROM pieces AS p
                          WHERE p.space = r.space AND p.id = r.piece_id), '') AS hash",
        )
        .await
        .context(CONTEXT)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &statement,
            &[&now, &limit, &integration_names(integrations)],
        )
        .await
        .context(CONTEXT)?;
    let mut claimed = rows
        .iter()
        .map(|row| {
            let row = Columns::new(row, CONTEXT);
            Ok(ClaimedRun {
                key: RegistrationKey::new(row.get::<String>("space")?, row.piece_id("piece_id")?),
                claim: ClaimToken(now),
                due_at: row.get("next_run")?,
                source_hash: row.get("hash")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // RETURNING keeps no order: oldest due first, as the scheduler expects.
    claimed.sort_by(|a, b| (a.due_at, &a.key).cmp(&(b.due_at, &b.key)));
    Ok(claimed)
}

/// The earliest due time among scheduled registrations served.
pub async fn next_due(
    client: &impl GenericClient,
    integrations: &IntegrationFilter,
) -> Result<Option<EpochMillis>, StoreError> {
    const CONTEXT: &str = "finding the next due time";
    let statement = client
        .prepare_cached(
            "SELECT min(next_run) AS due FROM registrations
             WHERE phase = 'scheduled' AND ($1::TEXT[] IS NULL OR integration = ANY($1))",
        )
        .await
        .context(CONTEXT)?;
    let row = client
        .query_one(&statement, &[&integration_names(integrations)])
        .await
        .context(CONTEXT)?;
    Columns::new(&row, CONTEXT).get("due")
}

/// Gives back a claim whose run never started, in the caller's transaction.
pub async fn release_claim(
    client: &impl GenericClient,
    key: &RegistrationKey,
    claim: ClaimToken,
) -> Result<(), StoreError> {
    if let Some(registration) = registrations::get_for_update(client, key).await?
        && registration.state.is_claimed_by(claim)
    {
        registrations::store_state(
            client,
            key,
            &registration.state.released(),
            registration.updated_at,
        )
        .await?;
    }
    Ok(())
}

/// Releases the claims a dead daemon left, and returns the overdue
/// registrations served, so the scheduler can spread them out (in the
/// caller's transaction).
pub async fn recover_after_restart(
    client: &impl GenericClient,
    now: EpochMillis,
    integrations: &IntegrationFilter,
) -> Result<Vec<RegistrationKey>, StoreError> {
    const CONTEXT: &str = "recovering after a restart";
    let names = integration_names(integrations);
    let released = client
        .execute(
            "UPDATE registrations
             SET phase = CASE WHEN disabled_at = 0 THEN 'scheduled' ELSE 'disabled' END,
                 claimed_at = NULL
             WHERE phase = 'dispatched' AND ($1::TEXT[] IS NULL OR integration = ANY($1))",
            &[&names],
        )
        .await
        .context(CONTEXT)?;
    if released > 0 {
        tracing::info!(
            released,
            "released the claims of runs a previous daemon left unfinished"
        );
    }
    client
        .query(
            "SELECT space, piece_id FROM registrations
             WHERE phase = 'scheduled' AND next_run < $1
               AND ($2::TEXT[] IS NULL OR integration = ANY($2))
             ORDER BY space, piece_id",
            &[&now, &names],
        )
        .await
        .context(CONTEXT)?
        .iter()
        .map(|row| {
            let row = Columns::new(row, CONTEXT);
            Ok(RegistrationKey::new(
                row.get::<String>("space")?,
                row.piece_id("piece_id")?,
            ))
        })
        .collect()
}

/// Sets new due times for scheduled registrations, in one statement.
pub async fn reschedule(
    client: &impl GenericClient,
    due: &[(RegistrationKey, EpochMillis)],
) -> Result<(), StoreError> {
    if due.is_empty() {
        return Ok(());
    }
    let spaces: Vec<&str> = due.iter().map(|(key, _)| key.space.as_str()).collect();
    let ids: Vec<&str> = due.iter().map(|(key, _)| key.piece_id.as_str()).collect();
    let times: Vec<EpochMillis> = due.iter().map(|(_, at)| *at).collect();
    client
        .execute(
            "UPDATE registrations AS r SET next_run = d.next_run
             FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[]) AS d(space, piece_id, next_run)
             WHERE r.space = d.space AND r.piece_id = d.piece_id AND r.phase = 'scheduled'",
            &[&spaces, &ids, &times],
        )
        .await
        .context("rescheduling registrations")?;
    Ok(())
}
