//! Every space's sandbox in one process: a run goes to its space's sandbox,
//! made on first use, and a space runs one piece at a time.
//!
//! At most `max_live` sandboxes are kept. Past that, the least recently used
//! idle ones are dropped (an eighth of the cap at a time, so the cost of
//! choosing is spread over many new spaces); their spaces get a fresh instance
//! at their next run, which costs about 50 µs and their module state. When
//! the engine's instance slots run out all the same (runs keeping more
//! sandboxes busy than the cap, sandboxes outside the pool), the engine has
//! the pool drop its least recently used idle sandbox before a new instance
//! is made.

use super::cells::CellSource;
use super::engine::SandboxEngine;
use super::limits::Limits;
use super::outcome::{ErrorKind, RunOutcome};
use super::piece::Piece;
use super::slots::Reclaim;
use super::space::{RunReport, SpaceSandbox};
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The daemon's default cap on live sandboxes (`--max-live-sandboxes`):
/// about 2 GiB of idle instances.
pub const DEFAULT_MAX_LIVE_SANDBOXES: usize = 4096;

/// The sandboxes of all spaces. Cloning it is cheap and shares them.
#[derive(Clone)]
pub struct SandboxPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    engine: Arc<SandboxEngine>,
    limits: Limits,
    max_live: usize,
    /// The cap of each run's record, in bytes (0: not recorded).
    record_bytes: AtomicUsize,
    spaces: Mutex<Spaces>,
    /// `bgwasm_live_sandboxes` follows every insertion and eviction.
    metrics: Metrics,
}

#[derive(Default)]
struct Spaces {
    by_name: HashMap<String, Slot>,
    /// A counter, not a clock: only the order of uses matters.
    uses: u64,
}

struct Slot {
    sandbox: Arc<tokio::sync::Mutex<SpaceSandbox>>,
    last_used: u64,
}

impl SandboxPool {
    /// A pool that keeps as many live sandboxes as `engine` was made for
    /// ([`super::EngineOptions::max_live_sandboxes`]).
    pub fn new(engine: Arc<SandboxEngine>, limits: Limits) -> Self {
        let max_live = engine.max_live_sandboxes();
        Self::with_max_live(engine, limits, max_live)
    }

    /// A pool that keeps at most `max_live` sandboxes (at least one, at most
    /// as many as `engine` was made for).
    pub fn with_max_live(engine: Arc<SandboxEngine>, limits: Limits, max_live: usize) -> Self {
        Self::with_metrics(engine, limits, max_live, Metrics::new())
    }

    /// A pool like [`Self::with_max_live`] that shows how many sandboxes it
    /// keeps in `metrics` (the daemon's, which it serves).
    pub fn with_metrics(
        engine: Arc<SandboxEngine>,
        limits: Limits,
        max_live: usize,
        metrics: Metrics,
    ) -> Self {
        let max_live = max_live.clamp(1, engine.max_live_sandboxes());
        let inner = Arc::new(PoolInner {
            engine,
            limits,
            max_live,
            record_bytes: AtomicUsize::new(super::DEFAULT_RECORD_BYTES),
            spaces: Mutex::new(Spaces::default()),
            metrics,
        });
        let reclaimer: Weak<dyn Reclaim> = Arc::downgrade(&inner) as Weak<PoolInner>;
        inner.engine.slots().add_reclaimer(reclaimer);
        Self { inner }
    }

    /// Caps each run's record at `bytes` (0: runs are not recorded), for
    /// the sandboxes made from now on: call it before the pool is used.
    pub fn with_record_bytes(self, bytes: usize) -> Self {
        self.inner.record_bytes.store(bytes, Ordering::Relaxed);
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    fn sandbox(&self, space: &str) -> Arc<tokio::sync::Mutex<SpaceSandbox>> {
        let mut spaces = self.inner.spaces.lock().expect("sandbox pool lock");
        spaces.uses += 1;
        let now = spaces.uses;
        if let Some(slot) = spaces.by_name.get_mut(space) {
            slot.last_used = now;
            return slot.sandbox.clone();
        }
        if spaces.by_name.len() >= self.inner.max_live {
            spaces.evict_idle((self.inner.max_live / 8).max(1));
        }
        let sandbox = Arc::new(tokio::sync::Mutex::new(
            SpaceSandbox::new(self.inner.engine.clone(), space, self.inner.limits)
                .with_record_bytes(self.inner.record_bytes.load(Ordering::Relaxed)),
        ));
        spaces.by_name.insert(
            space.to_owned(),
            Slot {
                sandbox: sandbox.clone(),
                last_used: now,
            },
        );
        self.inner.metrics.set_live_sandboxes(spaces.by_name.len());
        sandbox
    }

    /// Runs `piece` in `space`'s sandbox, after any run of that space in
    /// progress. The run goes on even if the caller stops waiting, so a run
    /// is never cut short by a client that hung up.
    pub async fn run(
        &self,
        space: &str,
        piece: Piece,
        event: serde_json::Value,
        cells: Arc<dyn CellSource>,
    ) -> RunReport {
        let sandbox = self.sandbox(space);
        let piece_id = piece.id.clone();
        let run = tokio::spawn(async move {
            let mut sandbox = sandbox.lock().await;
            sandbox.run(&piece, &event, cells).await
        });
        match run.await {
            Ok(report) => report,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => RunReport {
                outcome: RunOutcome::failure(
                    ErrorKind::Internal,
                    format!(
                        "the run of piece \"{piece_id}\" was cancelled: bgwasm is shutting down"
                    ),
                ),
                cell_changes: Vec::new(),
                record: None,
            },
        }
    }

    /// How many spaces have a sandbox.
    pub fn spaces(&self) -> usize {
        self.inner
            .spaces
            .lock()
            .expect("sandbox pool lock")
            .by_name
            .len()
    }
}

impl Reclaim for PoolInner {
    /// Drops the least recently used idle sandbox that holds an instance.
    fn reclaim_one(&self) -> bool {
        let mut spaces = self.spaces.lock().expect("sandbox pool lock");
        let oldest = spaces
            .by_name
            .iter()
            // Nobody else holds it (and nobody can start to while the lock is
            // held), so `try_lock` only fails if it is in use.
            .filter(|(_, slot)| Arc::strong_count(&slot.sandbox) == 1)
            .filter(|(_, slot)| slot.sandbox.try_lock().is_ok_and(|s| s.is_live()))
            .min_by_key(|(_, slot)| slot.last_used)
            .map(|(name, _)| name.clone());
        let Some(name) = oldest else {
            return false;
        };
        spaces.by_name.remove(&name);
        self.metrics.set_live_sandboxes(spaces.by_name.len());
        tracing::debug!(space = %name, "dropped an idle sandbox to free its instance slot");
        true
    }
}

impl Spaces {
    /// Drops up to `count` of the least recently used sandboxes that nobody
    /// holds (no run in progress or waiting).
    fn evict_idle(&mut self, count: usize) {
        let mut idle: Vec<(u64, String)> = self
            .by_name
            .iter()
            .filter(|(_, slot)| Arc::strong_count(&slot.sandbox) == 1)
            .map(|(name, slot)| (slot.last_used, name.clone()))
            .collect();
        idle.sort_unstable();
        for (_, name) in idle.into_iter().take(count) {
            self.by_name.remove(&name);
        }
        tracing::debug!(live = self.by_name.len(), "dropped idle sandboxes");
    }
}
