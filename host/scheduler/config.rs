//! How the scheduler is tuned; the daemon's flags map onto these fields.

use super::committer::GroupCommit;
use super::policy::RetryPolicy;
use crate::store::IntegrationFilter;
use std::num::NonZeroUsize;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// `--interval` and `--max-failures`.
    pub policy: RetryPolicy,
    /// Spaces running at once (`--concurrency`).
    pub concurrency: NonZeroUsize,
    /// How long a stop waits for runs in flight (`--grace`, default 10 s).
    pub grace: Duration,
    /// The integrations served (`--integration`, repeatable; none = all).
    pub integrations: IntegrationFilter,
    /// Registrations claimed per store round trip; a full batch is followed at
    /// once by another, so this only bounds one transaction's size.
    pub claim_batch: usize,
    /// The longest the loop sleeps without looking at the store, so work
    /// added by another daemon sharing the database is noticed (`--max-idle`).
    pub max_idle: Duration,
    /// How finished runs are grouped into commits (`--commit-delay`).
    pub group_commit: GroupCommit,
    /// On a store shared by several daemons, how long a manual run waits for
    /// its space's lease while another node holds it (the daemon sets the
    /// lease ttl plus a run's wall-clock limit), before it is refused.
    pub manual_lease_wait: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            policy: RetryPolicy::default(),
            concurrency: NonZeroUsize::new(16).unwrap_or(NonZeroUsize::MIN),
            grace: Duration::from_secs(10),
            integrations: IntegrationFilter::all(),
            claim_batch: 512,
            max_idle: Duration::from_secs(1),
            group_commit: GroupCommit::default(),
            manual_lease_wait: Duration::from_secs(75),
        }
    }
}
