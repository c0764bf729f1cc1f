//! Metrics benchmark: what a Prometheus scrape of `bgwasm serve
//! --metrics-listen` costs with 10,000 registrations in the store (the target
//! is under 10 ms), and what the background count of registrations by phase
//! costs. Prints the figures the README quotes.
//!
//! `cargo bench --bench metrics` (one to two minutes, nearly all of it
//! seeding 10 pieces in each of 1,000 spaces, as `benches/daemon.rs` does).
//!
//! The scrape goes over loopback HTTP to the real listener, as Prometheus's
//! would, after 100,000 runs were counted (so every histogram bucket and
//! series holds a value). It never touches the store: the registrations are
//! counted by the refresh, timed on its own.

use bgwasm::metrics::{Metrics, count_registrations, listener};
use bgwasm::sandbox::{ErrorKind, FetchRecord, RunError, RunOutcome};
use bgwasm::store::{Phase, RegistrationKey, SqliteStore, Store};
use std::time::{Duration, Instant};

const SPACES: usize = 1_000;
const PIECES_PER_SPACE: usize = 10;
const SCRAPES: usize = 1_000;
const COUNTS: usize = 50;

#[tokio::main]
async fn main() {
    bench().await;
}

/// The `q` quantile of sorted durations, in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index].as_secs_f64() * 1e3
}

/// A run that did something, so histograms and every label fill up.
fn outcome(i: usize) -> RunOutcome {
    let kind = ErrorKind::ALL[i % ErrorKind::ALL.len()];
    let ok = !i.is_multiple_of(3);
    RunOutcome {
        ok,
        error: (!ok).then(|| RunError {
            kind,
            message: "failed".into(),
            stack: None,
        }),
        duration_ms: (i % 5_000) as u64,
        fuel_used: (i as u64 % 1_000) * 100_000,
        fetches: vec![FetchRecord {
            method: "GET".into(),
            url: "https://example.com/".into(),
            status: (!i.is_multiple_of(7)).then_some(200),
            duration_ms: 1,
            error: i
                .is_multiple_of(7)
                .then(|| "cannot connect: refused".into()),
        }],
        ..RunOutcome::default()
    }
}

async fn bench() {
    let (spaces, per_space) = (SPACES, PIECES_PER_SPACE);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let seeding = Instant::now();
    let mut registered = 0usize;
    for s in 0..spaces {
        let space =
            bgwasm::identity::space_did_for_name(&format!("bench-{s}"), "common user").to_string();
        for p in 0..per_space {
            let source = format!("// piece {p} of space {s}\nexport function bgUpdater() {{}}\n");
            let added = store
                .add_piece(&space, None, source.into(), 0)
                .await
                .unwrap();
            let key = RegistrationKey::new(space.clone(), added.info.id);
            store.register(&key, "bench", 0).await.unwrap();
            // Some disabled, so the count has more than one phase.
            if p == 0 {
                store.disable(&key, 0).await.unwrap();
            }
            registered += 1;
        }
    }
    println!(
        "seeded {registered} registrations in {spaces} spaces in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let metrics = Metrics::new();
    for i in 0..100_000 {
        metrics.observe_run(&outcome(i));
        metrics.observe_lateness(Duration::from_millis((i % 2_000) as u64));
        metrics.observe_commit(Duration::from_micros((i % 3_000) as u64));
    }
    metrics.set_live_sandboxes(spaces);

    let mut counts = Vec::with_capacity(COUNTS);
    for _ in 0..COUNTS {
        let started = Instant::now();
        count_registrations(&store, &metrics).await.unwrap();
        counts.push(started.elapsed());
    }
    counts.sort();
    assert_eq!(
        metrics.registrations(Phase::Scheduled) + metrics.registrations(Phase::Disabled),
        registered as u64
    );
    println!(
        "counting {registered} registrations by phase (every 5 s, in the background): median {:.2} ms, max {:.2} ms",
        quantile_ms(&counts, 0.5),
        quantile_ms(&counts, 1.0)
    );

    let mut renders = Vec::with_capacity(SCRAPES);
    for _ in 0..SCRAPES {
        let started = Instant::now();
        std::hint::black_box(metrics.render());
        renders.push(started.elapsed());
    }
    renders.sort();
    println!(
        "encoding the metrics (the scrape's own work): median {:.3} ms, p99 {:.3} ms",
        quantile_ms(&renders, 0.5),
        quantile_ms(&renders, 0.99)
    );

    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let router = listener::router(metrics.clone());
    tokio::spawn(async move { axum::serve(server, router).await });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/metrics");
    let mut bytes = 0;
    let mut scrapes = Vec::with_capacity(SCRAPES);
    for _ in 0..SCRAPES {
        let started = Instant::now();
        let body = http.get(&url).send().await.unwrap().text().await.unwrap();
        scrapes.push(started.elapsed());
        bytes = body.len();
    }
    scrapes.sort();
    let p99 = quantile_ms(&scrapes, 0.99);
    println!(
        "a scrape of GET /metrics over loopback at {registered} registrations ({bytes} bytes): \
         median {:.3} ms, p99 {p99:.3} ms, max {:.3} ms (target: under 10 ms) {}",
        quantile_ms(&scrapes, 0.5),
        quantile_ms(&scrapes, 1.0),
        if p99 < 10.0 { "OK" } else { "MISSED" }
    );
}
