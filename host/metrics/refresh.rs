//! `bgwasm_registrations{phase}`: counted in the store by a background task,
//! so a scrape never touches the store.
//!
//! The count is one grouped query (for SQLite, over the `(phase, next_run)`
//! index, about 1.5 ms at 10,000 registrations; see `benches/metrics.rs`),
//! run every [`REGISTRATIONS_REFRESH`]. Counting instead of following every
//! transition in memory keeps the figure right whoever changes the store:
//! the API, the scheduler, a restart's recovery, or another daemon sharing
//! the database. The price is that it can be up to one refresh old.

use super::Metrics;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// How often the registrations are counted again.
pub const REGISTRATIONS_REFRESH: Duration = Duration::from_secs(5);

/// Counts the registrations by phase now and sets the gauges.
pub async fn count_registrations(store: &dyn Store, metrics: &Metrics) -> Result<(), StoreError> {
    let counts = store.count_by_phase().await?;
    metrics.set_registrations(counts);
    Ok(())
}

/// Counts the registrations every `every`, for as long as it is polled. A
/// count that fails is logged and the gauges keep the last one.
pub async fn keep_counting_registrations(store: Arc<dyn Store>, metrics: Metrics, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = count_registrations(&*store, &metrics).await {
            tracing::warn!(%error, "could not count the registrations for the metrics; keeping the last count");
        }
    }
}
