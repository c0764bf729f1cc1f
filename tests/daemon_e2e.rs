//! `bgwasm serve` end to end: the real binary on a temporary data dir, driven
//! through its signed HTTP API.

mod common;

use bgwasm::auth::{now_unix, sign_request};
use bgwasm::identity::Identity;
use common::{TestServer, fixture};
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const OPERATOR_PASS: &str = "e2e operator";

/// A daemon process; killed when dropped, so a failing test leaves none behind.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    http: reqwest::Client,
    operator: Identity,
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn space_key(name: &str) -> Identity {
    Identity::from_passphrase("common user").derive(name)
}

impl Daemon {
    async fn start(data_dir: &Path, interval: &str, extra: &[&str]) -> Self {
        let addr = free_port();
        let log = data_dir.join(format!("daemon-{}.log", addr.port()));
        let child = Command::new(env!("CARGO_BIN_EXE_bgwasm"))
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args([
                "--listen",
                &addr.to_string(),
                "--interval",
                interval,
                "--allow-private-network",
                "--grace",
                "5",
            ])
            .args(extra)
            .env("BGWASM_CACHE_DIR", common::cache_dir())
            .env("OPERATOR_PASS", OPERATOR_PASS)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting bgwasm serve");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let daemon = Self {
            child,
            addr,
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            operator: Identity::from_passphrase(OPERATOR_PASS),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = daemon
                .http
                .get(format!("http://{addr}/healthz"))
                .send()
                .await
                && response.status().is_success()
            {
                return daemon;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not come up:\n{}",
                daemon.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn call(
        &self,
        signer: &Identity,
        method: &str,
        path: &str,
        body: impl Into<Vec<u8>>,
    ) -> (u16, Value) {
        let body = body.into();
        let token = sign_request(
            signer,
            &self.operator.did(),
            method,
            path,
            &body,
            now_unix(),
        );
        let response = self
            .http
            .request(
                method.parse().unwrap(),
                format!("http://{}{path}", self.addr),
            )
            .header("authorization", token)
            .body(body)
            .send()
            .await
            .expect("the daemon answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// The public `/healthz`.
    async fn health(&self) -> Value {
        let response = self
            .http
            .get(format!("http://{}/healthz", self.addr))
            .send()
            .await
            .expect("the daemon answers");
        let bytes = response.bytes().await.expect("/healthz answers a body");
        serde_json::from_slice(&bytes).expect("/healthz is JSON")
    }

    /// Adds a piece to a named space (signed by its key) and returns its id.
    async fn add_piece(&self, space: &str, source: &str) -> String {
        let key = space_key(space);
        let (status, body) = self
            .call(
                &key,
                "POST",
                &format!("/api/spaces/{}/pieces", key.did()),
                source,
            )
            .await;
        assert!(status == 200 || status == 201, "{status} {body}");
        body["pieceId"].as_str().unwrap().to_owned()
    }

    async fn register(&self, space: &str, piece_id: &str) -> (u16, Value) {
        let key = space_key(space);
        let body =
            json!({"pieceId": piece_id, "space": key.did().to_string(), "integration": "e2e"});
        self.call(&key, "POST", "/api/integrations/bg", body.to_string())
            .await
    }

    async fn registration(&self, space: &str, piece_id: &str) -> Value {
        let did = space_key(space).did();
        let (status, list) = self
            .call(
                &self.operator,
                "GET",
                &format!("/api/integrations/bg?space={did}"),
                "",
            )
            .await;
        assert_eq!(status, 200, "{list}");
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| r["pieceId"] == json!(piece_id))
            .cloned()
            .unwrap_or(Value::Null)
    }

    async fn cells(&self, space: &str) -> Value {
        let did = space_key(space).did();
        let (status, body) = self
            .call(
                &self.operator,
                "GET",
                &format!("/api/spaces/{did}/cells"),
                "",
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["cells"].clone()
    }

    async fn runs(&self, space: &str, piece_id: &str) -> Vec<Value> {
        let did = space_key(space).did();
        let (status, body) = self
            .call(
                &self.operator,
                "GET",
                &format!("/api/spaces/{did}/pieces/{piece_id}?runs=50"),
                "",
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["runs"].as_array().cloned().unwrap_or_default()
    }

    /// Polls until `done` holds of the registration, or fails after `limit`.
    async fn wait_for(
        &self,
        space: &str,
        piece_id: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let registration = self.registration(space, piece_id).await;
            if done(&registration) {
                return registration;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting; last state {registration}\nlogs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_registered_piece_runs_every_interval_and_shows_success() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "200ms", &[]).await;
    let piece = daemon.add_piece("alice", &fixture("sync_counter.js")).await;
    let (status, body) = daemon.register("alice", &piece).await;
    assert_eq!(
        (status, body),
        (200, json!({"success": true, "message": "success"}))
    );
    let registration = daemon
        .wait_for("alice", &piece, Duration::from_secs(10), |r| {
            r["totalRuns"].as_i64() >= Some(3)
        })
        .await;
    assert_eq!(registration["status"], json!("Success"));
    assert_eq!(registration["consecutiveFailures"], json!(0));
    assert_eq!(registration["disabledAt"], json!(0));
    assert!(registration["lastFuel"].as_i64().unwrap() > 0);
    assert!(daemon.cells("alice").await["count"].as_i64().unwrap() >= 3);
    assert!(
        daemon.logs().contains("Successfully executed piece"),
        "{}",
        daemon.logs()
    );
}

#[tokio::test]
async fn a_failing_piece_is_disabled_after_three_failures_and_recovers_when_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "100ms", &[]).await;
    let piece = daemon.add_piece("bob", &fixture("throws.js")).await;
    daemon.register("bob", &piece).await;
    let disabled = daemon
        .wait_for("bob", &piece, Duration::from_secs(10), |r| {
            r["disabledAt"].as_i64() > Some(0)
        })
        .await;
    let status = disabled["status"].as_str().unwrap();
    assert!(
        status.starts_with("Disabled: ") && status.contains("boom from a sync handler"),
        "{status}"
    );
    assert_eq!(disabled["consecutiveFailures"], json!(3));
    assert_eq!(disabled["totalRuns"], json!(3));
    // Nothing runs while disabled: not in six intervals (an absence, so
    // there is no state to wait on, only time to let pass).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        daemon.registration("bob", &piece).await["totalRuns"],
        json!(3)
    );
    assert!(
        daemon.logs().contains("js_error"),
        "failures are logged with their kind"
    );

    // Fix the source and register again: failures are forgiven and it runs.
    let did = space_key("bob").did();
    let (status, body) = daemon
        .call(
            &space_key("bob"),
            "PUT",
            &format!("/api/spaces/{did}/pieces/{piece}"),
            fixture("sync_counter.js"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    daemon.register("bob", &piece).await;
    let recovered = daemon
        .wait_for("bob", &piece, Duration::from_secs(10), |r| {
            r["status"] == json!("Success")
        })
        .await;
    assert_eq!(recovered["disabledAt"], json!(0));
    assert_eq!(recovered["consecutiveFailures"], json!(0));
}

#[tokio::test]
async fn kill_9_mid_run_loses_nothing_and_applies_nothing_half_done() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), "1s", &[]).await;
    // Seed the cell the piece reads its URL from, through a committed run.
    let seeder = daemon
        .add_piece(
            "carol",
            &format!(
                "export function bgUpdater() {{ cells.set('url', {:?}); }}",
                server.url("/delay/2500")
            ),
        )
        .await;
    let did = space_key("carol").did();
    let (status, outcome) = daemon
        .call(
            &space_key("carol"),
            "POST",
            &format!("/api/spaces/{did}/pieces/{seeder}/run"),
            "",
        )
        .await;
    assert_eq!(
        (status, outcome["ok"].clone()),
        (200, json!(true)),
        "{outcome}"
    );
    let piece = daemon
        .add_piece("carol", &fixture("daemon_slow_write.js"))
        .await;
    daemon.register("carol", &piece).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests() == 0 {
        assert!(
            Instant::now() < deadline,
            "the run never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The run wrote `started` and waits on the server: kill it now.
    daemon.signal("-KILL");
    assert!(daemon.wait_exit(Duration::from_secs(5)).is_some());
    drop(daemon);

    let daemon = Daemon::start(dir.path(), "1s", &[]).await;
    let registration = daemon.registration("carol", &piece).await;
    assert_eq!(
        registration["pieceId"],
        json!(piece),
        "the registration survived"
    );
    assert_eq!(registration["integration"], json!("e2e"));
    let cells = daemon.cells("carol").await;
    assert!(
        cells.get("started").is_none(),
        "half a run was applied: {cells}"
    );
    assert!(
        daemon.runs("carol", &piece).await.is_empty()
            || registration["totalRuns"].as_i64() >= Some(1)
    );
    // After the restart the piece runs again, to completion.
    let done = daemon
        .wait_for("carol", &piece, Duration::from_secs(15), |r| {
            r["status"] == json!("Success")
        })
        .await;
    assert_eq!(
        done["totalRuns"],
        json!(1),
        "the killed run left no record: {done}"
    );
    let cells = daemon.cells("carol").await;
    assert_eq!(cells["started"], json!(true));
    assert_eq!(cells["finished"], json!("delayed 2500"));
}

#[tokio::test]
async fn two_spaces_run_in_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "60s", &[]).await;
    let a = daemon.add_piece("dora", &fixture("daemon_sleep.js")).await;
    let b = daemon.add_piece("eve", &fixture("daemon_sleep.js")).await;
    let started = Instant::now();
    daemon.register("dora", &a).await;
    daemon.register("eve", &b).await;
    for (space, piece) in [("dora", &a), ("eve", &b)] {
        daemon
            .wait_for(space, piece, Duration::from_secs(10), |r| {
                r["status"] == json!("Success")
            })
            .await;
    }
    let elapsed = started.elapsed();
    let run_a = &daemon.runs("dora", &a).await[0];
    let run_b = &daemon.runs("eve", &b).await[0];
    let overlap = run_a["finishedAt"]
        .as_i64()
        .unwrap()
        .min(run_b["finishedAt"].as_i64().unwrap())
        - run_a["startedAt"]
            .as_i64()
            .unwrap()
            .max(run_b["startedAt"].as_i64().unwrap());
    assert!(overlap > 500, "the runs did not overlap: {run_a} {run_b}");
    assert!(
        elapsed < Duration::from_millis(1900),
        "two 1 s runs took {elapsed:?}"
    );
}

/// One daemon schedules a data directory: a second `bgwasm serve` on it
/// exits at start with an error naming the lock and the fix, and the first
/// serves on, its piece still running.
#[tokio::test]
async fn a_second_daemon_on_the_same_data_directory_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "200ms", &[]).await;
    let piece = daemon.add_piece("ann", &fixture("sync_counter.js")).await;
    daemon.register("ann", &piece).await;
    let mut second = Command::new(env!("CARGO_BIN_EXE_bgwasm"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &free_port().to_string()])
        .env("BGWASM_CACHE_DIR", common::cache_dir())
        .env("OPERATOR_PASS", OPERATOR_PASS)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting a second bgwasm serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("the second daemon did not exit");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "the second daemon exited {status:?}");
    assert!(stderr.contains("schedule-lock"), "{stderr}");
    assert!(stderr.contains("one daemon per data directory"), "{stderr}");
    let before = daemon.cells("ann").await["count"].as_i64().unwrap_or(0);
    common::wait_until(
        "the first daemon runs on",
        Duration::from_secs(10),
        || async { daemon.cells("ann").await["count"].as_i64().unwrap_or(0) > before },
    )
    .await;
}

#[tokio::test]
async fn sigterm_lets_the_run_in_flight_finish_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(dir.path(), "60s", &[]).await;
    let piece = daemon.add_piece("fay", &fixture("daemon_sleep.js")).await;
    daemon.register("fay", &piece).await;
    common::wait_until("the run is in flight", Duration::from_secs(10), || async {
        daemon.health().await["running"] == json!(1)
    })
    .await;
    let stopping = Instant::now();
    daemon.signal("-TERM");
    let status = daemon
        .wait_exit(Duration::from_secs(8))
        .expect("the daemon exits within the grace period");
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        daemon.logs()
    );
    assert!(
        stopping.elapsed() >= Duration::from_millis(400),
        "it did not wait for the run"
    );
    drop(daemon);

    let daemon = Daemon::start(dir.path(), "60s", &[]).await;
    let registration = daemon.registration("fay", &piece).await;
    assert_eq!(
        registration["status"],
        json!("Success"),
        "the run in flight was committed: {registration}"
    );
    assert_eq!(daemon.cells("fay").await["slept"], json!(true));
}

#[tokio::test]
async fn bad_registrations_and_oversized_bodies_are_refused_and_the_daemon_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "60s", &["--body-limit", "4096"]).await;
    let key = space_key("gus");
    let space = key.did().to_string();
    for (body, field) in [
        (
            json!({"space": space, "integration": "x"}).to_string(),
            "pieceId",
        ),
        (
            json!({"pieceId": 7, "space": space, "integration": "x"}).to_string(),
            "pieceId",
        ),
        (
            json!({"pieceId": "p", "space": space}).to_string(),
            "integration",
        ),
        ("{not json".to_owned(), "JSON"),
    ] {
        let (status, answer) = daemon
            .call(&key, "POST", "/api/integrations/bg", body)
            .await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["success"], json!(false));
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    let (status, answer) = daemon.register("gus", "unknown-piece").await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = daemon
        .call(
            &key,
            "POST",
            &format!("/api/spaces/{space}/pieces"),
            "x".repeat(10_000),
        )
        .await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["success"], json!(false));
    // Still serving, and nothing was stored.
    let piece = daemon.add_piece("gus", &fixture("sync_counter.js")).await;
    assert_eq!(daemon.register("gus", &piece).await.0, 200);
    let (_, all) = daemon
        .call(&daemon.operator, "GET", "/api/integrations/bg", "")
        .await;
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_piece_cannot_reach_the_daemon_api_even_with_the_private_network_open() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "60s", &[]).await;
    let url = format!("http://{}/healthz", daemon.addr);
    let seed = daemon
        .add_piece(
            "hal",
            &format!("export function bgUpdater() {{ cells.set('url', {url:?}); }}"),
        )
        .await;
    let probe = daemon
        .add_piece("hal", &fixture("daemon_probe_api.js"))
        .await;
    let did = space_key("hal").did();
    let run = async |piece: &str| {
        daemon
            .call(
                &space_key("hal"),
                "POST",
                &format!("/api/spaces/{did}/pieces/{piece}/run"),
                "",
            )
            .await
    };
    assert_eq!(run(&seed).await.1["ok"], json!(true));
    let (status, outcome) = run(&probe).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["value"]["reached"], json!(false), "{outcome}");
    assert!(
        outcome["value"]["error"]
            .as_str()
            .unwrap()
            .contains("daemon_address"),
        "{outcome}"
    );
}

/// Runs the `bgwasm` CLI client against `daemon`; returns exit code, stdout
/// and stderr.
fn client(daemon: &Daemon, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_bgwasm"))
        .args(args)
        .env("API_URL", format!("http://{}", daemon.addr))
        .env("OPERATOR_PASS", OPERATOR_PASS)
        .env_remove("IDENTITY")
        .output()
        .expect("running the bgwasm client");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_client_drives_a_piece_and_refuses_bad_ids_locally() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "60s", &[]).await;
    let file = common::fixture_path("sync_counter.js");
    let file = file.to_str().unwrap();
    let (code, out, err) = client(
        &daemon,
        &[
            "piece",
            "add",
            file,
            "--space",
            "ivy",
            "--id",
            "counter",
            "--register",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("counter\nregistered "), "{out}");
    let (code, out, err) = client(&daemon, &["run", "ivy", "counter"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok: piece \"counter\" succeeded"), "{out}");
    let (code, out, err) = client(&daemon, &["status", "--space", "ivy"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.lines().nth(1).unwrap().contains(" counter "), "{out}");
    for (action, shown) in [
        ("disable", "Disabled via UI"),
        ("enable", "Re-initializing"),
    ] {
        let (code, out, err) = client(&daemon, &[action, "ivy", "counter"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.trim_end().ends_with(shown), "{action}: {out}");
    }
    let (code, out, err) = client(&daemon, &["unregister", "ivy", "counter"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("unregistered "), "{out}");

    // Refused before any request, with exit code 2 and the id named.
    let before = daemon.health().await["counts"].clone();
    for (args, named) in [
        (
            vec!["piece", "add", file, "--space", "ivy", "--id", "a b"],
            "a b",
        ),
        (
            vec!["piece", "add", file, "--space", "ivy", "--id", "ok&id=z"],
            "ok&id=z",
        ),
        (vec!["enable", "ivy", "../../x"], "../../x"),
        (vec!["run", "did:key:zNOPE", "counter"], "did:key:zNOPE"),
    ] {
        let (code, out, err) = client(&daemon, &args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(named), "{args:?}: {err}");
    }
    assert_eq!(daemon.health().await["counts"], before);
}

/// The value of the series named exactly `series` (with its labels) in a
/// Prometheus text scrape.
fn series_value(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in the scrape:\n{scrape}"))
        .parse()
        .unwrap()
}

/// Every label value in a scrape.
fn label_values(scrape: &str) -> Vec<String> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| Some(line.split_once('{')?.1.split_once('}')?.0.to_owned()))
        .flat_map(|labels| {
            labels
                .split(',')
                .filter_map(|pair| Some(pair.split_once('=')?.1.trim_matches('"').to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_runs_fetches_and_registrations_on_their_own_listener() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let metrics_addr = free_port();
    let daemon = Daemon::start(
        dir.path(),
        "60s",
        &["--metrics-listen", &metrics_addr.to_string()],
    )
    .await;
    let scrape = async || {
        let response = daemon
            .http
            .get(format!("http://{metrics_addr}/metrics"))
            .send()
            .await
            .expect("the metrics listener answers");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        response.text().await.unwrap()
    };
    let before = scrape().await;
    assert_eq!(
        series_value(&before, "bgwasm_runs_total{outcome=\"ok\"}"),
        0.0
    );

    // One piece succeeds on the schedule, with one fetch that gets an answer.
    let fetches = daemon
        .add_piece(
            "mia",
            &format!(
                "export async function bgUpdater() {{ return (await fetch({:?})).status; }}",
                server.url("/json")
            ),
        )
        .await;
    daemon.register("mia", &fetches).await;
    daemon
        .wait_for("mia", &fetches, Duration::from_secs(10), |r| {
            r["status"] == json!("Success")
        })
        .await;
    // One throws; one has a fetch denied (the daemon's own API) and one that
    // cannot connect, and catches both.
    let thrower = daemon.add_piece("mia", &fixture("throws.js")).await;
    let denied = daemon
        .add_piece(
            "mia",
            &format!(
                "export async function bgUpdater() {{
                   const failed = [];
                   for (const url of [{:?}, {:?}]) {{
                     try {{ await fetch(url); }} catch (error) {{ failed.push(error.message); }}
                   }}
                   return failed;
                 }}",
                format!("http://{}/healthz", daemon.addr),
                format!("http://{}/", free_port()),
            ),
        )
        .await;
    let did = space_key("mia").did();
    for piece in [&thrower, &denied] {
        let (status, outcome) = daemon
            .call(
                &space_key("mia"),
                "POST",
                &format!("/api/spaces/{did}/pieces/{piece}/run"),
                "",
            )
            .await;
        assert_eq!(status, 200, "{outcome}");
        if piece == &denied {
            assert_eq!(outcome["ok"], json!(true), "{outcome}");
            let messages = outcome["value"].to_string();
            assert!(
                messages.contains("denied by the egress policy"),
                "{outcome}"
            );
        }
    }

    let after = scrape().await;
    let value = |series: &str| series_value(&after, series);
    assert_eq!(value("bgwasm_runs_total{outcome=\"ok\"}"), 2.0, "{after}");
    assert_eq!(value("bgwasm_runs_total{outcome=\"js_error\"}"), 1.0);
    assert_eq!(value("bgwasm_runs_total{outcome=\"timeout\"}"), 0.0);
    assert_eq!(value("bgwasm_fetches_total{result=\"ok\"}"), 1.0);
    assert_eq!(value("bgwasm_fetches_total{result=\"denied\"}"), 1.0);
    assert_eq!(value("bgwasm_fetches_total{result=\"error\"}"), 1.0);
    for histogram in [
        "bgwasm_run_duration_seconds",
        "bgwasm_run_fuel",
        "bgwasm_store_commit_seconds",
    ] {
        assert_eq!(value(&format!("{histogram}_count")), 3.0, "{histogram}");
        assert!(value(&format!("{histogram}_sum")) > 0.0, "{histogram}");
    }
    // Only the scheduled run had a due time.
    assert_eq!(value("bgwasm_schedule_lateness_seconds_count"), 1.0);
    assert_eq!(value("bgwasm_live_sandboxes"), 1.0);
    assert_eq!(value("bgwasm_queued_runs"), 0.0);

    // Registrations by phase are counted in the background, every few seconds.
    common::wait_until(
        "the registration is counted as scheduled",
        Duration::from_secs(15),
        || async {
            series_value(&scrape().await, "bgwasm_registrations{phase=\"scheduled\"}") == 1.0
        },
    )
    .await;
    let (status, body) = daemon
        .call(
            &space_key("mia"),
            "POST",
            &format!("/api/spaces/{did}/pieces/{fetches}/disable"),
            "",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    common::wait_until(
        "the registration is counted as disabled",
        Duration::from_secs(15),
        || async {
            let now = scrape().await;
            series_value(&now, "bgwasm_registrations{phase=\"disabled\"}") == 1.0
                && series_value(&now, "bgwasm_registrations{phase=\"scheduled\"}") == 0.0
        },
    )
    .await;

    // Labels never carry a space or a piece.
    let labels = label_values(&scrape().await);
    assert!(labels.contains(&"js_error".to_owned()), "{labels:?}");
    for label in &labels {
        assert!(!label.contains("did:"), "{label}");
        for piece in [&fetches, &thrower, &denied] {
            assert!(
                !label.contains(piece.as_str()),
                "{label} names piece {piece}"
            );
        }
    }

    // The API listener does not serve them.
    let response = daemon
        .http
        .get(format!("http://{}/metrics", daemon.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn bgwasm_runs_lists_a_pieces_history_as_a_table_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), "60s", &[]).await;
    let counter = common::fixture_path("sync_counter.js");
    let thrower = common::fixture_path("throws.js");
    for (file, id) in [(&counter, "counter"), (&thrower, "thrower")] {
        let (code, out, err) = client(
            &daemon,
            &[
                "piece",
                "add",
                file.to_str().unwrap(),
                "--space",
                "nia",
                "--id",
                id,
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, out, err) = client(&daemon, &["runs", "nia", "counter"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("has not run yet"), "{out}");

    for piece in ["counter", "counter", "thrower"] {
        client(&daemon, &["run", "nia", piece]);
    }
    let (code, out, err) = client(&daemon, &["runs", "nia", "counter"]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two runs: {out}");
    assert!(
        lines[0].contains("TRIGGER") && lines[0].contains("RESULT"),
        "{out}"
    );
    for line in &lines[1..] {
        assert!(line.contains(" manual ") && line.ends_with("  ok"), "{out}");
    }
    let (code, out, err) = client(&daemon, &["runs", "nia", "thrower"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines().nth(1).unwrap().contains("js_error: ")
            && out.contains("boom from a sync handler"),
        "{out}"
    );

    let (code, out, err) = client(&daemon, &["runs", "nia", "counter", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let history: Value = serde_json::from_str(&out).expect("--json prints JSON");
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{history}");
    assert!(
        runs[0]["id"].as_i64() > runs[1]["id"].as_i64(),
        "newest first"
    );
    assert_eq!(runs[0]["trigger"], json!("manual"));
    assert_eq!(runs[0]["outcome"]["ok"], json!(true));
    assert!(runs[0]["finishedAt"].as_i64() >= runs[0]["startedAt"].as_i64());
    let (code, out, err) = client(
        &daemon,
        &["runs", "nia", "counter", "--json", "--limit", "1"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let history: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(history["runs"].as_array().unwrap().len(), 1);
    assert_eq!(history["runs"][0]["id"], runs[0]["id"]);

    // An unknown piece is the daemon's clear refusal; a bad id or limit is
    // refused before any request.
    let (code, out, err) = client(&daemon, &["runs", "nia", "nope"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("piece nope does not exist"), "{err}");
    for (args, named) in [
        (vec!["runs", "nia", "a b"], "a b"),
        (vec!["runs", "nia", "counter", "--limit", "0"], "--limit"),
        (vec!["runs", "nia", "counter", "--limit", "51"], "--limit"),
    ] {
        let (code, out, err) = client(&daemon, &args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(named), "{args:?}: {err}");
    }
}
