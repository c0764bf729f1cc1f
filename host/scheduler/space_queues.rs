//! One queue per space, each drained by one worker task: the guarantee that a
//! space runs one piece at a time, whoever asked for the run.
//!
//! A space's entry exists exactly while its worker lives, so a job pushed to
//! an existing entry is picked up by that worker, and a job pushed to a new
//! entry needs a new worker. Stopping and draining happen under the same lock
//! as pushing and popping, so no job slips past a stop.

use super::SchedulerError;
use crate::metrics::Metrics;
use crate::sandbox::RunOutcome;
use crate::store::{ClaimedRun, LeaseToken, RegistrationKey};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::{oneshot, watch};

/// A run waiting for its space.
pub enum Job {
    /// Found due and claimed by the scheduler.
    Scheduled(ClaimedRun),
    /// Asked for through the API; the outcome goes back on `reply`.
    Manual {
        key: RegistrationKey,
        /// The space lease it runs under, on a store shared by several
        /// daemons.
        lease: Option<LeaseToken>,
        reply: oneshot::Sender<Result<RunOutcome, SchedulerError>>,
    },
}

impl Job {
    pub fn key(&self) -> &RegistrationKey {
        match self {
            Self::Scheduled(claimed) => &claimed.key,
            Self::Manual { key, .. } => key,
        }
    }
}

/// What pushing a job did.
pub enum Pushed {
    /// The space had no worker: start one.
    NeedsWorker,
    /// The space's worker will get to it.
    Queued,
    /// The scheduler is stopping; the job comes back.
    Refused(Job),
}

#[derive(Default)]
struct Queues {
    stopping: bool,
    by_space: HashMap<String, VecDeque<Job>>,
}

pub struct SpaceQueues {
    queues: Mutex<Queues>,
    live_workers: watch::Sender<usize>,
    /// `bgwasm_queued_runs` follows every push and pop.
    metrics: Metrics,
}

impl SpaceQueues {
    pub fn new(metrics: Metrics) -> Self {
        Self {
            queues: Mutex::new(Queues::default()),
            live_workers: watch::Sender::new(0),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queues> {
        // Nothing here panics while holding the lock; a poisoned lock still
        // holds consistent queues.
        self.queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn push(&self, job: Job) -> Pushed {
        let mut queues = self.lock();
        if queues.stopping {
            return Pushed::Refused(job);
        }
        let space = job.key().space.clone();
        self.metrics.queued_run_added();
        match queues.by_space.get_mut(&space) {
            Some(queue) => {
                queue.push_back(job);
                Pushed::Queued
            }
            None => {
                queues.by_space.insert(space, VecDeque::from([job]));
                self.live_workers.send_modify(|n| *n += 1);
                Pushed::NeedsWorker
            }
        }
    }

    /// Whether the worker has nothing to run: its queue is empty or the
    /// scheduler is stopping.
    pub fn is_idle(&self, space: &str) -> bool {
        Self::idle(&self.lock(), space)
    }

    fn idle(queues: &Queues, space: &str) -> bool {
        queues.stopping || queues.by_space.get(space).is_none_or(VecDeque::is_empty)
    }

    /// Retires the worker if it is idle ([`Self::is_idle`]); checked before
    /// waiting for a permit, so an idle worker does not queue for one.
    pub fn retire_if_idle(&self, space: &str) -> bool {
        let mut queues = self.lock();
        let idle = Self::idle(&queues, space);
        if idle && queues.by_space.remove(space).is_some() {
            self.live_workers.send_modify(|n| *n = n.saturating_sub(1));
        }
        idle
    }

    /// The space's next job, or `None` if it is idle; only
    /// [`Self::retire_if_idle`] retires the worker, so one that still
    /// finishes commits keeps its space's entry (and a stop waits for it).
    pub fn next(&self, space: &str) -> Option<Job> {
        let mut queues = self.lock();
        if queues.stopping {
            return None;
        }
        let job = queues
            .by_space
            .get_mut(space)
            .and_then(VecDeque::pop_front)?;
        self.metrics.queued_runs_removed(1);
        Some(job)
    }

    /// Refuses further jobs and hands back every queued one.
    pub fn stop(&self) -> Vec<Job> {
        let mut queues = self.lock();
        queues.stopping = true;
        let drained: Vec<Job> = queues
            .by_space
            .values_mut()
            .flat_map(|queue| queue.drain(..))
            .collect();
        self.metrics.queued_runs_removed(drained.len());
        drained
    }

    /// Spaces with a worker, and jobs waiting behind the running ones.
    pub fn load(&self) -> (usize, usize) {
        let queues = self.lock();
        (
            queues.by_space.len(),
            queues.by_space.values().map(VecDeque::len).sum(),
        )
    }

    /// The spaces with work queued or running (their leases are renewed).
    pub fn active_spaces(&self) -> Vec<String> {
        self.lock().by_space.keys().cloned().collect()
    }

    /// Resolves once every worker has retired.
    pub async fn all_retired(&self) {
        let mut live = self.live_workers.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = live.wait_for(|n| *n == 0).await;
    }
}
