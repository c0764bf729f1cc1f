//! Cluster benchmark: 1, 2 and 3 real `bgwasm serve` nodes on one throwaway
//! PostgreSQL cluster on this machine (`tests/common/postgres.rs`: Debian's
//! `initdb`/`pg_ctl`, `fsync=off`). Prints the figures the README quotes:
//!
//! - sustained runs/s with 1, 2 and 3 nodes, trivial pieces, more due than
//!   the nodes can run (each node count on a fresh database, seeded alike);
//! - commits per run: the nodes' group commits (each node logs its count
//!   when it stops), and every transaction PostgreSQL committed on the
//!   database (`pg_stat_database.xact_commit`: claims, heartbeats and reads
//!   included), over the nodes' whole lives;
//! - the time from `kill -9` of a node to the last of the pieces it held
//!   (claimed under its leases) starting on another node: 3 nodes, pieces
//!   that take 300 ms, so that each node holds some at any moment.
//!
//! `cargo bench --bench cluster` (about 4 minutes). `BGWASM_BENCH_SPACES` and
//! `BGWASM_BENCH_PIECES` change the saturating shape (200 spaces of 5
//! pieces), `BGWASM_BENCH_INTERVAL` its interval (1 s), `BGWASM_BENCH_WARMUP`
//! and `BGWASM_BENCH_WINDOW` the measurement (10 s, then 20 s),
//! `BGWASM_BENCH_NODES` the node counts (`1,2,3`).

#[path = "bench_env.rs"]
mod bench_env;
#[path = "../tests/common/serve_node.rs"]
mod serve_node;
#[path = "../tests/common/postgres.rs"]
mod throwaway_postgres;

use bench_env::{env_duration, env_or};
use bgwasm::store::{RegistrationKey, StoreUrl};
use serve_node::{ServeNode, epoch_ms};
use std::path::Path;
use std::time::{Duration, Instant};
use throwaway_postgres::{PgCluster, connect};

/// Starts node `name` on the database at `url`.
async fn node(url: &str, name: &str, interval: Duration, dir: &Path, extra: &[&str]) -> ServeNode {
    let interval = format!("{}ms", interval.as_millis());
    let mut args = vec!["--store", url, "--node-id", name, "--interval", &interval];
    args.extend_from_slice(extra);
    let env = [
        ("OPERATOR_PASS", "cluster bench"),
        ("RUST_LOG", "warn,bgwasm::serve=info"),
    ];
    ServeNode::start(name, dir, &args, &env).await
}

/// A fresh database of `cluster` with `spaces` x `pieces` trivial pieces
/// registered; its URL.
async fn seeded(
    cluster: &PgCluster,
    name: &str,
    spaces: usize,
    pieces: usize,
    body: &str,
) -> String {
    cluster.create_database(name);
    let url = cluster.url(name);
    let store = url.parse::<StoreUrl>().unwrap().open().await.unwrap();
    let seeding = Instant::now();
    for s in 0..spaces {
        let space =
            bgwasm::identity::space_did_for_name(&format!("bench-{s}"), "common user").to_string();
        for p in 0..pieces {
            let source = format!("// piece {p} of space {s}\nexport {body}\n");
            let added = store
                .add_piece(&space, None, source.into(), 0)
                .await
                .unwrap();
            store
                .register(
                    &RegistrationKey::new(space.clone(), added.info.id),
                    "bench",
                    0,
                )
                .await
                .unwrap();
        }
    }
    println!(
        "  seeded {} registrations in {spaces} spaces in {:.1} s",
        spaces * pieces,
        seeding.elapsed().as_secs_f64()
    );
    url
}

/// The trivial piece of the throughput runs.
const TRIVIAL: &str = "function bgUpdater() { return 1; }";

/// Runs committed, and transactions committed on the database (the
/// statistics of a connection arrive when it closes, or every second or so).
async fn counters(db: &tokio_postgres::Client) -> (i64, i64) {
    let row = db
        .query_one(
            "SELECT (SELECT coalesce(sum(total_runs), 0)::BIGINT FROM registrations),
                    (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// The group commits a stopped node logged: (commits, runs in them).
fn logged_commits(node_log: &str) -> (u64, u64) {
    let line = node_log
        .lines()
        .rev()
        .find(|line| line.contains("bgwasm stopped"))
        .unwrap_or_else(|| panic!("a node did not log its stop:\n{node_log}"));
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name}= in {line}"))
    };
    (field("commits"), field("committed_runs"))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let spaces: usize = env_or("BGWASM_BENCH_SPACES", 200);
    let pieces: usize = env_or("BGWASM_BENCH_PIECES", 5);
    let interval = env_duration("BGWASM_BENCH_INTERVAL").unwrap_or(Duration::from_secs(1));
    let warmup = env_duration("BGWASM_BENCH_WARMUP").unwrap_or(Duration::from_secs(10));
    let window = env_duration("BGWASM_BENCH_WINDOW").unwrap_or(Duration::from_secs(20));
    let counts: Vec<usize> = std::env::var("BGWASM_BENCH_NODES")
        .unwrap_or_else(|_| "1,2,3".to_owned())
        .split(',')
        .map(|n| n.trim().parse().expect("BGWASM_BENCH_NODES like 1,2,3"))
        .collect();
    let cluster = tokio::task::spawn_blocking(PgCluster::start).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    println!(
        "{} pieces in {spaces} spaces, every {} ({:.0} runs/s due); warm-up {}, window {}",
        spaces * pieces,
        humantime::format_duration(interval),
        (spaces * pieces) as f64 / interval.as_secs_f64(),
        humantime::format_duration(warmup),
        humantime::format_duration(window),
    );
    println!(
        "{:<6} {:>8} {:>18} {:>22}",
        "nodes", "runs/s", "runs per commit", "transactions per run"
    );
    for &n in &counts {
        let url = seeded(
            &cluster,
            &format!("bench_{n}_nodes"),
            spaces,
            pieces,
            TRIVIAL,
        )
        .await;
        let db = connect(&url).await;
        let (_, xacts_before) = counters(&db).await;
        let mut nodes = Vec::new();
        for k in 1..=n {
            nodes.push(node(&url, &format!("b{n}-{k}"), interval, dir.path(), &[]).await);
        }
        tokio::time::sleep(warmup).await;
        let (runs0, _) = counters(&db).await;
        let started = Instant::now();
        tokio::time::sleep(window).await;
        let (runs1, _) = counters(&db).await;
        let elapsed = started.elapsed().as_secs_f64();
        let (mut commits, mut committed) = (0, 0);
        for node in nodes {
            let log = node.log.clone();
            node.stop();
            let (c, r) = logged_commits(&std::fs::read_to_string(log).unwrap());
            commits += c;
            committed += r;
        }
        // The stopped nodes' statistics have arrived.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (runs_after, xacts_after) = counters(&db).await;
        println!(
            "{:<6} {:>8.0} {:>18.1} {:>22.2}",
            n,
            (runs1 - runs0) as f64 / elapsed,
            committed as f64 / commits.max(1) as f64,
            (xacts_after - xacts_before) as f64 / runs_after.max(1) as f64,
        );
    }
    failover(&cluster, dir.path()).await;
}

/// 3 nodes, a light load: the time from `kill -9` of a node to the last of
/// the pieces it held (claimed under its leases) starting on another node,
/// three times over.
async fn failover(cluster: &PgCluster, dir: &Path) {
    let ttl = std::env::var("BGWASM_BENCH_LEASE_TTL").unwrap_or_else(|_| "3s".to_owned());
    let interval = env_duration("BGWASM_BENCH_FAILOVER_INTERVAL").unwrap_or(Duration::from_secs(2));
    let (spaces, pieces) = (60, 4);
    let url = seeded(
        cluster,
        "bench_failover",
        spaces,
        pieces,
        "async function bgUpdater() { await new Promise((r) => setTimeout(r, 300)); }",
    )
    .await;
    let db = connect(&url).await;
    println!(
        "failover: 3 nodes, {} pieces in {spaces} spaces every {}, --lease-ttl {ttl}",
        spaces * pieces,
        humantime::format_duration(interval)
    );
    let flags = ["--lease-ttl", ttl.as_str()];
    let mut nodes = Vec::new();
    for k in 1..=3 {
        nodes.push(Some(
            node(&url, &format!("f{k}"), interval, dir, &flags).await,
        ));
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    for round in 0..3 {
        // The node holding the most claims right now.
        let busiest: String = db
            .query_one(
                "SELECT coalesce((SELECT claimed_by FROM registrations
                    WHERE phase = 'dispatched' GROUP BY claimed_by
                    ORDER BY count(*) DESC LIMIT 1), 'f1')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let k = nodes
            .iter()
            .position(|node| node.as_ref().is_some_and(|node| node.name == busiest))
            .unwrap_or(round);
        let victim = nodes[k].take().unwrap();
        let name = victim.name.clone();
        let killed_at = epoch_ms();
        victim.kill();
        // Its claims stay in the database until its leases expire.
        let held: Vec<(String, String)> = db
            .query(
                "SELECT space, piece_id FROM registrations
                 WHERE phase = 'dispatched' AND claimed_by = $1",
                &[&name],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        let last_start = loop {
            let starts: Vec<Option<i64>> = {
                let mut starts = Vec::with_capacity(held.len());
                for (space, piece_id) in &held {
                    let row = db
                        .query_one(
                            "SELECT min(started_at) FROM runs
                             WHERE space = $1 AND piece_id = $2 AND started_at > $3",
                            &[space, piece_id, &killed_at],
                        )
                        .await
                        .unwrap();
                    starts.push(row.get(0));
                }
                starts
            };
            if starts.iter().all(Option::is_some) {
                break starts.into_iter().flatten().max().unwrap_or(killed_at);
            }
            assert!(
                Instant::now() < deadline,
                "the pieces of {name} did not resume"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        println!(
            "  kill -9 {name}: {} pieces it held, the last running elsewhere after {:.2} s",
            held.len(),
            (last_start - killed_at) as f64 / 1000.0
        );
        nodes[k] = Some(node(&url, &name, interval, dir, &flags).await);
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    for node in nodes.into_iter().flatten() {
        node.stop();
    }
}
