//! Space leases: how several daemons on one database keep a space running one
//! piece at a time, and how a node that lost its lease is kept from
//! committing a stale run (fencing).
//!
//! A node claims a space's due runs only together with the space's lease (a
//! row naming the node, a fencing token and an expiry on the database's
//! clock). Its heartbeat renews the leases of the spaces it has work in and
//! gives back the others; a run's commit is applied only while the node
//! still holds the lease under the token it claimed with. When a node dies
//! or stalls, its leases expire, any node's heartbeat puts its claimed runs
//! back in the schedule, and another node takes the space.
//!
//! Only a store shared by several daemons has leases ([`SpaceLeases`],
//! PostgreSQL); the embedded SQLite store is one daemon's alone.

use super::{RegistrationKey, StoreFuture};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The longest node id.
pub const MAX_NODE_ID_LEN: usize = 64;
/// The default `--lease-ttl`.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);
/// The shortest `--lease-ttl`.
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(1);

/// A daemon's name among the nodes sharing a database (`--node-id`): 1 to 64
/// of `A-Z a-z 0-9 . _ -`. Each running node needs its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct NodeId(String);

/// A node id that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the node id {given:?} {reason}; use 1 to {MAX_NODE_ID_LEN} letters, digits, '.', '_' or '-' \
     (e.g. --node-id worker-1)"
)]
pub struct NodeIdError {
    pub given: String,
    pub reason: &'static str,
}

impl NodeId {
    /// `<hostname>-<pid>`: unique among the daemons running now, new on
    /// every start. Characters a node id cannot hold become `-`.
    pub fn default_for_this_process() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default();
        let host = host.trim();
        let pid = std::process::id().to_string();
        let room = MAX_NODE_ID_LEN - pid.len() - 1;
        let host: String = host
            .chars()
            .map(|c| if is_node_id_char(c) { c } else { '-' })
            .take(room)
            .collect();
        let host = if host.is_empty() { "node".into() } else { host };
        Self(format!("{host}-{pid}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_node_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl FromStr for NodeId {
    type Err = NodeIdError;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let fail = |reason| NodeIdError {
            given: given.to_owned(),
            reason,
        };
        if given.is_empty() {
            return Err(fail("is empty"));
        }
        if given.len() > MAX_NODE_ID_LEN {
            return Err(fail("is too long"));
        }
        if !given.chars().all(is_node_id_char) {
            return Err(fail(
                "has a character other than a letter, digit, '.', '_' or '-'",
            ));
        }
        Ok(Self(given.to_owned()))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who this node is and how long its leases last (`--node-id`,
/// `--lease-ttl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    pub node: NodeId,
    /// How long a lease lasts without renewal; at least [`MIN_LEASE_TTL`].
    pub ttl: Duration,
}

impl LeaseConfig {
    /// This process's default node id and the default ttl.
    pub fn default_for_this_process() -> Self {
        Self {
            node: NodeId::default_for_this_process(),
            ttl: DEFAULT_LEASE_TTL,
        }
    }

    /// How often the heartbeat renews this node's leases: a third of the
    /// ttl, so two heartbeats can be missed before a lease expires.
    pub fn heartbeat_every(&self) -> Duration {
        self.ttl / 3
    }
}

/// The fencing token of a space lease: new each time a space changes hands
/// (or its lease lapsed), the same while one node keeps renewing it. A run
/// carries the token it was claimed under, and its commit is refused unless
/// the lease still has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseToken(pub i64);

/// What asking for a space's lease got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpaceLease {
    /// This node holds it (it already did, or took it now).
    Held(LeaseToken),
    /// Another node holds it, for about `expires_in` more.
    Busy { node: String, expires_in: Duration },
}

/// What one heartbeat did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heartbeat {
    /// Leases of this node renewed.
    pub renewed: usize,
    /// Spaces with work on this node whose lease is no longer this node's
    /// (it expired, or another node took it): their runs' commits are
    /// refused.
    pub lost: Vec<String>,
    /// Claims whose lease is gone (their node died or lost it), put back in
    /// the schedule; they are due at once.
    pub released: Vec<RegistrationKey>,
}

/// A node as the others see it (for `/healthz`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub node: String,
    /// How long ago its last heartbeat was, on the database's clock.
    pub heartbeat_age_ms: u64,
    /// Registrations dispatched to it.
    pub dispatched: u64,
    /// Spaces whose live lease it holds.
    pub leases: u64,
}

/// A store's space leases, when several daemons share it.
pub trait SpaceLeases: Send + Sync {
    /// This node's lease settings.
    fn lease_config(&self) -> &LeaseConfig;

    /// Renews this node's leases on `active_spaces` (work queued or
    /// running), gives back its other leases, records that the node is alive,
    /// and puts the claims of expired leases (any node's) back in the
    /// schedule.
    fn heartbeat(&self, active_spaces: Vec<String>) -> StoreFuture<'_, Heartbeat>;

    /// Takes `space`'s lease for a run this node was asked for, unless a
    /// live lease of another node has it.
    fn acquire_space(&self, space: &str) -> StoreFuture<'_, SpaceLease>;

    /// Gives back every lease of this node (it stops, its runs are done), so
    /// other nodes take its spaces at once rather than after the ttl.
    fn leave(&self) -> StoreFuture<'_, ()>;

    /// The nodes that sent a heartbeat within the last `within`, each with
    /// what it holds.
    fn nodes(&self, within: Duration) -> StoreFuture<'_, Vec<NodeStatus>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_short_and_plain() {
        assert_eq!("w-1.a_B".parse::<NodeId>().unwrap().as_str(), "w-1.a_B");
        assert_eq!("x".repeat(64).parse::<NodeId>().unwrap().as_str().len(), 64);
        for (bad, reason) in [
            ("", "is empty"),
            ("a b", "has a character"),
            ("a/b", "has a character"),
            ("é", "has a character"),
            (&"x".repeat(65), "is too long"),
        ] {
            let error = bad.parse::<NodeId>().unwrap_err();
            assert!(error.reason.starts_with(reason), "{bad:?}: {error}");
            assert!(error.to_string().contains("--node-id"), "{error}");
        }
    }

    #[test]
    fn the_default_node_id_is_a_valid_one_naming_this_process() {
        let id = NodeId::default_for_this_process();
        assert_eq!(id.as_str().parse::<NodeId>().unwrap(), id);
        assert!(
            id.as_str().ends_with(&format!("-{}", std::process::id())),
            "{id}"
        );
        let config = LeaseConfig::default_for_this_process();
        assert_eq!(config.heartbeat_every(), DEFAULT_LEASE_TTL / 3);
    }
}
