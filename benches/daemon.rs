//! Daemon benchmark: the scheduler, the SQLite store and the real sandboxes
//! under the load issue 3 sets — 10,000 registered trivial pieces across
//! 1,000 spaces at `--interval 60`. Prints the figures the README quotes.
//!
//! `cargo bench --bench daemon` (about 2.5 minutes). `BGWASM_BENCH_INTERVAL=20s`
//! runs a shorter version; `BGWASM_BENCH_SPACES` and `BGWASM_BENCH_PIECES`
//! change the shape, `BGWASM_BENCH_HOG=N` makes one piece CPU-bound (a loop of
//! N iterations) to show what it does to the other spaces' lateness,
//! `BGWASM_BENCH_WINDOW=10s` measures for longer (at a
//! short interval, to find the sustained maximum), and
//! `BGWASM_BENCH_STORE=postgres://user@host:port/db` runs it on an empty
//! PostgreSQL database instead of a temporary SQLite one;
//! `BGWASM_BENCH_SEEDED=dir` keeps the seeded SQLite database there and
//! starts from a copy of it next time (seeding 10,000 registrations takes
//! about a minute). It prints the CPU time per run too, a figure a machine
//! shared with other work disturbs less than runs/s. It wires the same
//! parts `bgwasm serve` does, in this
//! process (the HTTP server, idle here, is left out).
//!
//! Lateness is how long after its due time a run started. The due time of a
//! piece's run is the previous run's end plus the interval, so it is measured
//! from each piece's second run on, over the window after the first interval
//! (the first runs of 10,000 new registrations all fall due at once).

use bgwasm::sandbox::{
    DEFAULT_MAX_LIVE_SANDBOXES, EngineOptions, Limits, SandboxEngine, SandboxPool,
};
use bgwasm::scheduler::{RetryPolicy, Scheduler, SchedulerConfig};
use bgwasm::store::{RegistrationKey, StoreUrl};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "bench_env.rs"]
mod bench_env;
#[path = "proc_status.rs"]
mod proc_status;

use bench_env::{env_duration, env_or};
use proc_status::cpu_time;

fn peak_rss_bytes() -> u64 {
    proc_status::proc_kib("/proc/self/status", "VmHWM:")
}

/// Copies the files (not the folders) of one folder into another.
fn copy_files(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() && entry.file_name() != "keys" {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let interval = env_duration("BGWASM_BENCH_INTERVAL").unwrap_or(Duration::from_secs(60));
    let spaces: usize = env_or("BGWASM_BENCH_SPACES", 1000);
    let per_space: usize = env_or("BGWASM_BENCH_PIECES", 10);
    // `BGWASM_BENCH_HOG=N`: space 0's first piece is CPU-bound (a loop of N
    // iterations), and the lateness is of the other spaces' runs.
    let hog_iterations: u64 = env_or("BGWASM_BENCH_HOG", 0);
    // `BGWASM_BENCH_WINDOW` measures for longer at a short interval.
    let window = env_duration("BGWASM_BENCH_WINDOW")
        .unwrap_or(interval * 2 + interval / 4)
        .max(interval * 2);

    let dir = tempfile::tempdir().unwrap();
    let store_url = match std::env::var("BGWASM_BENCH_STORE") {
        Ok(url) => url
            .parse::<StoreUrl>()
            .expect("BGWASM_BENCH_STORE is a store URL"),
        Err(_) => StoreUrl::sqlite(dir.path()),
    };
    // `BGWASM_BENCH_SEEDED=dir` keeps a copy of the seeded SQLite database
    // (one per shape) and starts from a copy of it next time: seeding 10,000
    // registrations commits 20,000 times and takes about a minute.
    let seeded = std::env::var_os("BGWASM_BENCH_SEEDED")
        .filter(|_| std::env::var_os("BGWASM_BENCH_STORE").is_none())
        .map(|base| {
            std::path::PathBuf::from(base).join(format!("{spaces}x{per_space}-hog{hog_iterations}"))
        });
    if let Some(from) = seeded.as_ref().filter(|from| from.join("keys").exists()) {
        copy_files(from, dir.path());
    }
    let store = store_url.open().await.unwrap();
    println!("store {store_url}");
    let seeding = Instant::now();
    let mut keys = Vec::with_capacity(spaces * per_space);
    if let Some(from) = seeded.as_ref().filter(|from| from.join("keys").exists()) {
        for line in std::fs::read_to_string(from.join("keys")).unwrap().lines() {
            let (space, piece) = line.split_once(' ').expect("a key per line");
            keys.push(RegistrationKey::new(
                space,
                piece.to_string().try_into().unwrap(),
            ));
        }
    }
    let seed_now = keys.is_empty();
    for s in (0..spaces).filter(|_| seed_now) {
        let space =
            bgwasm::identity::space_did_for_name(&format!("bench-{s}"), "common user").to_string();
        for p in 0..per_space {
            let source = if hog_iterations > 0 && s == 0 && p == 0 {
                // The CPU-bound piece: a busy loop, in space 0, among the rest.
                format!(
                    "// the CPU hog\nexport function bgUpdater() {{\n  let x = 0;\n  \
                     for (let i = 0; i < {hog_iterations}; i++) {{ x = (x * 31 + i) | 0; }}\n  \
                     return x;\n}}\n"
                )
            } else {
                format!(
                    "// piece {p} of space {s}\nexport function bgUpdater() {{ return {p}; }}\n"
                )
            };
            let added = store
                .add_piece(&space, None, source.into(), 0)
                .await
                .unwrap();
            let key = RegistrationKey::new(space.clone(), added.info.id.clone());
            store.register(&key, "bench", 0).await.unwrap();
            keys.push(key);
        }
    }
    if let Some(to) = seeded.as_ref().filter(|to| !to.join("keys").exists()) {
        // Nothing writes while the files are copied; the WAL goes along.
        std::fs::create_dir_all(to).unwrap();
        copy_files(dir.path(), to);
        let lines: Vec<String> = keys
            .iter()
            .map(|k| format!("{} {}", k.space, k.piece_id))
            .collect();
        std::fs::write(to.join("keys"), lines.join("\n")).unwrap();
    }
    println!(
        "seeded {} registrations in {} spaces in {:.1} s",
        keys.len(),
        spaces,
        seeding.elapsed().as_secs_f64()
    );

    // Sized as `bgwasm serve` sizes it, for its default --max-live-sandboxes.
    let engine = SandboxEngine::new(EngineOptions {
        max_live_sandboxes: DEFAULT_MAX_LIVE_SANDBOXES,
        ..EngineOptions::default()
    })
    .await
    .unwrap();
    let pool = SandboxPool::new(engine, Limits::default());
    let config = SchedulerConfig {
        policy: RetryPolicy {
            interval,
            max_failures: 3,
        },
        concurrency: NonZeroUsize::new(32).unwrap(),
        ..SchedulerConfig::default()
    };
    let scheduler = Scheduler::new(store.clone(), Arc::new(pool), config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let cpu_start = cpu_time();
    let wall_start = bgwasm::scheduler::Clock::system().now();
    let running = tokio::spawn({
        let scheduler = scheduler.clone();
        async move {
            scheduler
                .run_until(async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    tokio::time::sleep(window).await;
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    let elapsed = started.elapsed();
    let cpu_used = cpu_time() - cpu_start;
    let peak_rss = peak_rss_bytes();

    // Every run's start and end, per piece, from the store's run history.
    let measure_from = wall_start + interval.as_millis() as i64;
    let interval_ms = interval.as_millis() as i64;
    let mut lateness_ms = Vec::new();
    let mut runs_total = 0usize;
    let mut runs_in_window = 0usize;
    let mut pieces_run_every_interval = 0usize;
    let mut hog_durations_ms = Vec::new();
    for (n, key) in keys.iter().enumerate() {
        let mut runs = store
            .recent_runs(&key.space, &key.piece_id, 50)
            .await
            .unwrap();
        runs.reverse();
        if hog_iterations > 0 && key.space == keys[0].space {
            // The hog's space runs one piece at a time, so its other pieces
            // wait for the hog; only the other spaces' lateness is measured.
            if n == 0 {
                hog_durations_ms.extend(runs.iter().map(|r| r.finished_at - r.started_at));
            }
            runs_total += runs.len();
            continue;
        }
        runs_total += runs.len();
        runs_in_window += runs.iter().filter(|r| r.started_at >= measure_from).count();
        for pair in runs.windows(2) {
            if pair[1].started_at >= measure_from {
                lateness_ms.push(pair[1].started_at - (pair[0].finished_at + interval_ms));
            }
        }
        // Ran once per interval: as many runs as intervals fit, give or take one.
        let expected = (elapsed.as_millis() as i64 / interval_ms) as usize;
        if runs.len() >= expected && runs.iter().all(|r| r.outcome.ok) {
            pieces_run_every_interval += 1;
        }
    }
    lateness_ms.sort();
    let at = |q: f64| {
        lateness_ms
            .get(((lateness_ms.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0)
    };
    if hog_iterations > 0 {
        let mean = hog_durations_ms.iter().sum::<i64>() / (hog_durations_ms.len().max(1) as i64);
        println!(
            "{:<46} {} runs, {} ms each on average (its space is left out below)",
            "the CPU-bound piece",
            hog_durations_ms.len(),
            mean
        );
    }
    let window_secs = (elapsed.as_millis() as i64 - interval_ms) as f64 / 1000.0;
    let runs_per_sec = runs_in_window as f64 / window_secs;

    println!(
        "interval {} for {:.0} s; {} runs in all",
        humantime::format_duration(interval),
        elapsed.as_secs_f64(),
        runs_total
    );
    println!(
        "{:<46} {}/{}",
        "pieces that ran once in every interval",
        pieces_run_every_interval,
        keys.len()
    );
    println!(
        "{:<46} {:.0} runs/s (after the first interval)",
        "runs sustained", runs_per_sec
    );
    println!(
        "{:<46} p50 {} ms, p99 {} ms, max {} ms (n={})",
        "lateness (start - due)",
        at(0.5),
        at(0.99),
        at(1.0),
        lateness_ms.len()
    );
    println!(
        "{:<46} {:.0} µs per run ({:.1} cores busy on average)",
        "CPU time (user + system), all runs",
        cpu_used.as_micros() as f64 / runs_total.max(1) as f64,
        cpu_used.as_secs_f64() / elapsed.as_secs_f64()
    );
    println!(
        "{:<46} {:.0} MiB",
        "peak RSS (VmHWM)",
        peak_rss as f64 / (1 << 20) as f64
    );
    let commits = scheduler.commit_stats();
    println!(
        "{:<46} {:.0} commits/s, {:.1} runs per commit",
        "run commits (group commit)",
        commits.groups as f64 / elapsed.as_secs_f64(),
        commits.runs as f64 / commits.groups.max(1) as f64
    );
}
