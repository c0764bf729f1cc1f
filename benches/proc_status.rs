//! Memory and CPU figures of this process from /proc, shared by the benchmarks
//! (`#[path]`-included: benches are separate crates).
#![allow(dead_code)]

/// A `Key:   N kB` figure of a /proc file (`/proc/self/status`,
/// `/proc/self/smaps_rollup`), in bytes; 0 when it is missing.
pub fn proc_kib(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0)
        * 1024
}

/// CPU time this process has used (user + system), from /proc/self/stat,
/// whose figures are in clock ticks of 10 ms.
pub fn cpu_time() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) in brackets.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    std::time::Duration::from_millis(ticks * 10)
}
