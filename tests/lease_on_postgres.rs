//! Several `bgwasm serve` nodes on one PostgreSQL database, with the real
//! binary: the node running a piece is paused (SIGSTOP) for longer than its
//! lease ttl, the other node takes the space over and runs the piece, and
//! when the paused node wakes up its stale commit is refused (fencing), so
//! the piece's counter cell still equals its committed successful runs.

mod common;
#[path = "common/postgres.rs"]
mod throwaway_postgres;

use bgwasm::store::{PostgresStore, RegistrationKey, Store, StoreUrl};
use common::fixture_path;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use throwaway_postgres::TestDatabase;

/// A `bgwasm serve` node; killed (and continued first, if paused) when
/// dropped, so a failing test leaves none behind.
struct Node {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Node {
    fn start(name: &'static str, store: &str, dir: &std::path::Path) -> Self {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_bgwasm"))
            .arg("serve")
            .args(["--store", store, "--node-id", name, "--lease-ttl", "1s"])
            .args(["--listen", &addr.to_string(), "--interval", "200ms"])
            .args(["--grace", "5"])
            .env("BGWASM_CACHE_DIR", common::cache_dir())
            .env("OPERATOR_PASS", "lease e2e operator")
            .env("RUST_LOG", "info")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting bgwasm serve");
        Self { name, child, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {}", self.name);
    }

    /// SIGTERM, then wait (bounded) for a graceful exit.
    fn stop(mut self) {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}:\n{}", self.logs());
                return;
            }
            assert!(Instant::now() < deadline, "{} did not stop", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it holds, for at most `timeout`.
async fn wait_for(what: &str, timeout: Duration, nodes: &[&Node], check: impl AsyncFn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        if Instant::now() >= deadline {
            let logs: Vec<String> = nodes
                .iter()
                .map(|node| format!("--- {}:\n{}", node.name, node.logs()))
                .collect();
            panic!("timed out waiting for {what}:\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn claimed_by(store: &PostgresStore, key: &RegistrationKey) -> Option<String> {
    store
        .get_registration(key)
        .await
        .unwrap()
        .and_then(|registration| registration.claimed_by)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_nodes_stale_commit_is_refused_and_the_other_node_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let database = tokio::task::spawn_blocking(TestDatabase::new)
        .await
        .unwrap();
    let url = database.url();
    let store = url
        .parse::<StoreUrl>()
        .unwrap()
        .open_postgres()
        .await
        .unwrap();
    let space = bgwasm::identity::space_did_for_name("leases", "common user").to_string();
    let source = std::fs::read_to_string(fixture_path("slow_counter.js")).unwrap();
    let added = store
        .add_piece(&space, None, source.into(), 0)
        .await
        .unwrap();
    let key = RegistrationKey::new(&space, added.info.id);

    let a = Node::start("node-a", &url, dir.path());
    let b = Node::start("node-b", &url, dir.path());
    let nodes = [&a, &b];
    store.register(&key, "e2e", 0).await.unwrap();

    // Whichever node claims the piece first is paused 300 ms into its
    // 1.5 s run, for well over the 1 s lease ttl.
    wait_for(
        "a node to claim the piece",
        Duration::from_secs(60),
        &nodes,
        async || claimed_by(&store, &key).await.is_some(),
    )
    .await;
    let holder = claimed_by(&store, &key).await;
    let (paused, other) = match holder.as_deref() {
        Some("node-a") => (&a, &b),
        Some("node-b") => (&b, &a),
        other => panic!("claimed by an unknown node {other:?}"),
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    paused.signal("-STOP");

    // The other node takes the space over once the lease expired.
    wait_for(
        "the other node to take the piece over",
        Duration::from_secs(20),
        &nodes,
        async || claimed_by(&store, &key).await.as_deref() == Some(other.name),
    )
    .await;
    let runs_before = store
        .get_registration(&key)
        .await
        .unwrap()
        .unwrap()
        .state
        .total_runs;
    paused.signal("-CONT");

    // The paused node wakes up and tries to commit its stale run: refused.
    wait_for(
        "the stale commit to be refused",
        Duration::from_secs(20),
        &nodes,
        async || {
            paused
                .logs()
                .contains("abandoned a run: its space lease was lost")
        },
    )
    .await;
    // The other node's runs commit.
    wait_for(
        "a run of the other node to commit",
        Duration::from_secs(20),
        &nodes,
        async || {
            let registration = store.get_registration(&key).await.unwrap().unwrap();
            registration.state.total_runs > runs_before
        },
    )
    .await;
    a.stop();
    b.stop();

    let registration = store.get_registration(&key).await.unwrap().unwrap();
    let history = store.recent_runs(&space, &key.piece_id, 50).await.unwrap();
    let successes = history.iter().filter(|run| run.outcome.ok).count() as u64;
    assert_eq!(
        successes,
        history.len() as u64,
        "every committed run succeeded"
    );
    assert_eq!(registration.state.total_runs, successes);
    let counted: u64 = store
        .get_cell(&space, "count")
        .await
        .unwrap()
        .expect("a run was committed")
        .parse()
        .unwrap();
    assert_eq!(
        counted, successes,
        "the counter equals the committed successful runs: the stale run applied nothing"
    );
}
