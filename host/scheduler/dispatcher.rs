//! The [`Scheduler`]: finds due registrations in the store, claims them, and
//! hands each to its space's queue; runs them under the concurrency limit and
//! commits each outcome (in groups: see `committer`).
//!
//! The schedule is the store's: due times are persisted, so a restart (even
//! after `kill -9`) picks up where the last daemon left off. Claims are the
//! store's too (PostgreSQL writes them; SQLite, one process's alone, holds
//! them in memory, since a restart releases every claim anyway). The
//! scheduler's memory holds only the queues of claimed runs, which a
//! restart rebuilds by releasing the claims.

use super::SchedulerError;
use super::clock::Clock;
use super::committer::{CommitStats, Committer, Submitted};
use super::config::SchedulerConfig;
use super::piece_cache::PieceCache;
use super::policy::after_run;
use super::runner::{PieceRunner, internal_failure};
use super::space_queues::{Job, Pushed, SpaceQueues};
use super::spread::spread_due_time;
use crate::metrics::Metrics;
use crate::sandbox::{Piece, RunOutcome, RunReport};
use crate::store::{
    ClaimToken, CommittedRun, EpochMillis, FinishedRun, LeaseToken, RegistrationKey, RunTrigger,
    SpaceLease, Store, StoreError,
};
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, oneshot};

/// The daemon's scheduler. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    /// Commits runs in groups, one durable sync for many runs.
    committer: Committer,
    /// Sources run lately, by the hash a claim names.
    pieces: PieceCache,
    runner: Arc<dyn PieceRunner>,
    config: SchedulerConfig,
    clock: Clock,
    metrics: Metrics,
    queues: SpaceQueues,
    /// One permit per space allowed to run at once.
    permits: Arc<Semaphore>,
    running: AtomicUsize,
    /// Wakes the loop early: a registration became due now.
    wake: Notify,
}

/// What the scheduler is doing right now, for `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// Runs executing now.
    pub running: usize,
    /// Runs claimed and waiting for their space or a concurrency slot.
    pub queued: usize,
    /// Spaces with a run executing or waiting.
    pub active_spaces: usize,
}

/// How a stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopReport {
    /// Claimed runs that never started; their claims were given back.
    pub released: usize,
    /// Runs still executing when the grace period ended; the next start
    /// releases their claims and schedules them again.
    pub abandoned: usize,
}

/// Whether one dispatch pass claimed everything due.
enum Pass {
    /// A full batch: more may be due, look again at once.
    Full,
    Done,
}

impl Scheduler {
    /// A scheduler on the system clock, with metrics of its own.
    pub fn new(
        store: Arc<dyn Store>,
        runner: Arc<dyn PieceRunner>,
        config: SchedulerConfig,
    ) -> Self {
        Self::with_clock(store, runner, config, Clock::system())
    }

    /// A scheduler on the system clock that counts its runs in `metrics`
    /// (the daemon's, which it serves).
    pub fn with_metrics(
        store: Arc<dyn Store>,
        runner: Arc<dyn PieceRunner>,
        config: SchedulerConfig,
        metrics: Metrics,
    ) -> Self {
        Self::build(store, runner, config, Clock::system(), metrics)
    }

    /// A scheduler on a given clock (tests start it at a known time).
    pub fn with_clock(
        store: Arc<dyn Store>,
        runner: Arc<dyn PieceRunner>,
        config: SchedulerConfig,
        clock: Clock,
    ) -> Self {
        Self::build(store, runner, config, clock, Metrics::new())
    }

    fn build(
        store: Arc<dyn Store>,
        runner: Arc<dyn PieceRunner>,
        config: SchedulerConfig,
        clock: Clock,
        metrics: Metrics,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(config.concurrency.get()));
        Self {
            inner: Arc::new(Inner {
                committer: Committer::new(Arc::clone(&store), config.group_commit),
                pieces: PieceCache::new(),
                store,
                runner,
                config,
                clock,
                queues: SpaceQueues::new(metrics.clone()),
                metrics,
                permits,
                running: AtomicUsize::new(0),
                wake: Notify::new(),
            }),
        }
    }

    /// The time as the scheduler sees it; use it for every store call.
    pub fn now(&self) -> crate::store::EpochMillis {
        self.inner.clock.now()
    }

    pub fn config(&self) -> &SchedulerConfig {
        &self.inner.config
    }

    /// Where its runs are counted.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Tells the loop to look for due work now (after a registration, an
    /// enable), instead of at its next planned tick.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// How the group committer has batched runs so far.
    pub fn commit_stats(&self) -> CommitStats {
        self.inner.committer.stats()
    }

    pub fn activity(&self) -> Activity {
        let (active_spaces, queued) = self.inner.queues.load();
        Activity {
            running: self.inner.running.load(Ordering::Relaxed),
            queued,
            active_spaces,
        }
    }

    /// Runs a piece now, behind whatever its space is running, and commits
    /// the run like a scheduled one. It needs the piece, not a registration;
    /// if there is one, it is updated as after a scheduled run. On a store
    /// shared by several daemons it first takes the space's lease, waiting up
    /// to `manual_lease_wait` while another node runs the space, and is
    /// refused ([`SchedulerError::SpaceBusy`]) past that.
    pub async fn run_now(&self, key: RegistrationKey) -> Result<RunOutcome, SchedulerError> {
        if self
            .inner
            .store
            .get_piece(&key.space, &key.piece_id)
            .await?
            .is_none()
        {
            return Err(StoreError::PieceNotFound {
                space: key.space,
                piece_id: key.piece_id,
            }
            .into());
        }
        let lease = self.inner.lease_for_manual_run(&key).await?;
        let (reply, outcome) = oneshot::channel();
        self.inner
            .enqueue(Job::Manual {
                key: key.clone(),
                lease,
                reply,
            })
            .await;
        // The sender is dropped only if the job was discarded by a stop.
        outcome
            .await
            .map_err(|_| SchedulerError::Stopping { key })?
    }

    /// Runs the schedule until `shutdown` resolves, then stops: no new runs,
    /// queued claims given back, up to the grace period for runs in flight.
    ///
    /// At start, claims left by a daemon that died are released, and overdue
    /// registrations are spread over one interval. If the store refuses that
    /// (unreachable, or PostgreSQL ended a transaction to break a deadlock
    /// with another node), it is tried again until it works or `shutdown`;
    /// but if another process schedules the same SQLite data directory
    /// ([`StoreError::ScheduleLocked`]), it fails at once.
    pub async fn run_until(
        &self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<StopReport, SchedulerError> {
        let mut shutdown = pin!(shutdown);
        while let Err(error) = self.inner.recover_after_restart().await {
            if let SchedulerError::Store(StoreError::ScheduleLocked { .. }) = error {
                // Another daemon schedules this data directory: waiting would
                // not help, and running beside it would run pieces twice.
                return Err(error);
            }
            tracing::error!(%error, "could not recover after a restart; retrying shortly");
            tokio::select! {
                biased;
                () = &mut shutdown => return Ok(StopReport { released: 0, abandoned: 0 }),
                () = tokio::time::sleep(self.inner.max_idle()) => {}
            }
        }
        // Renews this node's leases until the runs in flight are done.
        let heartbeat = self
            .inner
            .store
            .leases()
            .is_some()
            .then(|| tokio::spawn(Arc::clone(&self.inner).keep_beating()));
        loop {
            let wait = match self.inner.dispatch_due().await {
                Ok(Pass::Full) => Duration::ZERO,
                Ok(Pass::Done) => self.inner.time_to_next_due().await,
                Err(error) => {
                    tracing::error!(%error, "could not look for due pieces; retrying shortly");
                    self.inner.max_idle()
                }
            };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        let report = self.inner.stop().await;
        if let Some(heartbeat) = heartbeat {
            heartbeat.abort();
        }
        if let Some(leases) = self.inner.store.leases() {
            // The runs are done (or abandoned): other nodes may take this
            // node's spaces now rather than after the lease ttl.
            if let Err(error) = leases.leave().await {
                tracing::warn!(%error, "could not give back this node's leases; they expire by themselves");
            }
        }
        Ok(report)
    }
}

impl Inner {
    async fn recover_after_restart(&self) -> Result<(), SchedulerError> {
        let now = self.clock.now();
        let overdue = self
            .store
            .recover_after_restart(now, &self.config.integrations)
            .await?;
        if overdue.is_empty() {
            return Ok(());
        }
        let interval = self.config.policy.interval;
        tracing::info!(
            overdue = overdue.len(),
            over = %humantime::format_duration(interval),
            "spreading overdue pieces after a restart"
        );
        let due = overdue
            .into_iter()
            .map(|key| {
                let at = spread_due_time(&key, now, interval);
                (key, at)
            })
            .collect();
        self.store.reschedule(due).await?;
        Ok(())
    }

    /// The longest the loop sleeps: `max_idle`, and on a store shared by
    /// several daemons no longer than a heartbeat, so the claims a dead node
    /// left are picked up within one heartbeat of their lease's expiry.
    fn max_idle(&self) -> Duration {
        match self.store.leases() {
            Some(leases) => self
                .config
                .max_idle
                .min(leases.lease_config().heartbeat_every()),
            None => self.config.max_idle,
        }
    }

    /// The heartbeat: every third of the lease ttl, renews this node's
    /// leases on the spaces it has work in, gives back the others, and puts
    /// the claims of expired leases back in the schedule (waking the loop to
    /// claim them). Runs until aborted.
    async fn keep_beating(self: Arc<Self>) {
        let Some(leases) = self.store.leases() else {
            return;
        };
        let config = leases.lease_config().clone();
        let mut ticks = tokio::time::interval(config.heartbeat_every());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match leases.heartbeat(self.queues.active_spaces()).await {
                Ok(beat) => {
                    for space in &beat.lost {
                        tracing::warn!(
                            %space, node = %config.node,
                            "this node no longer holds the lease of a space it has work in (it \
                             expired, or another node took it); its runs there will be abandoned \
                             at commit"
                        );
                    }
                    if !beat.released.is_empty() {
                        tracing::info!(
                            released = beat.released.len(),
                            "put back the claims of expired leases (a node died or stalled); \
                             they run now"
                        );
                        self.wake.notify_one();
                    }
                }
                Err(error) => tracing::error!(
                    %error, node = %config.node,
                    "could not renew this node's space leases; retrying at the next heartbeat"
                ),
            }
        }
    }

    /// Takes the space's lease for a manual run (a store shared by several
    /// daemons), waiting while another live node holds it, up to
    /// `manual_lease_wait`.
    async fn lease_for_manual_run(
        &self,
        key: &RegistrationKey,
    ) -> Result<Option<LeaseToken>, SchedulerError> {
        let Some(leases) = self.store.leases() else {
            return Ok(None);
        };
        let waited = std::time::Instant::now();
        let mut backoff = Duration::from_millis(20);
        loop {
            match leases.acquire_space(&key.space).await? {
                SpaceLease::Held(token) => return Ok(Some(token)),
                SpaceLease::Busy { node, expires_in } => {
                    let left = self
                        .config
                        .manual_lease_wait
                        .saturating_sub(waited.elapsed());
                    if left.is_zero() {
                        return Err(SchedulerError::SpaceBusy {
                            key: key.clone(),
                            space: key.space.clone(),
                            node,
                            waited: waited.elapsed(),
                        });
                    }
                    let pause = backoff.min(expires_in.max(Duration::from_millis(10)));
                    tokio::time::sleep(pause.min(left)).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
            }
        }
    }

    async fn dispatch_due(self: &Arc<Self>) -> Result<Pass, SchedulerError> {
        let batch = self.config.claim_batch.max(1);
        let claimed = self
            .store
            .claim_due(self.clock.now(), &self.config.integrations, batch)
            .await?;
        let full = claimed.len() >= batch;
        for run in claimed {
            self.enqueue(Job::Scheduled(run)).await;
        }
        Ok(if full { Pass::Full } else { Pass::Done })
    }

    async fn time_to_next_due(&self) -> Duration {
        let max_idle = self.max_idle();
        match self.store.next_due(&self.config.integrations).await {
            Ok(Some(at)) => {
                let until = u64::try_from(at.saturating_sub(self.clock.now())).unwrap_or(0);
                Duration::from_millis(until).min(max_idle)
            }
            Ok(None) => max_idle,
            Err(error) => {
                tracing::error!(%error, "could not read the next due time");
                max_idle
            }
        }
    }

    async fn enqueue(self: &Arc<Self>, job: Job) {
        let space = job.key().space.clone();
        match self.queues.push(job) {
            Pushed::Queued => {}
            Pushed::NeedsWorker => {
                tokio::spawn(Arc::clone(self).work_space(space));
            }
            Pushed::Refused(job) => self.abandon(job).await,
        }
    }

    /// A space's worker: runs its queue one job at a time, each under a
    /// concurrency permit, and retires when the queue is empty.
    ///
    /// A scheduled run that changes no cells does not hold up the space's
    /// next run while its group commit syncs: the next run reads nothing it
    /// wrote, and the committer keeps the order of their history. The worker
    /// finishes those commits alongside its next runs, and all of them
    /// before it retires, so a stop waits for them like for a run in flight.
    /// A run that changes cells, and a manual run (its caller waits for the
    /// answer), is durable before the space's next run starts.
    async fn work_space(self: Arc<Self>, space: String) {
        let mut committing: FuturesUnordered<BoxFuture<'_, ()>> = FuturesUnordered::new();
        loop {
            if self.queues.is_idle(&space) {
                while committing.next().await.is_some() {}
                if self.queues.retire_if_idle(&space) {
                    return;
                }
                continue;
            }
            // The job stays queued while its worker waits for a permit, so a
            // stop drains it and `activity` counts it.
            let permit =
                alongside(&mut committing, Arc::clone(&self.permits).acquire_owned()).await;
            let Ok(permit) = permit else {
                // The semaphore is never closed; treat it as a stop.
                while committing.next().await.is_some() {}
                return;
            };
            let Some(job) = self.queues.next(&space) else {
                // A stop took the queue meanwhile.
                continue;
            };
            self.running.fetch_add(1, Ordering::Relaxed);
            // The run gives its permit back once it ran, before its commit
            // is durable.
            let run = self.execute(job, Running(Some(permit), &self.running));
            let Some(handed) = alongside(&mut committing, run).await else {
                continue;
            };
            if handed.pipelined {
                committing.push(Box::pin(self.finish(handed)));
            } else {
                alongside(&mut committing, self.finish(handed)).await;
            }
        }
    }

    /// Gives a job back without running it.
    async fn abandon(&self, job: Job) {
        match job {
            Job::Scheduled(claimed) => {
                if let Err(error) = self.store.release_claim(&claimed.key, claimed.claim).await {
                    tracing::error!(
                        piece = %claimed.key, %error,
                        "could not release the claim of a run that did not start; the next start releases it"
                    );
                }
            }
            Job::Manual { key, reply, .. } => {
                let _ = reply.send(Err(SchedulerError::Stopping { key }));
            }
        }
    }

    /// Runs a job and hands its result to the committer. `None` when it
    /// never got that far (it is answered and its claim released here).
    async fn execute(&self, job: Job, running: Running<'_>) -> Option<Handed> {
        let (key, claim, lease, scheduled, reply) = match job {
            Job::Scheduled(claimed) => (
                claimed.key,
                Some(claimed.claim),
                claimed.lease,
                Some((claimed.due_at, claimed.source_hash)),
                None,
            ),
            Job::Manual { key, lease, reply } => (key, None, lease, None, Some(reply)),
        };
        let handed = self
            .run_and_submit(&key, claim, lease, scheduled, running)
            .await;
        match handed {
            Ok((outcome, trigger, submitted, pipelined)) => Some(Handed {
                key,
                claim,
                trigger,
                outcome,
                submitted,
                submitted_at: std::time::Instant::now(),
                pipelined: pipelined && reply.is_none(),
                reply,
            }),
            Err(error) => {
                self.settle(&key, claim, reply, Err(error)).await;
                None
            }
        }
    }

    /// Waits for a handed run's commit, then logs and answers it.
    async fn finish(&self, handed: Handed) {
        let committed = handed.submitted.durable().await;
        self.metrics.observe_commit(handed.submitted_at.elapsed());
        let result = match committed {
            Ok(committed) => {
                log_run(&handed.key, handed.trigger, &handed.outcome, &committed);
                Ok(handed.outcome)
            }
            Err(error) => Err(error.into()),
        };
        self.settle(&handed.key, handed.claim, handed.reply, result)
            .await;
    }

    /// The end of a job: a failure is logged and its claim released; a
    /// manual run's caller gets the result.
    async fn settle(
        &self,
        key: &RegistrationKey,
        claim: Option<ClaimToken>,
        reply: Option<oneshot::Sender<Result<RunOutcome, SchedulerError>>>,
        result: Result<RunOutcome, SchedulerError>,
    ) {
        if let Err(SchedulerError::Store(error @ StoreError::LeaseLost { .. })) = &result {
            // The claim is another node's now (or goes back to the schedule
            // by recovery): nothing to release.
            self.metrics.run_abandoned();
            tracing::warn!(piece = %key, %error, "abandoned a run: its space lease was lost");
        } else if let Err(error) = &result {
            tracing::error!(piece = %key, %error, "could not run or commit a piece");
            if let Some(token) = claim
                && let Err(error) = self.store.release_claim(key, token).await
            {
                tracing::error!(piece = %key, %error, "could not release the claim; the next start releases it");
            }
        }
        if let Some(reply) = reply {
            // The caller may have gone away; the run is committed regardless.
            let _ = reply.send(result);
        }
    }

    /// Runs a piece and hands the run to the committer: a scheduled one (due
    /// at `due_at`) with its claim, a manual one with none. Also says
    /// whether the run changes no cells, so its space may go on before it is
    /// durable.
    async fn run_and_submit(
        &self,
        key: &RegistrationKey,
        claim: Option<ClaimToken>,
        lease: Option<LeaseToken>,
        // A scheduled run's due time and the source hash its claim named.
        scheduled: Option<(EpochMillis, String)>,
        // Its concurrency permit, given back once it ran.
        running: Running<'_>,
    ) -> Result<(RunOutcome, RunTrigger, Submitted, bool), SchedulerError> {
        let trigger = match scheduled {
            Some(_) => RunTrigger::Scheduled,
            None => RunTrigger::Manual,
        };
        let started_at = self.clock.now();
        if let Some((due_at, _)) = scheduled {
            let late = u64::try_from(started_at.saturating_sub(due_at)).unwrap_or(0);
            self.metrics.observe_lateness(Duration::from_millis(late));
        }
        let hash = scheduled.as_ref().map(|(_, hash)| hash.as_str());
        let report = self.run_piece(key, hash).await;
        drop(running);
        let report = report?;
        let finished_at = self.clock.now();
        let outcome = report.outcome;
        self.metrics.observe_run(&outcome);
        let policy = self.config.policy;
        let for_transition = outcome.clone();
        let run = FinishedRun {
            key: key.clone(),
            trigger,
            claim,
            lease,
            started_at,
            finished_at,
            outcome: outcome.clone(),
            cell_changes: report.cell_changes,
            record: report.record,
        };
        let quiet = !run.writes_cells();
        let submitted = self.committer.submit(
            run,
            Box::new(move |state| after_run(state, &for_transition, finished_at, &policy)),
        )?;
        Ok((outcome, trigger, submitted, quiet))
    }

    /// Loads the piece's current source (from the cache when the claim names
    /// a source it holds) and runs it. A runner that panics or a source that
    /// vanished becomes a failed outcome, so the schedule's failure handling
    /// applies to it like to any other failure.
    async fn run_piece(
        &self,
        key: &RegistrationKey,
        hash: Option<&str>,
    ) -> Result<RunReport, StoreError> {
        let cached = hash.and_then(|hash| self.pieces.get(key, hash));
        let piece = match cached {
            Some(piece) => piece,
            None => {
                let Some(stored) = self.store.get_piece(&key.space, &key.piece_id).await? else {
                    return Ok(RunReport {
                        outcome: internal_failure(format!(
                            "piece {key} has no stored source; add its source again"
                        )),
                        cell_changes: Vec::new(),
                        record: None,
                    });
                };
                let piece =
                    Piece::new(key.piece_id.to_string(), stored.source).with_lang(stored.info.lang);
                self.pieces
                    .insert(key.clone(), stored.info.hash, piece.clone());
                piece
            }
        };
        let cells = self.store.cell_source(&key.space);
        let event = serde_json::json!({});
        let run = self.runner.run(&key.space, piece, event, cells);
        // A panic in the runner ends one run, not the worker (caught here
        // rather than in a task of its own: one task hand-off less per run).
        match AssertUnwindSafe(run).catch_unwind().await {
            Ok(report) => Ok(report),
            Err(panic) => Ok(RunReport {
                outcome: internal_failure(format!(
                    "the sandbox failed while running piece {key}: it panicked: {}",
                    panic_message(panic.as_ref())
                )),
                cell_changes: Vec::new(),
                record: None,
            }),
        }
    }

    async fn stop(&self) -> StopReport {
        let queued = self.queues.stop();
        let released = queued.len();
        for job in queued {
            self.abandon(job).await;
        }
        let in_flight = self.running.load(Ordering::Relaxed);
        tracing::info!(
            in_flight, released,
            grace = %humantime::format_duration(self.config.grace),
            "stopping: no new runs; waiting for the runs in flight"
        );
        let abandoned =
            match tokio::time::timeout(self.config.grace, self.queues.all_retired()).await {
                Ok(()) => 0,
                Err(_) => {
                    let abandoned = self.running.load(Ordering::Relaxed);
                    tracing::warn!(
                        abandoned,
                        "runs still in flight after the grace period are abandoned; \
                     nothing of theirs is committed and the next start schedules them again"
                    );
                    abandoned
                }
            };
        StopReport {
            released,
            abandoned,
        }
    }
}

/// A run handed to the committer, and what is left to do once it is durable.
struct Handed {
    key: RegistrationKey,
    claim: Option<ClaimToken>,
    trigger: RunTrigger,
    outcome: RunOutcome,
    submitted: Submitted,
    submitted_at: std::time::Instant,
    /// Its space's next run may start before it is durable.
    pipelined: bool,
    reply: Option<oneshot::Sender<Result<RunOutcome, SchedulerError>>>,
}

/// Awaits `work` while finishing whichever of `committing` become durable
/// meanwhile, so their logs, metrics and claims are not held up by it.
async fn alongside<T>(
    committing: &mut FuturesUnordered<BoxFuture<'_, ()>>,
    work: impl Future<Output = T>,
) -> T {
    let mut work = pin!(work);
    loop {
        tokio::select! {
            biased;
            done = &mut work => return done,
            // An empty set yields `None`, which disables this branch.
            Some(()) = committing.next() => {}
        }
    }
}

/// What a panic said, if it said it in text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

/// A run's concurrency permit and its place in the count of runs executing;
/// dropping it ends both.
struct Running<'a>(Option<tokio::sync::OwnedSemaphorePermit>, &'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.1.fetch_sub(1, Ordering::Relaxed);
        drop(self.0.take());
    }
}

/// The run's log line. Never includes cell contents or the piece's value.
fn log_run(
    key: &RegistrationKey,
    trigger: RunTrigger,
    outcome: &RunOutcome,
    committed: &CommittedRun,
) {
    let (space, piece_id) = (&key.space, &key.piece_id);
    if outcome.ok {
        tracing::info!(
            %space, %piece_id, trigger = trigger.as_str(), duration_ms = outcome.duration_ms,
            fuel = outcome.fuel_used, "Successfully executed piece {space}/{piece_id}"
        );
        return;
    }
    let (kind, message) = match &outcome.error {
        Some(error) => (error.kind.as_str(), error.message.as_str()),
        None => ("internal", "no error reported"),
    };
    let registration = committed.registration.as_ref();
    let failures = registration.map_or(0, |r| r.state.consecutive_failures);
    tracing::warn!(
        %space, %piece_id, trigger = trigger.as_str(), error_kind = kind, error = message,
        consecutive_failures = failures, duration_ms = outcome.duration_ms,
        "Piece {space}/{piece_id} failed ({kind}): {message}"
    );
    if committed.disabled_by_this_run {
        tracing::warn!(
            %space, %piece_id, consecutive_failures = failures,
            "Disabled piece {space}/{piece_id} after {failures} consecutive failures; \
             fix it and register or enable it again"
        );
    }
}
