//! The benchmarks' settings from the environment (`BGWASM_BENCH_*`), shared
//! by `#[path]` (benches are separate crates).
#![allow(dead_code)]

use std::time::Duration;

/// `name` parsed, or `default` when it is unset or does not parse.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A duration like `20s` or `500ms` in `name`, or `None` when it is unset;
/// one that does not parse stops the benchmark, naming it.
pub fn env_duration(name: &str) -> Option<Duration> {
    std::env::var(name).ok().map(|text| {
        humantime::parse_duration(&text)
            .unwrap_or_else(|_| panic!("{name} is a duration like 20s, not {text:?}"))
    })
}
