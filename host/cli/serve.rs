//! `bgwasm serve`'s flags, and the daemon's configuration they make.

use super::duration::parse_duration;
use super::flags::{EgressArgs, LimitArgs};
use super::store::store_url;
use crate::api;
use crate::identity::operator_identity_from_env;
use crate::scheduler::{GroupCommit, RetryPolicy, SchedulerConfig};
use crate::serve::ServeConfig;
use crate::store::{IntegrationFilter, LeaseConfig, MIN_LEASE_TTL, NodeId, StoreUrl};
use clap::Args;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

/// The data directory of the embedded store when nothing else is given.
const DEFAULT_DATA_DIR: &str = "bgwasm-data";

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  bgwasm serve                                   data in ./bgwasm-data, API on 127.0.0.1:8000\n  \
    bgwasm serve --data-dir /var/lib/bgwasm --listen 0.0.0.0:8000 --concurrency 64\n  \
    bgwasm serve --store postgres://bgwasm@db.internal:5432/bgwasm   several daemons, one database\n  \
    bgwasm serve --integration gmail --integration gcal   serve only these integrations\n  \
    bgwasm serve --interval 200ms                  a fast schedule, for tests\n  \
    bgwasm serve --metrics-listen 127.0.0.1:9464   Prometheus metrics at http://127.0.0.1:9464/metrics"
)]
pub struct ServeArgs {
    /// The store: `sqlite:///path/to/data-dir` (embedded) or
    /// `postgres://user@host:port/database` (shared by several daemons).
    /// Without it: --data-dir, else $DATABASE_URL, else ./bgwasm-data.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Where the embedded SQLite database lives (created if missing); the
    /// same as --store sqlite://DIR [default: bgwasm-data].
    #[arg(long, value_name = "DIR", env = "BGWASM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The address of the HTTP API.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8000",
        env = "BGWASM_LISTEN"
    )]
    pub listen: SocketAddr,
    /// Also serve Prometheus metrics, at `GET /metrics` on this address (the API
    /// listener never serves them). Off by default.
    #[arg(long, value_name = "ADDR", env = "BGWASM_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Time from the end of one run of a piece to the start of its next (60, 60s, 200ms, 5m).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Spaces running at once. A space always runs one piece at a time.
    #[arg(long, value_name = "N", default_value = "32")]
    pub concurrency: NonZeroUsize,
    /// Consecutive failures after which a piece is disabled.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_failures: u32,
    /// On SIGINT or SIGTERM, how long to wait for runs in flight before exiting
    /// (10, 1.5s, 500ms, 1m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub grace: Duration,
    /// Group commit: how long a finished run waits for others to share its
    /// transaction (one disk sync for the group). Each run is acknowledged
    /// only once its group is on disk. 0 still groups the runs that finish
    /// while a commit is syncing.
    #[arg(long, value_name = "DURATION", default_value = "1ms", value_parser = parse_duration)]
    pub commit_delay: Duration,
    /// The longest an idle daemon waits before looking for due pieces again,
    /// in case another daemon sharing the store left it work. On PostgreSQL,
    /// a piece registered or enabled through any daemon wakes idle ones at
    /// once (LISTEN/NOTIFY), so this can be long.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub max_idle: Duration,
    /// Serve only the pieces of this integration (repeatable), so several
    /// daemons can split the work.
    #[arg(long = "integration", value_name = "NAME")]
    pub integrations: Vec<String>,
    /// This daemon's name among the nodes sharing a PostgreSQL store: 1 to 64
    /// letters, digits, '.', '_' or '-', unique among the running nodes
    /// (status shows which node holds each dispatched piece). Default:
    /// <hostname>-<pid>. Ignored by the SQLite store (one daemon per data
    /// directory).
    #[arg(long, value_name = "NAME", env = "BGWASM_NODE_ID")]
    pub node_id: Option<NodeId>,
    /// How long a node's lease on a space lasts without renewal (PostgreSQL):
    /// its heartbeat renews it every third of this, and when a node dies or
    /// stalls longer, its pieces go to another node and its late commits are
    /// refused (1s at least). Ignored by the SQLite store.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_lease_ttl)]
    pub lease_ttl: Duration,
    /// Sandboxes kept alive at most (about 0.2 MiB each when idle). Past it,
    /// the least recently used idle ones are dropped; their next run starts a
    /// fresh instance. The instance slots (4 GiB of address space each) are
    /// reserved for this many and an eighth more at start; above 7,254,
    /// instances are allocated one by one instead (slower to make).
    #[arg(long, value_name = "N", default_value_t = crate::sandbox::DEFAULT_MAX_LIVE_SANDBOXES)]
    pub max_live_sandboxes: usize,
    /// Largest request body the API accepts, in bytes (413 past it).
    #[arg(long, value_name = "BYTES", default_value_t = api::DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// The operator's keyfile (PEM). The operator may act on every space, and
    /// the daemon's DID, which signed requests must name as their audience, is
    /// the operator's.
    #[arg(long, value_name = "FILE", env = "IDENTITY")]
    pub identity: Option<PathBuf>,
    /// The operator's passphrase, when there is no keyfile. The default is the
    /// reference service's well-known "implicit trust": set one of the two.
    #[arg(
        long,
        value_name = "PASSPHRASE",
        env = "OPERATOR_PASS",
        hide_env_values = true
    )]
    pub operator_pass: Option<String>,
    /// Let unsigned `POST /api/integrations/bg` through, for reference clients
    /// that cannot sign. Anyone who can reach the API can then register pieces.
    #[arg(long)]
    pub insecure_open_registration: bool,
    /// The most bytes each run's record for replay may hold (fetched bodies,
    /// cells read, clock readings); a run that needs more is recorded up to
    /// the cap and marked truncated. 0 records nothing.
    #[arg(long, value_name = "BYTES", default_value_t = crate::sandbox::DEFAULT_RECORD_BYTES)]
    pub record_bytes: usize,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub egress: EgressArgs,
}

impl ServeArgs {
    /// The daemon's configuration: the limits checked and the operator's key
    /// read (call it after logging is set up: a default key is warned about).
    pub fn config(&self) -> anyhow::Result<ServeConfig> {
        if self.metrics_listen == Some(self.listen) {
            anyhow::bail!(
                "--metrics-listen {} is the API's --listen address; give the metrics an address of \
                 their own (the API never serves /metrics), e.g. 127.0.0.1:9464",
                self.listen
            );
        }
        let store = store_url(self.store.as_deref(), self.data_dir.as_deref(), true)?
            .unwrap_or_else(|| StoreUrl::sqlite(DEFAULT_DATA_DIR));
        let lease = LeaseConfig {
            node: self
                .node_id
                .clone()
                .unwrap_or_else(NodeId::default_for_this_process),
            ttl: self.lease_ttl,
        };
        let limits = self.limits.limits().map_err(anyhow::Error::msg)?;
        Ok(ServeConfig {
            store,
            manual_lease_wait: lease.ttl + limits.timeout,
            lease,
            listen: self.listen,
            metrics_listen: self.metrics_listen,
            scheduler: SchedulerConfig {
                policy: RetryPolicy {
                    interval: self.interval,
                    max_failures: self.max_failures,
                },
                concurrency: self.concurrency,
                grace: self.grace,
                integrations: IntegrationFilter::only(self.integrations.clone()),
                group_commit: GroupCommit {
                    delay: self.commit_delay,
                    ..GroupCommit::default()
                },
                max_idle: self.max_idle,
                ..SchedulerConfig::default()
            },
            max_live_sandboxes: self.max_live_sandboxes,
            body_limit: self.body_limit,
            record_bytes: self.record_bytes,
            operator: operator_identity_from_env(
                self.identity.as_deref(),
                self.operator_pass.as_deref(),
            )?,
            insecure_open_registration: self.insecure_open_registration,
            limits,
            egress: self.egress.policy(),
        })
    }
}

/// `--lease-ttl`: a duration of at least [`MIN_LEASE_TTL`].
fn parse_lease_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl < MIN_LEASE_TTL {
        return Err(format!(
            "a lease ttl of {} is too short for a heartbeat to renew it in time; use at least {}",
            humantime::format_duration(ttl),
            humantime::format_duration(MIN_LEASE_TTL)
        ));
    }
    Ok(ttl)
}
