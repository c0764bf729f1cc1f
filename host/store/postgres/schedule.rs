//! The scheduler's side of the `registrations` table: claiming due runs,
//! releasing claims, recovering after a restart, and moving due times.
//!
//! Claims take rows with `FOR UPDATE SKIP LOCKED`, so claimers never wait on
//! each other's rows and never take the same row twice, and each claim takes
//! its space's lease (`leases.rs`), so a space runs on one node at a time.

use super::leases;
use super::registrations::{self, integration_names};
use super::rows::Columns;
use crate::store::error::{PostgresContext, StoreError};
use crate::store::{
    ClaimToken, ClaimedRun, EpochMillis, IntegrationFilter, LeaseConfig, LeaseToken,
    RegistrationKey,
};
use deadpool_postgres::GenericClient;
use std::sync::LazyLock;

/// The claim: the due candidates (oldest first, none in a space another
/// node's live lease holds, rows another claim holds skipped), the leases of
/// their spaces taken or renewed, and only the candidates whose space lease
/// this node got moved to `Dispatched` with its name and lease token; the
/// others stay scheduled. One statement, so one round trip.
static CLAIM_DUE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH due AS (
            SELECT space, piece_id FROM registrations AS c
            WHERE phase = 'scheduled' AND next_run <= $1
              AND ($3::TEXT[] IS NULL OR integration = ANY($3))
              AND NOT EXISTS (
                SELECT 1 FROM space_leases AS h
                WHERE h.space = c.space AND h.node <> $4 AND h.expires_at > clock_timestamp())
            ORDER BY next_run LIMIT $2
            FOR UPDATE SKIP LOCKED
         ), leased AS ({})
         UPDATE registrations AS r
         SET phase = 'dispatched', claimed_at = $1, claimed_by = $4, lease_token = leased.token
         FROM due JOIN leased ON leased.space = due.space
         WHERE r.space = due.space AND r.piece_id = due.piece_id
         RETURNING r.space, r.piece_id, r.next_run, r.lease_token,
            coalesce((SELECT p.hash FROM pieces AS p
                      WHERE p.space = r.space AND p.id = r.piece_id), '') AS hash",
        leases::take_leases_sql("due", "$4::TEXT", "$5")
    )
});

/// Claims up to `limit` due registrations, oldest due first, in one statement,
/// each under its space's lease for this node.
pub async fn claim_due(
    client: &impl GenericClient,
    lease: &LeaseConfig,
    now: EpochMillis,
    integrations: &IntegrationFilter,
    limit: usize,
) -> Result<Vec<ClaimedRun>, StoreError> {
    const CONTEXT: &str = "claiming due registrations";
    let statement = client.prepare_cached(&CLAIM_DUE).await.context(CONTEXT)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &statement,
            &[
                &now,
                &limit,
                &integration_names(integrations),
                &lease.node.as_str(),
                &leases::millis(lease.ttl),
            ],
        )
        .await
        .context(CONTEXT)?;
    let mut claimed = rows
        .iter()
        .map(|row| {
            let row = Columns::new(row, CONTEXT);
            Ok(ClaimedRun {
                key: row.key()?,
                claim: ClaimToken(now),
                due_at: row.get("next_run")?,
                source_hash: row.get("hash")?,
                lease: Some(LeaseToken(row.get("lease_token")?)),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // RETURNING keeps no order: oldest due first, as the scheduler expects.
    claimed.sort_by(|a, b| (a.due_at, &a.key).cmp(&(b.due_at, &b.key)));
    Ok(claimed)
}

/// The earliest due time among scheduled registrations served that this
/// node could claim: those of a space another live node holds are that
/// node's to run (counting them would wake this node for nothing, again and
/// again, while they stay due).
pub async fn next_due(
    client: &impl GenericClient,
    lease: &LeaseConfig,
    integrations: &IntegrationFilter,
) -> Result<Option<EpochMillis>, StoreError> {
    const CONTEXT: &str = "finding the next due time";
    let statement = client
        .prepare_cached(
            "SELECT min(next_run) AS due FROM registrations AS r
             WHERE phase = 'scheduled' AND ($1::TEXT[] IS NULL OR integration = ANY($1))
               AND NOT EXISTS (
                 SELECT 1 FROM space_leases AS h
                 WHERE h.space = r.space AND h.node <> $2 AND h.expires_at > clock_timestamp())",
        )
        .await
        .context(CONTEXT)?;
    let row = client
        .query_one(
            &statement,
            &[&integration_names(integrations), &lease.node.as_str()],
        )
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

/// A node's start, in the caller's transaction: the leases of this node's
/// previous run are given back, and the claims no live lease covers (this
/// node's previous run's, and those of nodes that died) released. Claims of
/// live nodes are left alone. Returns the released registrations that are
/// served, scheduled and overdue, so the scheduler can spread them out.
pub async fn recover_after_restart(
    client: &impl GenericClient,
    lease: &LeaseConfig,
    now: EpochMillis,
    integrations: &IntegrationFilter,
) -> Result<Vec<RegistrationKey>, StoreError> {
    const CONTEXT: &str = "recovering after a restart";
    let released = leases::start(client, lease).await?;
    if released.is_empty() {
        return Ok(released);
    }
    tracing::info!(
        released = released.len(),
        "released the claims of runs that a previous daemon or a dead node left unfinished"
    );
    let spaces: Vec<&str> = released.iter().map(|key| key.space.as_str()).collect();
    let ids: Vec<&str> = released.iter().map(|key| key.piece_id.as_str()).collect();
    client
        .query(
            "SELECT r.space, r.piece_id FROM registrations AS r
             JOIN unnest($3::TEXT[], $4::TEXT[]) AS k(space, piece_id)
               ON r.space = k.space AND r.piece_id = k.piece_id
             WHERE r.phase = 'scheduled' AND r.next_run < $1
               AND ($2::TEXT[] IS NULL OR r.integration = ANY($2))
             ORDER BY r.space, r.piece_id",
            &[&now, &integration_names(integrations), &spaces, &ids],
        )
        .await
        .context(CONTEXT)?
        .iter()
        .map(|row| Columns::new(row, CONTEXT).key())
        .collect()
}

/// Sets new due times for scheduled registrations, in one statement;
/// those another transaction holds keep theirs.
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
            // Rows another node is changing (rescheduling them too, at its
            // own start) are skipped, not waited for: two nodes locking
            // overlapping sets in different orders would deadlock.
            "UPDATE registrations AS r SET next_run = due.next_run
             FROM (
                SELECT s.space, s.piece_id, d.next_run
                FROM registrations AS s
                JOIN unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[]) AS d(space, piece_id, next_run)
                  ON s.space = d.space AND s.piece_id = d.piece_id
                WHERE s.phase = 'scheduled'
                FOR UPDATE OF s SKIP LOCKED
             ) AS due
             WHERE r.space = due.space AND r.piece_id = due.piece_id",
            &[&spaces, &ids, &times],
        )
        .await
        .context("rescheduling registrations")?;
    Ok(())
}
