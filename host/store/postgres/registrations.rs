//! The `registrations` table: which pieces run, and the persisted state of
//! each (see `store/registration.rs` for its state machine).

use super::pieces;
use super::rows::{Columns, signed};
use crate::store::error::{PostgresContext, StoreError};
use crate::store::{
    EpochMillis, IntegrationFilter, Phase, PhaseCounts, Registration, RegistrationFilter,
    RegistrationKey, RegistrationState,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

pub const COLUMNS: &str = "space, piece_id, integration, created_at, updated_at, disabled_at, \
    last_run, status, last_success, consecutive_failures, last_error, next_run, total_runs, \
    total_failures, last_duration_ms, last_fuel, phase, claimed_at, claimed_by";

pub fn from_row(row: &Row, context: &'static str) -> Result<Registration, StoreError> {
    let row = Columns::new(row, context);
    Ok(Registration {
        space: row.get("space")?,
        piece_id: row.piece_id("piece_id")?,
        integration: row.get("integration")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        state: RegistrationState {
            disabled_at: row.get("disabled_at")?,
            last_run: row.get("last_run")?,
            status: row.get("status")?,
            last_success: row.get("last_success")?,
            consecutive_failures: u32::try_from(row.get::<i64>("consecutive_failures")?)
                .unwrap_or(u32::MAX),
            last_error: row.get("last_error")?,
            next_run: row.get("next_run")?,
            total_runs: row.unsigned("total_runs")?,
            total_failures: row.unsigned("total_failures")?,
            last_duration_ms: row.unsigned_or_null("last_duration_ms")?,
            last_fuel: row.unsigned_or_null("last_fuel")?,
            phase: row.parsed("phase", |text| {
                Phase::parse(text).ok_or_else(|| format!("unknown phase {text:?}"))
            })?,
            claimed_at: row.get("claimed_at")?,
        },
        claimed_by: row.get("claimed_by")?,
    })
}

/// The integration names to bind as `$n::TEXT[]`, `NULL` meaning all; used
/// as `($n::TEXT[] IS NULL OR integration = ANY($n))`.
pub fn integration_names(filter: &IntegrationFilter) -> Option<Vec<String>> {
    filter.names().map(<[String]>::to_vec)
}

/// The query of one registration by `$1` space and `$2` piece id; `FOR
/// UPDATE` locks its row until the transaction ends.
pub fn select_sql(for_update: bool) -> String {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    format!("SELECT {COLUMNS} FROM registrations WHERE space = $1 AND piece_id = $2{lock}")
}

/// A registration, if there is one.
async fn select(
    client: &impl GenericClient,
    key: &RegistrationKey,
    for_update: bool,
) -> Result<Option<Registration>, StoreError> {
    const CONTEXT: &str = "reading a registration";
    let statement = client
        .prepare_cached(&select_sql(for_update))
        .await
        .context(CONTEXT)?;
    client
        .query_opt(&statement, &[&key.space, &key.piece_id.as_str()])
        .await
        .context(CONTEXT)?
        .map(|row| from_row(&row, CONTEXT))
        .transpose()
}

/// A registration, if there is one.
pub async fn get(
    client: &impl GenericClient,
    key: &RegistrationKey,
) -> Result<Option<Registration>, StoreError> {
    select(client, key, false).await
}

/// A registration, its row locked until the transaction ends.
pub async fn get_for_update(
    client: &impl GenericClient,
    key: &RegistrationKey,
) -> Result<Option<Registration>, StoreError> {
    select(client, key, true).await
}

/// Writes a registration's state (the row must exist).
pub async fn store_state(
    client: &impl GenericClient,
    key: &RegistrationKey,
    state: &RegistrationState,
    now: EpochMillis,
) -> Result<(), StoreError> {
    const CONTEXT: &str = "updating a registration";
    let statement = client
        .prepare_cached(
            "UPDATE registrations SET updated_at = $3, disabled_at = $4, last_run = $5,
                status = $6, last_success = $7, consecutive_failures = $8, last_error = $9,
                next_run = $10, total_runs = $11, total_failures = $12,
                last_duration_ms = $13, last_fuel = $14, phase = $15, claimed_at = $16,
                claimed_by = CASE WHEN $15 = 'dispatched' THEN claimed_by END,
                lease_token = CASE WHEN $15 = 'dispatched' THEN lease_token END
             WHERE space = $1 AND piece_id = $2",
        )
        .await
        .context(CONTEXT)?;
    client
        .execute(
            &statement,
            &[
                &key.space,
                &key.piece_id.as_str(),
                &now,
                &state.disabled_at,
                &state.last_run,
                &state.status,
                &state.last_success,
                &i64::from(state.consecutive_failures),
                &state.last_error,
                &state.next_run,
                &signed(state.total_runs),
                &signed(state.total_failures),
                &state.last_duration_ms.map(signed),
                &state.last_fuel.map(signed),
                &state.phase.as_str(),
                &state.claimed_at,
            ],
        )
        .await
        .context(CONTEXT)?;
    Ok(())
}

/// Reads, transforms and writes back one registration, in the caller's
/// transaction.
pub async fn update(
    client: &impl GenericClient,
    key: &RegistrationKey,
    now: EpochMillis,
    change: impl FnOnce(&RegistrationState) -> RegistrationState,
) -> Result<Registration, StoreError> {
    let Some(mut registration) = get_for_update(client, key).await? else {
        return Err(StoreError::NotRegistered {
            space: key.space.clone(),
            piece_id: key.piece_id.clone(),
        });
    };
    registration.state = change(&registration.state);
    registration.updated_at = now;
    store_state(client, key, &registration.state, now).await?;
    Ok(registration)
}

/// Registers a piece (it must exist), in the caller's transaction;
/// registering again re-initialises it and takes the new integration label.
pub async fn register(
    client: &impl GenericClient,
    key: &RegistrationKey,
    integration: &str,
    now: EpochMillis,
) -> Result<Registration, StoreError> {
    const CONTEXT: &str = "registering a piece";
    if pieces::info(client, &key.space, &key.piece_id)
        .await?
        .is_none()
    {
        return Err(StoreError::PieceNotFound {
            space: key.space.clone(),
            piece_id: key.piece_id.clone(),
        });
    }
    // Insert a fresh row, or lock the existing one: no race either way.
    let state = RegistrationState::initializing(now);
    let statement = client
        .prepare_cached(
            "INSERT INTO registrations
                (space, piece_id, integration, created_at, updated_at, status, next_run, phase)
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7)
             ON CONFLICT (space, piece_id) DO NOTHING",
        )
        .await
        .context(CONTEXT)?;
    let inserted = client
        .execute(
            &statement,
            &[
                &key.space,
                &key.piece_id.as_str(),
                &integration,
                &now,
                &state.status,
                &state.next_run,
                &state.phase.as_str(),
            ],
        )
        .await
        .context(CONTEXT)?;
    if inserted == 1 {
        return Ok(Registration {
            space: key.space.clone(),
            piece_id: key.piece_id.clone(),
            integration: integration.to_owned(),
            created_at: now,
            updated_at: now,
            state,
            claimed_by: None,
        });
    }
    let mut registration = update(client, key, now, |state| state.reinitialized(now)).await?;
    let statement = client
        .prepare_cached(
            "UPDATE registrations SET integration = $3 WHERE space = $1 AND piece_id = $2",
        )
        .await
        .context(CONTEXT)?;
    client
        .execute(
            &statement,
            &[&key.space, &key.piece_id.as_str(), &integration],
        )
        .await
        .context(CONTEXT)?;
    registration.integration = integration.to_owned();
    Ok(registration)
}

/// Deletes a registration; whether there was one.
pub async fn unregister(
    client: &impl GenericClient,
    key: &RegistrationKey,
) -> Result<bool, StoreError> {
    let deleted = client
        .execute(
            "DELETE FROM registrations WHERE space = $1 AND piece_id = $2",
            &[&key.space, &key.piece_id.as_str()],
        )
        .await
        .context("unregistering a piece")?;
    Ok(deleted > 0)
}

/// Registrations, sorted by space then piece id.
pub async fn list(
    client: &impl GenericClient,
    filter: &RegistrationFilter,
) -> Result<Vec<Registration>, StoreError> {
    const CONTEXT: &str = "listing registrations";
    let sql = format!(
        "SELECT {COLUMNS} FROM registrations
         WHERE ($1::TEXT IS NULL OR space = $1)
           AND ($2::TEXT[] IS NULL OR integration = ANY($2))
         ORDER BY space, piece_id"
    );
    let statement = client.prepare_cached(&sql).await.context(CONTEXT)?;
    client
        .query(
            &statement,
            &[&filter.space, &integration_names(&filter.integrations)],
        )
        .await
        .context(CONTEXT)?
        .iter()
        .map(|row| from_row(row, CONTEXT))
        .collect()
}

/// Inserts registrations as they are (for `store migrate`).
pub async fn insert_all(
    client: &impl GenericClient,
    registrations: &[Registration],
) -> Result<(), StoreError> {
    const CONTEXT: &str = "copying a registration";
    let statement = client
        .prepare_cached(
            "INSERT INTO registrations
                (space, piece_id, integration, created_at, updated_at, status, next_run, phase)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await
        .context(CONTEXT)?;
    for registration in registrations {
        let state = &registration.state;
        client
            .execute(
                &statement,
                &[
                    &registration.space,
                    &registration.piece_id.as_str(),
                    &registration.integration,
                    &registration.created_at,
                    &registration.updated_at,
                    &state.status,
                    &state.next_run,
                    &state.phase.as_str(),
                ],
            )
            .await
            .context(CONTEXT)?;
        store_state(client, &registration.key(), state, registration.updated_at).await?;
    }
    Ok(())
}

/// Registrations by phase: one grouped count.
pub async fn count_by_phase(client: &impl GenericClient) -> Result<PhaseCounts, StoreError> {
    const CONTEXT: &str = "counting registrations by phase";
    let rows = client
        .query(
            "SELECT phase, count(*) AS n FROM registrations GROUP BY phase",
            &[],
        )
        .await
        .context(CONTEXT)?;
    let mut counts = PhaseCounts::default();
    for row in &rows {
        let row = Columns::new(row, CONTEXT);
        let phase = row.parsed("phase", |text| {
            Phase::parse(text).ok_or_else(|| format!("unknown phase {text:?}"))
        })?;
        counts.add(phase, row.unsigned("n")?);
    }
    Ok(counts)
}
