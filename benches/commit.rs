//! The commit stage alone: what one group commit of finished runs costs the
//! SQLite store, per run, at steady state.
//!
//! The daemon's runs execute on every core, but their commits go through one
//! writer, one transaction at a time: the CPU time a commit takes per run is
//! the bound on durable runs per second, whatever the sandboxes cost. This
//! bench measures just that stage, without sandboxes in the loop, so its
//! figure moves only when the store's work per run does.
//!
//! `cargo bench --bench commit`. The store holds `BGWASM_BENCH_SPACES` (1000)
//! × `BGWASM_BENCH_PIECES` (10) registrations, each with a full run history
//! (so every commit also prunes, as in a daemon that has run for a while).
//! Each round claims every registration and commits their runs in groups of
//! `BGWASM_BENCH_BATCH` (512), the daemon's typical group at saturation; the
//! run is a real one (a trivial piece's outcome and record, from a real
//! sandbox). `BGWASM_BENCH_ROUNDS` (5) rounds are measured. Seeding and
//! filling the history take minutes; `BGWASM_BENCH_SEEDED=dir` keeps the
//! filled database there and starts from a copy of it next time.

use bgwasm::sandbox::{EngineOptions, Limits, Piece, SandboxEngine, SandboxPool};
use bgwasm::scheduler::{RetryPolicy, after_run};
use bgwasm::store::{
    ClaimedRun, FinishedRun, IntegrationFilter, RUN_HISTORY_PER_PIECE, RunTrigger, SqliteStore,
    Store,
};
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "bench_env.rs"]
mod bench_env;
#[path = "proc_status.rs"]
mod proc_status;

use bench_env::env_or;
use proc_status::cpu_time;

/// Copies the files (not the folders) of one folder into another.
fn copy_files(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
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

struct Shape {
    batch: usize,
    policy: RetryPolicy,
}

/// Claims everything due at `now` and commits it in groups; returns the
/// runs committed.
async fn round(store: &SqliteStore, shape: &Shape, run: &FinishedRun, now: i64) -> usize {
    let mut committed = 0;
    loop {
        let claimed: Vec<ClaimedRun> = store
            .claim_due(now, &IntegrationFilter::default(), shape.batch)
            .await
            .unwrap();
        if claimed.is_empty() {
            return committed;
        }
        let runs = claimed
            .into_iter()
            .map(|claimed| {
                let finished = FinishedRun {
                    key: claimed.key,
                    trigger: RunTrigger::Scheduled,
                    claim: Some(claimed.claim),
                    lease: None,
                    started_at: now,
                    finished_at: now,
                    outcome: run.outcome.clone(),
                    cell_changes: Vec::new(),
                    record: run.record.clone(),
                };
                let (outcome, policy) = (run.outcome.clone(), shape.policy);
                let transition: bgwasm::store::RunTransition =
                    Box::new(move |state| after_run(state, &outcome, now, &policy));
                (finished, transition)
            })
            .collect::<Vec<_>>();
        committed += runs.len();
        for result in store.commit_runs(runs).await.unwrap() {
            result.unwrap();
        }
    }
}

async fn bench() {
    let spaces: usize = env_or("BGWASM_BENCH_SPACES", 1000);
    let per_space: usize = env_or("BGWASM_BENCH_PIECES", 10);
    let rounds: usize = env_or("BGWASM_BENCH_ROUNDS", 5);
    let shape = Shape {
        batch: env_or("BGWASM_BENCH_BATCH", 512),
        policy: RetryPolicy {
            interval: Duration::from_secs(60),
            max_failures: 3,
        },
    };
    let interval_ms = shape.policy.interval.as_millis() as i64;

    // A real run of a trivial piece: its outcome and its record.
    let engine = SandboxEngine::new(EngineOptions::default()).await.unwrap();
    let pool = SandboxPool::new(engine, Limits::default());
    let source = "export function bgUpdater() { return 1; }\n";
    let dir = tempfile::tempdir().unwrap();
    let scratch = SqliteStore::open(&dir.path().join("scratch")).unwrap();
    let report = pool
        .run(
            "did:key:bench",
            Piece::new("p", source),
            serde_json::json!({}),
            scratch.cell_source("did:key:bench"),
        )
        .await;
    assert!(
        report.outcome.ok,
        "the trivial piece runs: {:?}",
        report.outcome
    );
    let template = FinishedRun {
        key: bgwasm::store::RegistrationKey::new("x", "p".to_string().try_into().unwrap()),
        trigger: RunTrigger::Scheduled,
        claim: None,
        lease: None,
        started_at: 0,
        finished_at: 0,
        outcome: report.outcome,
        cell_changes: Vec::new(),
        record: report.record,
    };

    let seeded = std::env::var_os("BGWASM_BENCH_SEEDED")
        .map(|base| std::path::PathBuf::from(base).join(format!("{spaces}x{per_space}-history")));
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let reuse = seeded.as_ref().filter(|from| from.join("now").exists());
    let mut now = 0;
    if let Some(from) = reuse {
        copy_files(from, &data);
        now = std::fs::read_to_string(from.join("now"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    }
    let store = SqliteStore::open(&data).unwrap();
    if reuse.is_none() {
        let seeding = Instant::now();
        for s in 0..spaces {
            let space = bgwasm::identity::space_did_for_name(&format!("bench-{s}"), "common user")
                .to_string();
            for p in 0..per_space {
                let source =
                    format!("// piece {p}\nexport function bgUpdater() {{ return {p}; }}\n");
                let added = store
                    .add_piece(&space, None, source.into(), 0)
                    .await
                    .unwrap();
                let key = bgwasm::store::RegistrationKey::new(space.clone(), added.info.id);
                store.register(&key, "bench", 0).await.unwrap();
            }
        }
        // A full history for every piece, and a prune or two behind it.
        let fill = RUN_HISTORY_PER_PIECE + 20;
        for _ in 0..fill {
            now += interval_ms;
            round(&store, &shape, &template, now).await;
        }
        println!(
            "seeded {} registrations with {fill} runs each in {:.1} s",
            spaces * per_space,
            seeding.elapsed().as_secs_f64()
        );
        if let Some(to) = &seeded {
            drop(store);
            std::fs::create_dir_all(to).unwrap();
            copy_files(&data, to);
            std::fs::write(to.join("now"), now.to_string()).unwrap();
            return Box::pin(bench()).await;
        }
    }

    let mut committed = 0;
    let cpu_start = cpu_time();
    let started = Instant::now();
    for _ in 0..rounds {
        now += interval_ms;
        committed += round(&store, &shape, &template, now).await;
    }
    let cpu = cpu_time() - cpu_start;
    let wall = started.elapsed();
    let per_run = |d: Duration| d.as_secs_f64() * 1e6 / committed as f64;
    println!(
        "{} runs committed in groups of {}: {:.1} µs CPU per run, {:.1} µs wall per run \
         (one writer: at most {:.0} runs/s by CPU)",
        committed,
        shape.batch,
        per_run(cpu),
        per_run(wall),
        1e6 / per_run(cpu)
    );
}
