//! The `space_leases` and `nodes` tables: which node runs each space, the
//! fencing check of a run's commit, the heartbeat, and the recovery of the
//! claims whose lease is gone (see `store/lease.rs` for the idea).
//!
//! Every expiry is computed and compared on the database's clock
//! (`clock_timestamp()`), so the nodes' clocks do not matter. A lease row is
//! only ever changed under its row lock (`ON CONFLICT DO UPDATE`, `UPDATE`,
//! `DELETE`, `FOR SHARE`), each of which re-reads the newest version of the
//! row, so a renewal, a takeover, an expiry and a commit's fencing check
//! never interleave. Recovery compares no clock: it deletes the expired
//! leases (under their row locks), then releases the dispatched
//! registrations whose lease token no lease row has any more.

use super::rows::Columns;
use crate::store::error::{PostgresContext, StoreError};
use crate::store::{Heartbeat, LeaseConfig, LeaseToken, NodeStatus, RegistrationKey, SpaceLease};
use deadpool_postgres::GenericClient;
use std::sync::LazyLock;
use std::time::Duration;

/// Milliseconds, as bound into `$n * interval '1 millisecond'`.
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The upsert that takes the lease of each space `source` (a query with a
/// `space` column) names, for node `$node` for `$ttl` ms: a free or expired
/// lease is taken under a new token, this node's live lease is renewed under
/// its token, and another node's live lease is left alone (its space is not
/// returned). On a conflict the row is locked and the `WHERE` re-checked on
/// its newest version, so of two nodes racing for a free space exactly one
/// gets it.
pub fn take_leases_sql(source: &str, node: &str, ttl: &str) -> String {
    format!(
        "INSERT INTO space_leases AS l (space, node, token, expires_at)
         SELECT s.space, {node}, nextval('lease_tokens'),
                clock_timestamp() + {ttl}::BIGINT * interval '1 millisecond'
         FROM (SELECT DISTINCT space FROM {source}) AS s
         ON CONFLICT (space) DO UPDATE SET
             token = CASE WHEN l.node = EXCLUDED.node AND l.expires_at > clock_timestamp()
                          THEN l.token ELSE EXCLUDED.token END,
             node = EXCLUDED.node,
             expires_at = EXCLUDED.expires_at
         WHERE l.node = EXCLUDED.node OR l.expires_at <= clock_timestamp()
         RETURNING l.space, l.token"
    )
}

/// [`take_leases_sql`] for the spaces bound as `$1`.
static TAKE_LEASES: LazyLock<String> =
    LazyLock::new(|| take_leases_sql("unnest($1::TEXT[]) AS given(space)", "$2::TEXT", "$3"));

/// Takes (or renews) the leases of `spaces` for this node, in the caller's
/// transaction; returns the spaces it holds now, with their tokens.
pub async fn take(
    client: &impl GenericClient,
    lease: &LeaseConfig,
    spaces: &[&str],
) -> Result<Vec<(String, LeaseToken)>, StoreError> {
    const CONTEXT: &str = "taking space leases";
    if spaces.is_empty() {
        return Ok(Vec::new());
    }
    let statement = client.prepare_cached(&TAKE_LEASES).await.context(CONTEXT)?;
    client
        .query(
            &statement,
            &[&spaces, &lease.node.as_str(), &millis(lease.ttl)],
        )
        .await
        .context(CONTEXT)?
        .iter()
        .map(|row| {
            let row = Columns::new(row, CONTEXT);
            Ok((row.get("space")?, LeaseToken(row.get("token")?)))
        })
        .collect()
}

/// Takes `space`'s lease for a manual run, or says who holds it.
pub async fn acquire(
    client: &impl GenericClient,
    lease: &LeaseConfig,
    space: &str,
) -> Result<SpaceLease, StoreError> {
    const CONTEXT: &str = "taking a space's lease";
    if let Some((_, token)) = take(client, lease, &[space]).await?.pop() {
        return Ok(SpaceLease::Held(token));
    }
    let row = client
        .query_opt(
            "SELECT node, greatest(0, extract(epoch FROM expires_at - clock_timestamp()) * 1000)
                    ::BIGINT AS left_ms
             FROM space_leases WHERE space = $1",
            &[&space],
        )
        .await
        .context(CONTEXT)?;
    match row {
        Some(row) => {
            let row = Columns::new(&row, CONTEXT);
            let left: i64 = row.get("left_ms")?;
            Ok(SpaceLease::Busy {
                node: row.get("node")?,
                expires_in: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
            })
        }
        // Given back between the two statements: try again at once.
        None => Ok(SpaceLease::Busy {
            node: String::new(),
            expires_in: Duration::ZERO,
        }),
    }
}

/// The fencing check of a run's commit, in the commit's transaction: whether
/// `node` still holds `space`'s live lease under `token`. The lease row is
/// locked (`FOR SHARE`) until the commit ends, so it cannot expire into
/// another node's hands halfway.
pub async fn still_held(
    client: &impl GenericClient,
    space: &str,
    node: &str,
    token: LeaseToken,
) -> Result<bool, StoreError> {
    const CONTEXT: &str = "checking the space lease of a run's commit";
    let statement = client
        .prepare_cached(
            "SELECT 1 FROM space_leases
             WHERE space = $1 AND node = $2 AND token = $3 AND expires_at > clock_timestamp()
             FOR SHARE",
        )
        .await
        .context(CONTEXT)?;
    Ok(client
        .query_opt(&statement, &[&space, &node, &token.0])
        .await
        .context(CONTEXT)?
        .is_some())
}

/// One heartbeat of this node, statement by statement (each its own
/// transaction): renews its live leases on `active` spaces and records the
/// beat; gives back its leases on other spaces that were not taken within
/// the last heartbeat period (a claim may be on its way to the queue); then
/// recovers the claims of expired leases.
pub async fn heartbeat(
    client: &impl GenericClient,
    lease: &LeaseConfig,
    active: &[String],
) -> Result<Heartbeat, StoreError> {
    const CONTEXT: &str = "renewing space leases";
    let statement = client
        .prepare_cached(
            "WITH renewed AS (
                UPDATE space_leases
                SET expires_at = clock_timestamp() + $3::BIGINT * interval '1 millisecond'
                WHERE node = $1 AND space = ANY($2::TEXT[]) AND expires_at > clock_timestamp()
                RETURNING space
             ), released AS (
                DELETE FROM space_leases
                WHERE node = $1 AND NOT (space = ANY($2::TEXT[]))
                  AND expires_at < clock_timestamp() + ($3::BIGINT - $4::BIGINT) * interval '1 millisecond'
             ), beat AS (
                INSERT INTO nodes (node, started_at, heartbeat_at)
                VALUES ($1, clock_timestamp(), clock_timestamp())
                ON CONFLICT (node) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at
             )
             SELECT space FROM renewed",
        )
        .await
        .context(CONTEXT)?;
    let renewed: Vec<String> = client
        .query(
            &statement,
            &[
                &lease.node.as_str(),
                &active,
                &millis(lease.ttl),
                &millis(lease.heartbeat_every()),
            ],
        )
        .await
        .context(CONTEXT)?
        .iter()
        .map(|row| Columns::new(row, CONTEXT).get::<String>("space"))
        .collect::<Result<_, _>>()?;
    let lost = active
        .iter()
        .filter(|space| !renewed.contains(space))
        .cloned()
        .collect();
    Ok(Heartbeat {
        renewed: renewed.len(),
        lost,
        released: recover(client).await?,
    })
}

/// Deletes the expired leases, then puts back in the schedule every
/// dispatched registration whose lease token no lease has any more (its node
/// died, stalled past its ttl, or gave the space up): scheduled, or disabled
/// if it was disabled meanwhile, keeping its due time (overdue, so claimed at
/// once). Returns them.
pub async fn recover(client: &impl GenericClient) -> Result<Vec<RegistrationKey>, StoreError> {
    const CONTEXT: &str = "recovering the claims of expired leases";
    client
        .execute(
            "DELETE FROM space_leases WHERE expires_at <= clock_timestamp()",
            &[],
        )
        .await
        .context(CONTEXT)?;
    release_orphans(client).await
}

/// Puts back the dispatched registrations no lease covers.
async fn release_orphans(client: &impl GenericClient) -> Result<Vec<RegistrationKey>, StoreError> {
    const CONTEXT: &str = "releasing claims whose lease is gone";
    let statement = client
        .prepare_cached(
            "UPDATE registrations AS r
             SET phase = CASE WHEN disabled_at = 0 THEN 'scheduled' ELSE 'disabled' END,
                 claimed_at = NULL, claimed_by = NULL, lease_token = NULL
             WHERE phase = 'dispatched' AND NOT EXISTS (
                SELECT 1 FROM space_leases AS l
                WHERE l.space = r.space AND l.token = r.lease_token)
             RETURNING space, piece_id",
        )
        .await
        .context(CONTEXT)?;
    let mut released = client
        .query(&statement, &[])
        .await
        .context(CONTEXT)?
        .iter()
        .map(|row| Columns::new(row, CONTEXT).key())
        .collect::<Result<Vec<_>, StoreError>>()?;
    released.sort();
    Ok(released)
}

/// A node's start: the leases its previous run (same node id) left are
/// given back, since nothing of that run is in flight any more, and the node
/// is recorded. Then the claims no lease covers are released (returned).
pub async fn start(
    client: &impl GenericClient,
    lease: &LeaseConfig,
) -> Result<Vec<RegistrationKey>, StoreError> {
    const CONTEXT: &str = "starting this node";
    leave(client, lease).await?;
    // Nodes gone for a day are forgotten (a default node id is new on every
    // start).
    client
        .execute(
            "DELETE FROM nodes WHERE heartbeat_at < clock_timestamp() - interval '1 day'",
            &[],
        )
        .await
        .context(CONTEXT)?;
    client
        .execute(
            "INSERT INTO nodes (node, started_at, heartbeat_at)
             VALUES ($1, clock_timestamp(), clock_timestamp())
             ON CONFLICT (node) DO UPDATE SET started_at = EXCLUDED.started_at,
                                              heartbeat_at = EXCLUDED.heartbeat_at",
            &[&lease.node.as_str()],
        )
        .await
        .context(CONTEXT)?;
    recover(client).await
}

/// Gives back every lease of this node.
pub async fn leave(client: &impl GenericClient, lease: &LeaseConfig) -> Result<(), StoreError> {
    client
        .execute(
            "DELETE FROM space_leases WHERE node = $1",
            &[&lease.node.as_str()],
        )
        .await
        .context("giving back this node's leases")?;
    Ok(())
}

/// The nodes whose last heartbeat is at most `within` old, by name, with
/// the registrations dispatched to each and its live leases.
pub async fn nodes(
    client: &impl GenericClient,
    within: Duration,
) -> Result<Vec<NodeStatus>, StoreError> {
    const CONTEXT: &str = "listing the nodes";
    client
        .query(
            "SELECT n.node,
                greatest(0, extract(epoch FROM clock_timestamp() - n.heartbeat_at) * 1000)::BIGINT
                    AS heartbeat_age_ms,
                (SELECT count(*) FROM registrations AS r
                 WHERE r.phase = 'dispatched' AND r.claimed_by = n.node) AS dispatched,
                (SELECT count(*) FROM space_leases AS l
                 WHERE l.node = n.node AND l.expires_at > clock_timestamp()) AS leases
             FROM nodes AS n
             WHERE n.heartbeat_at > clock_timestamp() - $1::BIGINT * interval '1 millisecond'
             ORDER BY n.node",
            &[&millis(within)],
        )
        .await
        .context(CONTEXT)?
        .iter()
        .map(|row| {
            let row = Columns::new(row, CONTEXT);
            Ok(NodeStatus {
                node: row.get("node")?,
                heartbeat_age_ms: row.unsigned("heartbeat_age_ms")?,
                dispatched: row.unsigned("dispatched")?,
                leases: row.unsigned("leases")?,
            })
        })
        .collect()
}
