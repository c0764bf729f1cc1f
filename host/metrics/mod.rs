//! The daemon's Prometheus metrics: what runs did, how late they started,
//! how long their commits took, and what the daemon holds right now.
//!
//! [`Metrics`] is one cheap-to-clone handle over one registry. It is always
//! collected: the scheduler and the sandbox pool each hold one (a fresh one
//! unless the daemon hands them its own), and only serving it is optional
//! (`bgwasm serve --metrics-listen ADDR`, see [`listener`]). Every label value
//! is a `&'static str` from a closed set (`labels`), so no run-time string,
//! such as a space or a piece id, can ever become a label, and the number of
//! series is fixed.
//!
//! A scrape only encodes what is already in memory. The registrations by
//! phase come from the store, counted by a background task every
//! [`REGISTRATIONS_REFRESH`] (see [`refresh`]), never on the scrape's path.

mod labels;
pub mod listener;
pub mod refresh;

pub use labels::{FetchResult, fetch_result};
pub use refresh::{REGISTRATIONS_REFRESH, count_registrations};

use crate::sandbox::{ErrorKind, RunOutcome};
use crate::store::{Phase, PhaseCounts};
use labels::{FetchLabel, OutcomeLabel, PhaseLabel};
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// The `Content-Type` of [`Metrics::render`]: the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Bucket bounds of the run duration, in seconds.
const RUN_SECONDS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
/// Bucket bounds of the schedule's lateness, in seconds.
const LATENESS_SECONDS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Bucket bounds of a store commit, in seconds.
const COMMIT_SECONDS: [f64; 13] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The daemon's metrics. Cloning it is cheap; clones share every series.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    runs: Family<OutcomeLabel, Counter>,
    run_duration: Histogram,
    lateness: Histogram,
    fuel: Histogram,
    live_sandboxes: Gauge,
    queued_runs: Gauge,
    registrations: Family<PhaseLabel, Gauge>,
    fetches: Family<FetchLabel, Counter>,
    store_commit: Histogram,
    abandoned_runs: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry with every series at zero, each label value listed, so a
    /// scrape shows all of them before anything happened.
    pub fn new() -> Self {
        let runs = Family::<OutcomeLabel, Counter>::default();
        let registrations = Family::<PhaseLabel, Gauge>::default();
        let fetches = Family::<FetchLabel, Counter>::default();
        for outcome in labels::OUTCOMES {
            let _ = runs.get_or_create(&OutcomeLabel { outcome });
        }
        for phase in labels::PHASES {
            let _ = registrations.get_or_create(&PhaseLabel {
                phase: phase.as_str(),
            });
        }
        for result in FetchResult::ALL {
            let _ = fetches.get_or_create(&FetchLabel {
                result: result.as_str(),
            });
        }
        let run_duration = Histogram::new(RUN_SECONDS);
        let lateness = Histogram::new(LATENESS_SECONDS);
        // From 10 thousand to 40 billion units (the default fuel is 10 billion).
        let fuel = Histogram::new(exponential_buckets(1e4, 4.0, 12));
        let store_commit = Histogram::new(COMMIT_SECONDS);
        let live_sandboxes = Gauge::default();
        let queued_runs = Gauge::default();
        let abandoned_runs = Counter::default();

        let mut registry = Registry::default();
        registry.register(
            "bgwasm_runs",
            "Runs finished, by outcome: ok, or the error kind (js_error, timeout, ...)",
            runs.clone(),
        );
        registry.register(
            "bgwasm_run_duration_seconds",
            "How long runs took, as the sandbox measured them",
            run_duration.clone(),
        );
        registry.register(
            "bgwasm_schedule_lateness_seconds",
            "How long after its due time a scheduled run started",
            lateness.clone(),
        );
        registry.register(
            "bgwasm_run_fuel",
            "Fuel (CPU budget units) runs used",
            fuel.clone(),
        );
        registry.register(
            "bgwasm_live_sandboxes",
            "Spaces with a sandbox instance kept alive",
            live_sandboxes.clone(),
        );
        registry.register(
            "bgwasm_queued_runs",
            "Runs claimed and waiting for their space or a concurrency slot",
            queued_runs.clone(),
        );
        registry.register(
            "bgwasm_registrations",
            "Registrations by phase (scheduled, dispatched, disabled), counted in the store \
             every few seconds",
            registrations.clone(),
        );
        registry.register(
            "bgwasm_fetches",
            "Fetches made by runs, by result: ok (a response arrived), denied (by the egress \
             policy) or error",
            fetches.clone(),
        );
        registry.register(
            "bgwasm_store_commit_seconds",
            "How long a run waited for its commit to be durable (its group commit included)",
            store_commit.clone(),
        );
        registry.register(
            "bgwasm_abandoned_runs",
            "Runs whose commit was refused because this node no longer held their space's lease \
             (it expired, or another node took the space); nothing of them was applied",
            abandoned_runs.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                runs,
                run_duration,
                lateness,
                fuel,
                live_sandboxes,
                queued_runs,
                registrations,
                fetches,
                store_commit,
                abandoned_runs,
            }),
        }
    }

    /// Counts a finished run: its outcome, duration, fuel and fetches.
    pub fn observe_run(&self, outcome: &RunOutcome) {
        let inner = &*self.inner;
        let label = match (outcome.ok, outcome.error_kind()) {
            (true, _) => "ok",
            (false, Some(kind)) => kind.as_str(),
            // A failure without an error is a bug in bgwasm: count it as one.
            (false, None) => ErrorKind::Internal.as_str(),
        };
        inner
            .runs
            .get_or_create(&OutcomeLabel { outcome: label })
            .inc();
        inner
            .run_duration
            .observe(Duration::from_millis(outcome.duration_ms).as_secs_f64());
        inner.fuel.observe(outcome.fuel_used as f64);
        for fetch in &outcome.fetches {
            inner
                .fetches
                .get_or_create(&FetchLabel {
                    result: fetch_result(fetch).as_str(),
                })
                .inc();
        }
    }

    /// A scheduled run started `late` after its due time.
    /// Counts a run whose commit was refused by fencing (the lease was lost).
    pub fn run_abandoned(&self) {
        self.inner.abandoned_runs.inc();
    }

    /// Runs abandoned so far (for `/healthz` and tests).
    pub fn abandoned_runs(&self) -> u64 {
        self.inner.abandoned_runs.get()
    }

    pub fn observe_lateness(&self, late: Duration) {
        self.inner.lateness.observe(late.as_secs_f64());
    }

    /// A run's store commit took `took`.
    pub fn observe_commit(&self, took: Duration) {
        self.inner.store_commit.observe(took.as_secs_f64());
    }

    /// The sandbox pool keeps `live` sandboxes now.
    pub fn set_live_sandboxes(&self, live: usize) {
        self.inner.live_sandboxes.set(gauge_value(live as u64));
    }

    /// One more run waits in a space queue.
    pub fn queued_run_added(&self) {
        self.inner.queued_runs.inc();
    }

    /// `count` runs left the space queues (started or given back).
    pub fn queued_runs_removed(&self, count: usize) {
        self.inner.queued_runs.dec_by(gauge_value(count as u64));
    }

    /// The store's registrations by phase, as last counted.
    pub fn set_registrations(&self, counts: PhaseCounts) {
        for phase in labels::PHASES {
            self.inner
                .registrations
                .get_or_create(&PhaseLabel {
                    phase: phase.as_str(),
                })
                .set(gauge_value(counts.of(phase)));
        }
    }

    /// The registrations of `phase`, as last counted (for tests and the bench).
    pub fn registrations(&self, phase: Phase) -> u64 {
        let value = self
            .inner
            .registrations
            .get_or_create(&PhaseLabel {
                phase: phase.as_str(),
            })
            .get();
        u64::try_from(value).unwrap_or(0)
    }

    /// Every series in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(8 << 10);
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &self.inner.registry);
        text
    }
}

/// A count as a gauge's value (saturating; no count gets near `i64::MAX`).
fn gauge_value(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
