//! Several `bgwasm serve` nodes on one PostgreSQL database, with the real
//! binary: the node running a piece is paused (SIGSTOP) for longer than its
//! lease ttl, the other node takes the space over and runs the piece, and
//! when the paused node wakes up its stale commit is refused (fencing), so
//! the piece's counter cell still equals its committed successful runs.

mod common;
#[path = "common/node.rs"]
mod node;
#[path = "common/postgres.rs"]
mod throwaway_postgres;

use bgwasm::store::{
    LeaseConfig, PostgresStore, RegistrationKey, SpaceLease, SpaceLeases, Store, StoreUrl,
};
use common::{bgwasm, fixture_path};
use node::Node;
use std::time::{Duration, Instant};
use throwaway_postgres::TestDatabase;

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

/// A database of its own on the shared throwaway cluster (dropped with the
/// first value), its URL, and a store on it.
async fn fresh_database() -> (TestDatabase, String, PostgresStore) {
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
    (database, url, store)
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
    let (_database, url, store) = fresh_database().await;
    let space = bgwasm::identity::space_did_for_name("leases", "common user").to_string();
    let source = std::fs::read_to_string(fixture_path("slow_counter.js")).unwrap();
    let added = store
        .add_piece(&space, None, source.into(), 0)
        .await
        .unwrap();
    let key = RegistrationKey::new(&space, added.info.id);

    let a = Node::start("node-a", &url, dir.path(), &["--interval", "200ms"]);
    let b = Node::start("node-b", &url, dir.path(), &["--interval", "200ms"]);
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
    let metrics = paused.get(paused.metrics, "/metrics").await;
    assert!(
        metrics.contains("bgwasm_abandoned_runs_total 1"),
        "the refused run is counted as abandoned:\n{metrics}"
    );
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
    // Each node names itself, and lists both, in /healthz.
    let health: serde_json::Value =
        serde_json::from_str(&other.get(other.api, "/healthz").await).unwrap();
    assert_eq!(health["node"], other.name, "{health}");
    let listed: Vec<&str> = health["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["node"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec!["node-a", "node-b"], "{health}");
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

/// `run-once --commit` on a shared store takes the space's lease like a
/// node: while a live node holds the space it is refused, naming that node,
/// and commits nothing; once the space is free it commits and gives the
/// lease back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_commit_never_overlaps_a_node_holding_the_space() {
    let (_database, url, holder) = fresh_database().await;
    let holder = holder.as_node(LeaseConfig {
        node: "holder".parse().unwrap(),
        ttl: Duration::from_secs(60),
    });
    let space = bgwasm::identity::space_did_for_name("run-once", "common user").to_string();
    let source = std::fs::read_to_string(fixture_path("sync_counter.js")).unwrap();
    let added = holder
        .add_piece(&space, None, source.into(), 0)
        .await
        .unwrap();
    let run_once = || {
        let output = bgwasm(&[
            "run-once",
            added.info.id.as_str(),
            "--store",
            &url,
            "--space",
            &space,
            "--commit",
        ]);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    assert!(matches!(
        holder.acquire_space(&space).await.unwrap(),
        SpaceLease::Held(_)
    ));
    let (ok, _, stderr) = run_once();
    assert!(!ok, "refused while another node holds the space");
    assert!(
        stderr.contains("running on node holder") && stderr.contains("without --commit"),
        "{stderr}"
    );
    assert_eq!(holder.get_cell(&space, "count").await.unwrap(), None);

    holder.leave().await.unwrap();
    let (ok, stdout, stderr) = run_once();
    assert!(ok, "{stderr}");
    assert!(stdout.contains("committed: run"), "{stdout}");
    assert_eq!(
        holder.get_cell(&space, "count").await.unwrap().as_deref(),
        Some("1")
    );
    // It gave the lease back: the node takes the space at once.
    assert!(matches!(
        holder.acquire_space(&space).await.unwrap(),
        SpaceLease::Held(_)
    ));
}
