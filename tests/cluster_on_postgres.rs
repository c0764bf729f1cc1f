//! Several real `bgwasm serve` nodes on one throwaway PostgreSQL database:
//! a registration through one node wakes an idle other (`LISTEN/NOTIFY`),
//! and three nodes killed (`kill -9`) and restarted at random under load
//! never run a space's pieces at once, never lose or double a run, and a dead
//! node's pieces carry on elsewhere within an interval plus the lease expiry.
//!
//! Everything is checked from the database, on a connection of the test's
//! own: each piece counts its successful runs in a cell, with a pause between
//! the read and the write, so a run applied twice or two runs of a space at
//! once would show.

mod common;
#[path = "common/postgres.rs"]
mod throwaway_postgres;

#[path = "common/serve_node.rs"]
mod serve_node;

use serve_node::{ServeNode, epoch_ms};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use throwaway_postgres::{TestDatabase, connect};

/// Every node signs as the same operator.
const OPERATOR_PASS: &str = "cluster operator";
/// Each piece's interval, and how long a dead node's lease outlives it.
const INTERVAL: Duration = Duration::from_secs(1);
const LEASE_TTL: Duration = Duration::from_secs(1);
/// Margin for a loaded 2-core machine on top of interval + lease expiry.
const SLACK: Duration = Duration::from_secs(12);

/// Every node's flags and environment, besides its own.
fn node_env() -> [(&'static str, String); 3] {
    [
        (
            "BGWASM_CACHE_DIR",
            common::cache_dir().display().to_string(),
        ),
        ("OPERATOR_PASS", OPERATOR_PASS.to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
}

/// Starts a node on the database at `url` with `extra` flags.
async fn node(url: &str, name: &str, dir: &Path, extra: &[&str]) -> ServeNode {
    let interval = format!("{}ms", INTERVAL.as_millis());
    let mut args = vec!["--store", url, "--interval", &interval, "--grace", "5s"];
    args.extend_from_slice(extra);
    let env = node_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ServeNode::start(name, dir, &args, &env).await
}

/// Runs the `bgwasm` CLI client against `node`.
fn client(node: &ServeNode, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_bgwasm"))
        .args(args)
        .env("API_URL", format!("http://{}", node.addr))
        .env("OPERATOR_PASS", OPERATOR_PASS)
        .env_remove("IDENTITY")
        .output()
        .expect("running the bgwasm client");
    assert!(
        output.status.success(),
        "bgwasm {args:?} through {}: {}{}",
        node.name,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Uploads the counter fixture as `id` in `space` through `node`, and
/// registers it.
fn add_counter(node: &ServeNode, space: &str, id: &str, integration: &str) {
    let file = common::fixture_path("cluster_counter.js");
    client(
        node,
        &[
            "piece",
            "add",
            file.to_str().unwrap(),
            "--space",
            space,
            "--id",
            id,
            "--register",
            "--integration",
            integration,
        ],
    );
}

/// A node of the 3-node test: named, with a lease.
async fn leased_node(url: &str, name: &str, dir: &Path) -> ServeNode {
    let ttl = format!("{}ms", LEASE_TTL.as_millis());
    node(url, name, dir, &["--node-id", name, "--lease-ttl", &ttl]).await
}

/// One registration as the database has it.
#[derive(Debug)]
struct Piece {
    space: String,
    piece_id: String,
    total_runs: i64,
    total_failures: i64,
    /// When its newest recorded run started (0: none).
    newest_start: i64,
}

async fn pieces(db: &tokio_postgres::Client) -> Vec<Piece> {
    db.query(
        "SELECT r.space, r.piece_id, r.total_runs, r.total_failures,
                coalesce((SELECT max(started_at) FROM runs
                          WHERE runs.space = r.space AND runs.piece_id = r.piece_id), 0) AS newest
         FROM registrations AS r ORDER BY r.space, r.piece_id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|row| Piece {
        space: row.get("space"),
        piece_id: row.get("piece_id"),
        total_runs: row.get("total_runs"),
        total_failures: row.get("total_failures"),
        newest_start: row.get("newest"),
    })
    .collect()
}

/// Polls `check` until it holds, for at most `timeout`; the nodes' logs
/// explain a failure.
async fn wait_for(
    what: &str,
    timeout: Duration,
    nodes: &[&ServeNode],
    check: impl AsyncFn() -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        if Instant::now() > deadline {
            let logs: Vec<String> = nodes
                .iter()
                .map(|node| format!("--- {} ---\n{}", node.name, node.logs()))
                .collect();
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fresh_database() -> TestDatabase {
    tokio::task::spawn_blocking(TestDatabase::new)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_through_one_node_wakes_an_idle_other_at_once() {
    let database = fresh_database().await;
    let url = database.url();
    let dir = tempfile::tempdir().unwrap();
    // A looks at the database on its own only once a minute; B serves
    // another integration, so it never runs the piece itself.
    const MAX_IDLE: Duration = Duration::from_secs(60);
    // (Its heartbeat, which also ends an idle wait, comes every third of its
    // lease ttl: a long one.)
    let a = node(
        &url,
        "a",
        dir.path(),
        &["--max-idle", "60s", "--node-id", "a", "--lease-ttl", "300s"],
    )
    .await;
    let b = node(
        &url,
        "b",
        dir.path(),
        &["--integration", "elsewhere", "--node-id", "b"],
    )
    .await;
    // Let A settle into its long idle wait.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let registered = Instant::now();
    add_counter(&b, "wake", "counter", "default");
    let db = connect(&url).await;
    wait_for("A to run the piece", MAX_IDLE / 4, &[&a, &b], async || {
        pieces(&db).await.iter().any(|piece| piece.total_runs >= 1)
    })
    .await;
    let waited = registered.elapsed();
    assert!(
        waited < MAX_IDLE / 4,
        "woken in {waited:?}, not by its idle wait"
    );
    b.stop();
    a.stop();
}

/// A small xorshift generator: the chaos is random, and its seed printed.
struct Chaos(u64);

impl Chaos {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_killed_at_random_never_overlap_a_space_nor_lose_or_double_a_run() {
    tokio::time::timeout(Duration::from_secs(300), three_nodes_under_kill_9())
        .await
        .expect("the whole test took longer than 5 minutes");
}

async fn three_nodes_under_kill_9() {
    const SPACES: usize = 4;
    const PIECES: usize = 12;
    const CHAOS: Duration = Duration::from_secs(35);
    let database = fresh_database().await;
    let url = database.url();
    let dir = tempfile::tempdir().unwrap();
    let db = connect(&url).await;

    let mut nodes: Vec<Option<ServeNode>> = Vec::new();
    for k in 1..=3 {
        nodes.push(Some(leased_node(&url, &format!("n{k}"), dir.path()).await));
    }
    // ~12 pieces in 4 spaces, registered through different nodes.
    for i in 0..PIECES {
        let node = nodes[i % 3].as_ref().unwrap();
        add_counter(
            node,
            &format!("space{}", i % SPACES),
            &format!("p{i}"),
            "default",
        );
    }
    let live = |nodes: &[Option<ServeNode>]| -> Vec<String> {
        nodes
            .iter()
            .flatten()
            .map(|node| format!("{}: {}", node.name, node.log.display()))
            .collect()
    };
    {
        let all: Vec<&ServeNode> = nodes.iter().flatten().collect();
        wait_for(
            "every piece's first run",
            Duration::from_secs(60),
            &all,
            async || {
                let pieces = pieces(&db).await;
                pieces.len() == PIECES && pieces.iter().all(|piece| piece.total_runs >= 1)
            },
        )
        .await;
    }

    // Kill a random node every 1.5 to 4 s and start it again after up to
    // 1.5 s, under its own name or a new one.
    let seed = u64::try_from(epoch_ms()).unwrap() | 1;
    println!("chaos seed {seed}");
    let mut chaos = Chaos(seed);
    let chaos_end = Instant::now() + CHAOS;
    let mut kills = 0;
    let mut restarts = 0;
    while Instant::now() < chaos_end {
        tokio::time::sleep(chaos.millis(1500, 4000)).await;
        let k = usize::try_from(chaos.below(3)).unwrap();
        let node = nodes[k].take().unwrap();
        let name = node.name.clone();
        node.kill();
        kills += 1;
        tokio::time::sleep(chaos.millis(0, 1500)).await;
        let name = if chaos.below(2) == 0 {
            name
        } else {
            restarts += 1;
            format!("n{}-{restarts}", k + 1)
        };
        nodes[k] = Some(leased_node(&url, &name, dir.path()).await);
    }

    // The last kill: the survivors take over its pieces (it is not started
    // again), each within an interval plus the lease expiry.
    let k = usize::try_from(chaos.below(3)).unwrap();
    let victim = nodes[k].take().unwrap();
    let victim_log = victim.log.clone();
    let last_kill = epoch_ms();
    let killed_at = Instant::now();
    victim.kill();
    kills += 1;
    let survivors: Vec<&ServeNode> = nodes.iter().flatten().collect();
    wait_for(
        "every piece to run again after the last kill",
        INTERVAL + LEASE_TTL + SLACK,
        &survivors,
        async || {
            pieces(&db)
                .await
                .iter()
                .all(|piece| piece.newest_start > last_kill)
        },
    )
    .await;
    println!(
        "after {kills} kills, every piece ran again {:?} after the last one (victim's log {})",
        killed_at.elapsed(),
        victim_log.display()
    );
    println!("nodes: {:?}", live(&nodes));
    for node in nodes.iter_mut().filter_map(Option::take) {
        node.stop();
    }

    // Each piece's counter is its successful runs: none lost, none applied
    // twice.
    let pieces = pieces(&db).await;
    assert_eq!(pieces.len(), PIECES);
    for piece in &pieces {
        let key = format!("count:{}", piece.piece_id);
        let cell = db
            .query_opt(
                "SELECT json FROM cells WHERE space = $1 AND key = $2",
                &[&piece.space, &key],
            )
            .await
            .unwrap()
            .map_or(0, |row| {
                row.get::<_, String>("json").parse::<i64>().unwrap()
            });
        let successes = piece.total_runs - piece.total_failures;
        assert_eq!(cell, successes, "{piece:?}");
        assert!(successes >= 10, "too few runs to mean anything: {piece:?}");
        // While the history holds every run, it agrees too.
        if piece.total_runs < 50 {
            let recorded: i64 = db
                .query_one(
                    "SELECT count(*) FROM runs WHERE space = $1 AND piece_id = $2 AND ok",
                    &[&piece.space, &piece.piece_id],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(recorded, successes, "{piece:?}");
        }
    }

    // No two runs of a space overlap in time (on the history kept).
    let mut by_space: BTreeMap<String, Vec<(i64, i64, String)>> = BTreeMap::new();
    for row in db
        .query(
            "SELECT space, piece_id, started_at, finished_at FROM runs ORDER BY started_at, id",
            &[],
        )
        .await
        .unwrap()
    {
        by_space.entry(row.get("space")).or_default().push((
            row.get("started_at"),
            row.get("finished_at"),
            row.get("piece_id"),
        ));
    }
    assert_eq!(by_space.len(), SPACES);
    for (space, runs) in &by_space {
        for pair in runs.windows(2) {
            assert!(
                pair[1].0 >= pair[0].1,
                "two runs of {space} overlap: {:?} and {:?}",
                pair[0],
                pair[1]
            );
        }
    }
    println!(
        "{kills} kills; {} runs in {} spaces, none overlapping; counters all match",
        by_space.values().map(Vec::len).sum::<usize>(),
        by_space.len()
    );
}
