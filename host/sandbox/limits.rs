//! The limits each run and each sandbox lives under.

use std::time::Duration;

/// Per-run and per-sandbox limits. Every field has a CLI flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel per run: wasm instructions, roughly. A run that uses it up fails
    /// with `fuel_exhausted`.
    pub fuel: u64,
    /// Linear memory of the whole sandbox instance, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock time per run, waiting on fetches and timers included.
    pub timeout: Duration,
    /// Bytes of response body per fetch.
    pub max_response_bytes: usize,
    /// Fetches per run.
    pub max_fetches: u32,
    /// Time per fetch, redirects included.
    pub fetch_timeout: Duration,
}

impl Limits {
    pub const DEFAULT_FUEL: u64 = 20_000_000_000;
    pub const DEFAULT_MEMORY_MIB: usize = 64;
    pub const DEFAULT_TIMEOUT_SECS: u64 = 60;
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 10 << 20;
    pub const DEFAULT_MAX_FETCHES: u32 = 100;
    pub const DEFAULT_FETCH_TIMEOUT_SECS: u64 = 30;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: Self::DEFAULT_FUEL,
            memory_bytes: Self::DEFAULT_MEMORY_MIB << 20,
            timeout: Duration::from_secs(Self::DEFAULT_TIMEOUT_SECS),
            max_response_bytes: Self::DEFAULT_MAX_RESPONSE_BYTES,
            max_fetches: Self::DEFAULT_MAX_FETCHES,
            fetch_timeout: Duration::from_secs(Self::DEFAULT_FETCH_TIMEOUT_SECS),
        }
    }
}
