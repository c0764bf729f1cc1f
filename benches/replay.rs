//! Replay benchmark: what recording costs a warm run with one fetch.
//!
//! `cargo bench --bench replay` runs the same piece (one fetch of a small
//! JSON document from a loopback server, a clock reading, `Math.random`, a
//! cell read and write) in two warm sandboxes, one recording (the default
//! cap, and the record serialised as the daemon stores it) and one not,
//! interleaved, and prints the median of each and their ratio. The target is
//! a ratio of at most 1.05. It also prints the time to replay that run.

use axum::Router;
use axum::routing::get;
use bgwasm::sandbox::{
    DEFAULT_RECORD_BYTES, EgressPolicy, EngineOptions, Limits, MemoryCells, Piece, SandboxEngine,
    SpaceSandbox,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 400;
const WARMUP: usize = 30;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

async fn bench() {
    let app = Router::new().route(
        "/price",
        get(|| async {
            (
                [("content-type", "application/json")],
                r#"{"price":42,"currency":"EUR"}"#,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let engine = SandboxEngine::new(EngineOptions {
        egress: EgressPolicy::new(true, vec![]),
        ..EngineOptions::default()
    })
    .await
    .expect("engine");
    let source = format!(
        r#"export async function bgUpdater() {{
  const started = Date.now();
  const body = await (await fetch("http://{addr}/price")).json();
  const seen = cells.get("seen") ?? 0;
  cells.set("seen", seen + 1);
  return {{ price: body.price, started, r: Math.random() }};
}}"#
    );
    let piece = Piece::new("price", source);
    let event = serde_json::json!({});
    let cells = Arc::new(MemoryCells::default());
    let mut plain =
        SpaceSandbox::new(engine.clone(), "plain", Limits::default()).with_record_bytes(0);
    let mut recording = SpaceSandbox::new(engine.clone(), "recording", Limits::default())
        .with_record_bytes(DEFAULT_RECORD_BYTES);
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let mut record = None;
    for round in 0..(WARMUP + RUNS) {
        let started = Instant::now();
        let report = plain.run(&piece, &event, cells.clone()).await;
        let plain_time = started.elapsed();
        assert!(
            report.outcome.ok && report.record.is_none(),
            "{:?}",
            report.outcome.error
        );

        let started = Instant::now();
        let report = recording.run(&piece, &event, cells.clone()).await;
        let stored = report
            .record
            .as_ref()
            .expect("recorded")
            .to_json()
            .expect("serialises");
        let recording_time = started.elapsed();
        assert!(report.outcome.ok, "{:?}", report.outcome.error);
        if round >= WARMUP {
            without.push(plain_time);
            with.push(recording_time);
        }
        record = Some((report, stored.len()));
    }
    let (without, with) = (median(without), median(with));
    println!(
        "{:<52} {:>9.1} µs",
        "warm run with one fetch, not recorded (median)",
        without.as_secs_f64() * 1e6
    );
    println!(
        "{:<52} {:>9.1} µs",
        "warm run with one fetch, recorded + serialised",
        with.as_secs_f64() * 1e6
    );
    println!(
        "{:<52} {:>9.3}",
        "ratio (target: at most 1.05)",
        with.as_secs_f64() / without.as_secs_f64()
    );
    let (report, bytes) = record.expect("ran");
    println!("{:<52} {:>9} bytes", "its record, stored", bytes);

    let mut replays = Vec::new();
    let mut replayer = SpaceSandbox::new(engine, "replay", Limits::default()).with_record_bytes(0);
    for _ in 0..50 {
        let record = (*report.record.clone().expect("recorded")).clone();
        let started = Instant::now();
        let replayed = replayer
            .replay(&piece, record, &report.outcome, false)
            .await;
        replays.push(started.elapsed());
        assert!(
            replayed.same,
            "{:?} {:?}",
            replayed.divergence, replayed.differences
        );
    }
    println!(
        "{:<52} {:>9.1} µs",
        "replay of that run, warm (median)",
        median(replays).as_secs_f64() * 1e6
    );
}
