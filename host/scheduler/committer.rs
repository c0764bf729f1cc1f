//! Group commit: runs finish one at a time, but their results reach the
//! store in batches, so one transaction (one durable sync) covers many runs.
//!
//! A run hands its result to the [`Committer`] and waits. The committer's
//! task takes the first result that arrives, gathers whatever else arrives
//! within [`GroupCommit::delay`] (up to [`GroupCommit::max_batch`]), commits
//! the batch with [`Store::commit_runs`], and only then answers each run. So
//! a run is acknowledged only once it is on disk, exactly as with one
//! transaction per run, and a `kill -9` mid-batch loses the whole batch's
//! commit but none of its claims: the next start releases them and the runs
//! happen again.

use crate::store::{CommittedRun, FinishedRun, RunTransition, Store, StoreError};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How runs are grouped into commits (`--commit-delay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommit {
    /// How long the first run of a batch waits for others to join it. Zero
    /// still groups the runs that finished while the last commit was syncing.
    pub delay: Duration,
    /// Runs per transaction at most.
    pub max_batch: usize,
}

impl Default for GroupCommit {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(1),
            max_batch: 1024,
        }
    }
}

/// What the committer has done since the daemon started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitStats {
    /// Transactions committed (or failed).
    pub groups: u64,
    /// Runs in them.
    pub runs: u64,
}

#[derive(Default)]
struct Counters {
    groups: AtomicU64,
    runs: AtomicU64,
}

struct Pending {
    run: FinishedRun,
    transition: RunTransition,
    reply: oneshot::Sender<Result<CommittedRun, StoreError>>,
}

/// Commits runs in groups. Its task starts with the first commit (so it can
/// be built outside a runtime) and ends when the committer is dropped.
pub struct Committer {
    store: Arc<dyn Store>,
    config: GroupCommit,
    sender: OnceLock<mpsc::UnboundedSender<Pending>>,
    counters: Arc<Counters>,
}

impl Committer {
    pub fn new(store: Arc<dyn Store>, config: GroupCommit) -> Self {
        Self {
            store,
            config,
            sender: OnceLock::new(),
            counters: Arc::default(),
        }
    }

    pub fn stats(&self) -> CommitStats {
        CommitStats {
            groups: self.counters.groups.load(Ordering::Relaxed),
            runs: self.counters.runs.load(Ordering::Relaxed),
        }
    }

    /// Hands one run to the next group and returns at once; the run is
    /// durable when [`Submitted::durable`] says so. Runs are committed in the
    /// order they were submitted: a run's group is never before the group of
    /// a run submitted earlier.
    pub fn submit(
        &self,
        run: FinishedRun,
        transition: RunTransition,
    ) -> Result<Submitted, StoreError> {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(commit_groups(
                Arc::clone(&self.store),
                self.config,
                Arc::clone(&self.counters),
                receiver,
            ));
            sender
        });
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            run,
            transition,
            reply,
        };
        if sender.send(pending).is_err() {
            return Err(StoreError::TaskFailed {
                context: "handing a run to the group committer",
            });
        }
        Ok(Submitted(answer))
    }
}

/// A run handed to the committer, not yet known to be durable.
pub struct Submitted(oneshot::Receiver<Result<CommittedRun, StoreError>>);

impl Submitted {
    /// Resolves once the run's group is durable (or failed).
    pub async fn durable(self) -> Result<CommittedRun, StoreError> {
        self.0.await.map_err(|_| StoreError::TaskFailed {
            context: "waiting for a group commit",
        })?
    }
}

/// The committer's task: one batch at a time, until every sender is gone.
async fn commit_groups(
    store: Arc<dyn Store>,
    config: GroupCommit,
    counters: Arc<Counters>,
    mut receiver: mpsc::UnboundedReceiver<Pending>,
) {
    let max_batch = config.max_batch.max(1);
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let deadline = Instant::now() + config.delay;
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) if config.delay.is_zero() => break,
                Err(_) => match tokio::time::timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(pending)) => batch.push(pending),
                    Ok(None) | Err(_) => break,
                },
            }
        }
        let size = batch.len() as u64;
        commit_one_group(store.as_ref(), batch).await;
        counters.groups.fetch_add(1, Ordering::Relaxed);
        counters.runs.fetch_add(size, Ordering::Relaxed);
    }
}

async fn commit_one_group(store: &dyn Store, batch: Vec<Pending>) {
    let mut replies = Vec::with_capacity(batch.len());
    let mut runs = Vec::with_capacity(batch.len());
    for pending in batch {
        replies.push(pending.reply);
        runs.push((pending.run, pending.transition));
    }
    let size = runs.len();
    match store.commit_runs(runs).await {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                // A run whose caller went away is committed all the same.
                let _ = reply.send(result);
            }
        }
        Err(error) => {
            tracing::error!(%error, runs = size, "a group commit failed; none of its runs was committed");
            let message = error.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::GroupCommitFailed {
                    reason: message.clone(),
                }));
            }
        }
    }
}
