//! Dashboard benchmark: how long the main page takes to load at 10,000
//! registrations (1,000 spaces of 10), each with run history. A load is what
//! a browser does on opening `/dashboard/`: the page's HTML, its session,
//! and the first page of registrations (50, with their duration charts),
//! over loopback HTTP against the real router and SQLite store.
//!
//! `cargo bench --bench dashboard`. `BGWASM_BENCH_SPACES`,
//! `BGWASM_BENCH_PIECES` (per space) and `BGWASM_BENCH_RUNS` (per piece)
//! change the shape.

use bgwasm::api::{ApiState, router};
use bgwasm::auth::{Verifier, now_unix, sign_request};
use bgwasm::identity::{Identity, space_did_for_name};
use bgwasm::sandbox::{CellSource, ErrorKind, Piece, RunError, RunOutcome, RunReport};
use bgwasm::scheduler::{PieceRunner, Scheduler, SchedulerConfig};
use bgwasm::store::{PieceId, RegistrationKey, SqliteStore, Store};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The scheduler is never started: nothing runs.
struct NeverRuns;

impl PieceRunner for NeverRuns {
    fn run(
        &self,
        _: &str,
        _: Piece,
        _: serde_json::Value,
        _: Arc<dyn CellSource>,
    ) -> BoxFuture<'static, RunReport> {
        unreachable!("the benchmark starts no scheduler")
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn outcome(i: usize) -> RunOutcome {
    let ok = !i.is_multiple_of(7);
    RunOutcome {
        ok,
        value: ok.then(|| serde_json::json!({ "count": i })),
        error: (!ok).then(|| RunError {
            kind: ErrorKind::JsError,
            message: "piece \"p\" failed: Error: the feed is gone".into(),
            stack: Some("    at bgUpdater (p:3:13)".into()),
        }),
        duration_ms: (i as u64 * 37) % 200,
        fuel_used: 100_000,
        logs: vec![bgwasm::sandbox::LogLine {
            level: bgwasm::sandbox::LogLevel::Info,
            message: format!("run {i}"),
        }],
        cell_writes: vec!["count".into()],
        ..RunOutcome::default()
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

/// Pieces and registrations through the store; their run history written
/// straight into the database in one transaction (through the store, each
/// run is its own durable commit, which would take most of an hour).
async fn fill(
    store: &SqliteStore,
    path: &std::path::Path,
    spaces: usize,
    per_space: usize,
    runs: usize,
) {
    let started = Instant::now();
    let mut keys = Vec::new();
    for s in 0..spaces {
        let space = space_did_for_name(&format!("space{s}"), "common user").to_string();
        for p in 0..per_space {
            let id = PieceId::parse(&format!("piece{p:03}")).unwrap();
            let source = format!("export function bgUpdater() {{ return {p}; }}");
            store
                .add_piece(&space, Some(id.clone()), source.into(), 1)
                .await
                .unwrap();
            let key = RegistrationKey::new(space.clone(), id);
            store.register(&key, "rss", 1).await.unwrap();
            keys.push(key);
        }
    }
    let mut db = rusqlite::Connection::open(path).unwrap();
    let tx = db.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO runs (space, piece_id, trigger, started_at, finished_at, ok, outcome)
                 VALUES (?1, ?2, 'scheduled', ?3, ?4, ?5, ?6)",
            )
            .unwrap();
        for (p, key) in keys.iter().enumerate() {
            for r in 0..runs {
                let outcome = outcome(r + p);
                let at = 1_000 * r as i64;
                insert
                    .execute(rusqlite::params![
                        key.space,
                        key.piece_id.as_str(),
                        at,
                        at + 5,
                        outcome.ok,
                        serde_json::to_string(&outcome).unwrap()
                    ])
                    .unwrap();
            }
        }
    }
    tx.commit().unwrap();
    eprintln!(
        "filled {} registrations with {runs} runs each in {:.1} s",
        keys.len(),
        started.elapsed().as_secs_f64()
    );
}

async fn bench() {
    let spaces = env_or("BGWASM_BENCH_SPACES", 1000);
    let per_space = env_or("BGWASM_BENCH_PIECES", 10);
    let runs = env_or("BGWASM_BENCH_RUNS", 20);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    fill(&store, store.path(), spaces, per_space, runs).await;

    let operator = Identity::from_passphrase("bench operator");
    let scheduler = Scheduler::new(
        store.clone(),
        Arc::new(NeverRuns),
        SchedulerConfig::default(),
    );
    let state = ApiState::new(store, scheduler)
        .with_auth(Verifier::new(operator.did(), operator.did()), false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(state)).await });

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = "/api/dashboard/login";
    let token = sign_request(&operator, &operator.did(), "POST", login, b"", now_unix());
    let answer = http
        .post(format!("{base}{login}"))
        .header("authorization", token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    let opened = http
        .get(format!("{base}{}", answer["path"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    let cookie = opened.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let total = spaces * per_space;
    let last = total.div_ceil(50).max(1);
    println!(
        "dashboard main page at {total} registrations ({runs} runs each), over loopback HTTP:"
    );
    for page in [1, last / 2, last] {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..40 {
            let started = Instant::now();
            bytes = 0;
            for path in [
                "/dashboard/".to_owned(),
                "/dashboard/api/session".to_owned(),
                format!("/dashboard/api/registrations?page={page}"),
            ] {
                let response = http
                    .get(format!("{base}{path}"))
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .unwrap();
                assert!(
                    response.status().is_success(),
                    "{path}: {}",
                    response.status()
                );
                bytes += response.bytes().await.unwrap().len();
            }
            times.push(started.elapsed());
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "  page {page:>4}: median {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} KiB: HTML + session + 50 rows)",
            ms(times[times.len() / 2]),
            ms(times[times.len() * 95 / 100]),
            ms(times[times.len() - 1]),
            bytes / 1024
        );
    }
}
