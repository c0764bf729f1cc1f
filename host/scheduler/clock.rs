//! The scheduler's clock: wall time at start plus tokio's monotonic time.
//!
//! Timestamps are stored as wall-clock milliseconds, but measuring from
//! tokio's clock keeps a wall-clock jump from bunching or starving runs, and
//! lets tests drive the whole scheduler on paused tokio time.

use crate::store::EpochMillis;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin_ms: EpochMillis,
    origin: Instant,
}

impl Clock {
    /// Starts at the system's wall time.
    pub fn system() -> Self {
        let origin_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self::starting_at(origin_ms)
    }

    /// Starts at a given time (tests).
    pub fn starting_at(origin_ms: EpochMillis) -> Self {
        Self {
            origin_ms,
            origin: Instant::now(),
        }
    }

    pub fn now(&self) -> EpochMillis {
        let elapsed = i64::try_from(self.origin.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.origin_ms.saturating_add(elapsed)
    }

    /// The tokio instant of a timestamp (clamped to the clock's start).
    pub fn instant_at(&self, at: EpochMillis) -> Instant {
        let after = u64::try_from(at.saturating_sub(self.origin_ms)).unwrap_or(0);
        self.origin + Duration::from_millis(after)
    }
}
