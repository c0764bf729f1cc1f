//! Exact replay end to end: a piece runs on the real daemon (fetching from a
//! loopback server, reading the clocks and randomness, reading and writing
//! cells), then the world changes, and `bgwasm replay` still reproduces the
//! run from its record; `--source` replays its inputs against a fixed piece;
//! a changed source, a fetch not in the record and a truncated record say so.

mod common;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use bgwasm::auth::{now_unix, sign_request};
use bgwasm::identity::Identity;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const OPERATOR_PASS: &str = "replay operator";
const SPACE: &str = "replay-space";

/// A loopback server whose answer the test changes: `/price` is
/// `{"price": N}` with `x-version: N`; `/big` is 20000 bytes.
struct PriceServer {
    addr: SocketAddr,
    price: Arc<AtomicU64>,
    hits: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl PriceServer {
    async fn start() -> Self {
        let price = Arc::new(AtomicU64::new(1));
        let hits = Arc::new(AtomicU64::new(0));
        let app = Router::new()
            .route(
                "/price",
                get(
                    |State((price, hits)): State<(Arc<AtomicU64>, Arc<AtomicU64>)>| async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        let p = price.load(Ordering::SeqCst);
                        (
                            [
                                (header::CONTENT_TYPE, "application/json".to_owned()),
                                (header::HeaderName::from_static("x-version"), p.to_string()),
                            ],
                            format!(r#"{{"price":{p}}}"#),
                        )
                            .into_response()
                    },
                ),
            )
            .route("/big", get(|| async { "b".repeat(20_000) }))
            .with_state((price.clone(), hits.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            price,
            hits,
            task,
        }
    }
}

impl Drop for PriceServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The daemon under test; killed when dropped.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    async fn start(data_dir: &Path, record_bytes: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let log = data_dir.join("daemon.log");
        let child = Command::new(env!("CARGO_BIN_EXE_bgwasm"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", &addr.to_string(), "--interval", "1h"])
            .args(["--allow-private-network", "--grace", "2"])
            .args(["--record-bytes", record_bytes])
            .env("BGWASM_CACHE_DIR", common::cache_dir())
            .env("OPERATOR_PASS", OPERATOR_PASS)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting bgwasm serve");
        let daemon = Self { child, addr, log };
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/healthz");
        common::wait_until("the daemon comes up", Duration::from_secs(30), || {
            let request = client.get(&url).send();
            async move { request.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
        daemon
    }

    /// Runs the CLI against this daemon.
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bgwasm"))
            .args(args)
            .env("API_URL", format!("http://{}", self.addr))
            .env("BGWASM_CACHE_DIR", common::cache_dir())
            .env("OPERATOR_PASS", OPERATOR_PASS)
            .output()
            .expect("running bgwasm")
    }

    /// A signed API call as the space.
    async fn call(&self, method: &str, path: &str, body: &str) -> Value {
        let key = Identity::from_passphrase("common user").derive(SPACE);
        let audience = Identity::from_passphrase(OPERATOR_PASS).did();
        let token = sign_request(&key, &audience, method, path, body.as_bytes(), now_unix());
        let response = reqwest::Client::new()
            .request(
                method.parse().unwrap(),
                format!("http://{}{path}", self.addr),
            )
            .header("authorization", token)
            .body(body.to_owned())
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("the daemon answers");
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "{method} {path}: {status} {json}\n{}",
            self.logs()
        );
        json
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn piece_path(piece: &str) -> String {
        let did = Identity::from_passphrase("common user").derive(SPACE).did();
        format!("/api/spaces/{did}/pieces/{piece}")
    }

    /// Runs the piece now and returns the new run's id and outcome.
    async fn run(&self, piece: &str) -> (i64, Value) {
        let outcome = self
            .call("POST", &format!("{}/run", Self::piece_path(piece)), "")
            .await;
        let details = self.call("GET", &Self::piece_path(piece), "").await;
        let newest = &details["runs"][0];
        assert_eq!(
            newest["outcome"], outcome,
            "the newest run is the one just made"
        );
        (newest["id"].as_i64().unwrap(), outcome)
    }
}

fn add_piece(daemon: &Daemon, dir: &Path, id: &str, source: &str) {
    let file = dir.join(format!("{id}.js"));
    std::fs::write(&file, source).unwrap();
    let added = daemon.cli(&[
        "piece",
        "add",
        file.to_str().unwrap(),
        "--space",
        SPACE,
        "--id",
        id,
    ]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
}

fn replay(daemon: &Daemon, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut argv = vec!["replay", SPACE];
    argv.extend_from_slice(args);
    argv.push("--json");
    let output = daemon.cli(&argv);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (output.status.code(), json, stderr)
}

/// The piece: everything a run cannot know in advance.
fn piece_source(server: SocketAddr, tail: &str) -> String {
    format!(
        r#"
export async function bgUpdater(event, ctx) {{
  const started = Date.now();
  const t0 = performance.now();
  const r = Math.random();
  const bytes = Array.from(crypto.getRandomValues(new Uint8Array(8)));
  const uuid = crypto.randomUUID();
  // A timer races the fetch: the replay delivers them in the run's order.
  let timerFirst = undefined;
  const timer = new Promise((resolve) => setTimeout(() => {{ timerFirst ??= true; resolve(); }}, 1));
  const response = await fetch("http://{server}/price");
  timerFirst ??= false;
  await timer;
  const body = await response.json();
  const count = cells.get("count") ?? 0;
  cells.set("count", count + 1);
  cells.set("last", {{ price: body.price, started, r }});
  const elapsed = performance.now() - t0;
  console.log(`price ${{body.price}} at ${{started}}, random ${{r}}`);
  {tail}
  return {{ price: body.price, version: response.headers.get("x-version"), started, elapsed, r, bytes, uuid, count, timerFirst }};
}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_replays_exactly_after_the_world_changed() {
    let server = PriceServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "65536").await;
    add_piece(
        &daemon,
        dir.path(),
        "prices",
        &piece_source(server.addr, ""),
    );

    let (first, recorded) = daemon.run("prices").await;
    assert_eq!(recorded["ok"], true, "{recorded}");
    assert_eq!(recorded["value"]["price"], 1);
    assert_eq!(recorded["value"]["count"], 0);

    // The world moves on: the server answers otherwise, the cells changed.
    server.price.store(7, Ordering::SeqCst);
    let (second, now) = daemon.run("prices").await;
    assert_eq!(
        (now["value"]["price"].clone(), now["value"]["count"].clone()),
        (7.into(), 1.into())
    );
    assert_ne!(
        now["value"]["r"], recorded["value"]["r"],
        "each run has its own seed"
    );

    // The replay reproduces the first run exactly: value (clocks, randomness,
    // the old answer and cells), logs, fetches and cell writes.
    let requests_before = server.hits.load(Ordering::SeqCst);
    let (code, report, stderr) = replay(&daemon, &["prices", &first.to_string()]);
    assert_eq!(code, Some(0), "{report}\n{stderr}");
    assert_eq!(report["same"], true, "{report}");
    assert_eq!(report["replayed"]["value"], recorded["value"]);
    assert_eq!(report["replayed"]["logs"], recorded["logs"]);
    assert_eq!(report["replayed"]["cellWrites"], recorded["cellWrites"]);
    assert_eq!(report["truncated"], Value::Null);
    assert!(report["recordBytes"].as_u64().unwrap() > 0);
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        requests_before,
        "a replay never fetches"
    );
    // And the second run, just as exactly.
    let (code, report, stderr) = replay(&daemon, &["prices", &second.to_string()]);
    assert_eq!(
        (code, report["replayed"]["value"].clone()),
        (Some(0), now["value"].clone()),
        "{report}\n{stderr}"
    );

    // The text report says so too.
    let text = daemon.cli(&["replay", SPACE, "prices", &first.to_string()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("same outcome as the run"), "{text}");

    // --source: the run's inputs against a fixed piece, which reports the
    // new outcome computed from the recorded answer (price 1, not 7).
    let fixed = dir.path().join("fixed.js");
    let fixed_source = piece_source(
        server.addr,
        "return { fixed: body.price * 100, started, r, count };",
    );
    std::fs::write(&fixed, &fixed_source).unwrap();
    let (code, report, stderr) = replay(
        &daemon,
        &[
            "prices",
            &first.to_string(),
            "--source",
            fixed.to_str().unwrap(),
        ],
    );
    assert_eq!(
        code,
        Some(3),
        "a different outcome is not the same: {report}\n{stderr}"
    );
    assert_eq!(report["divergence"], Value::Null, "{report}");
    let value = &report["replayed"]["value"];
    assert_eq!(value["fixed"], 100, "{report}");
    assert_eq!(
        (
            value["started"].clone(),
            value["r"].clone(),
            value["count"].clone()
        ),
        (
            recorded["value"]["started"].clone(),
            recorded["value"]["r"].clone(),
            0.into()
        )
    );
    assert!(
        report["differences"][0].as_str().unwrap().contains("value"),
        "{report}"
    );

    // A fixed piece that fetches once more: a fetch not in the record.
    let greedy = dir.path().join("greedy.js");
    let extra = format!(r#"await fetch("http://{}/price?again");"#, server.addr);
    std::fs::write(&greedy, piece_source(server.addr, &extra)).unwrap();
    let (code, report, _) = replay(
        &daemon,
        &[
            "prices",
            &first.to_string(),
            "--source",
            greedy.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(3));
    let divergence = report["divergence"].as_str().unwrap_or_default();
    assert!(
        divergence.contains("fetch #1") && divergence.contains("not in the record"),
        "{report}"
    );

    // The piece's source replaced on the daemon: replaying without --source
    // diverges at once, naming the changed source.
    daemon
        .call("PUT", &Daemon::piece_path("prices"), &fixed_source)
        .await;
    let (code, report, _) = replay(&daemon, &["prices", &first.to_string()]);
    assert_eq!(code, Some(3));
    assert!(
        report["divergence"]
            .as_str()
            .unwrap_or_default()
            .contains("source changed"),
        "{report}"
    );

    // An unknown run id is a clear error, not a divergence.
    let (code, _, stderr) = replay(&daemon, &["prices", "999999"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("has no run 999999"), "{stderr}");
    let (code, _, stderr) = replay(&daemon, &["prices", "latest"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not a run id"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_record_says_so_and_its_replay_stops_at_its_end() {
    let server = PriceServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "4096").await;
    let source = format!(
        r#"export async function bgUpdater() {{
  const text = await (await fetch("http://{}/big")).text();
  return text.length;
}}"#,
        server.addr
    );
    add_piece(&daemon, dir.path(), "big", &source);
    let started = Instant::now();
    let (run, outcome) = daemon.run("big").await;
    assert_eq!(outcome["value"], 20_000, "{outcome}");
    assert!(started.elapsed() < Duration::from_secs(30));

    let (code, report, stderr) = replay(&daemon, &["big", &run.to_string()]);
    assert_eq!(code, Some(3), "{report}\n{stderr}");
    let truncated = report["truncated"].as_str().unwrap_or_default();
    assert!(truncated.contains("4096 bytes"), "{report}");
    let divergence = report["divergence"].as_str().unwrap_or_default();
    assert!(divergence.contains("the record was truncated"), "{report}");
    let text = daemon.cli(&["replay", SPACE, "big", &run.to_string()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("TRUNCATED"), "{text}");
}
