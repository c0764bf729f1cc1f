//! Memory figures of this process from /proc, shared by the benchmarks
//! (`#[path]`-included: benches are separate crates).

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
