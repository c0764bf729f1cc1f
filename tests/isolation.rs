//! One space can never touch another: not through the guest's cells API, not
//! with a crafted key, and not by trapping while another space runs.

mod common;

use bgwasm::identity::space_did_for_name;
use bgwasm::sandbox::{
    EngineOptions, ErrorKind, Limits, MemoryCells, Piece, SandboxEngine, SandboxPool,
};
use bgwasm::scheduler::{Scheduler, SchedulerConfig};
use bgwasm::store::{RegistrationKey, SqliteStore, Store};
use common::fixture;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn pool(limits: Limits) -> SandboxPool {
    let engine = SandboxEngine::new(EngineOptions {
        cache_dir: Some(common::cache_dir()),
        ..EngineOptions::default()
    })
    .await
    .unwrap();
    SandboxPool::new(engine, limits)
}

const WRITE_SECRET: &str = r#"export function bgUpdater() {
    cells.set("secret", "only for space b");
    cells.set("shared-name", "b");
}"#;

/// Tries every way the guest API offers to reach another space's cells.
const SNOOP: &str = r#"export function bgUpdater(event, ctx) {
    const other = event.other;
    const seen = {
        keys: cells.keys(),
        secret: cells.get("secret") ?? null,
        sharedName: cells.get("shared-name") ?? null,
        prefixed: cells.get(`${other}/secret`) ?? null,
        traversal: cells.get(`../${other}/secret`) ?? null,
        space: ctx.space,
    };
    cells.set(`../${other}/secret`, "overwritten by a");
    cells.set(`${other}/secret`, "overwritten by a");
    cells.set("shared-name", "a");
    return seen;
}"#;

#[tokio::test]
async fn a_piece_cannot_read_or_write_another_space_s_cells() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<SqliteStore> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let scheduler = Scheduler::new(
        store.clone(),
        Arc::new(pool(Limits::default()).await),
        SchedulerConfig::default(),
    );
    let space_a = space_did_for_name("a", "common user").to_string();
    let space_b = space_did_for_name("b", "common user").to_string();

    let run = async |space: &str, source: &str| {
        let added = store
            .add_piece(space, None, source.into(), 0)
            .await
            .unwrap();
        let key = RegistrationKey::new(space, added.info.id.clone());
        store.register(&key, "test", 0).await.unwrap();
        scheduler.run_now(key).await.unwrap()
    };
    assert!(run(&space_b, WRITE_SECRET).await.ok);
    // The snooping piece learns B's DID through its source, as an attacker would.
    let snoop = SNOOP.replace("event.other", &format!("{:?}", space_b));
    let outcome = run(&space_a, &snoop).await;
    assert!(outcome.ok, "{outcome:?}");
    let seen = outcome.value.unwrap();
    assert_eq!(seen["keys"], json!([]), "space a must see none of b's keys");
    for field in ["secret", "sharedName", "prefixed", "traversal"] {
        assert_eq!(seen[field], Value::Null, "{field} leaked: {seen}");
    }
    assert_eq!(seen["space"], json!(space_a));

    let cells_b = store.list_cells(&space_b).await.unwrap();
    assert_eq!(
        cells_b,
        vec![
            ("secret".to_string(), "\"only for space b\"".to_string()),
            ("shared-name".to_string(), "\"b\"".to_string()),
        ]
    );
    // A's writes, crafted keys included, landed in A and only there.
    let keys_a: Vec<String> = store
        .list_cells(&space_a)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        keys_a,
        vec![
            format!("../{space_b}/secret"),
            format!("{space_b}/secret"),
            "shared-name".to_string()
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_in_one_space_leaves_another_space_s_run_intact() {
    let pool = pool(Limits {
        fuel: 2_000_000_000,
        memory_bytes: 32 << 20,
        timeout: Duration::from_secs(20),
        ..Limits::default()
    })
    .await;
    let steady = r#"export async function bgUpdater() {
        cells.set("before", 1);
        await new Promise((resolve) => setTimeout(resolve, 400));
        cells.set("after", 2);
        return "steady";
    }"#;
    let started = Instant::now();
    let b = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.run(
                "space-b",
                Piece::new("steady", steady),
                json!({}),
                Arc::new(MemoryCells::default()),
            )
            .await
        }
    });
    // Space b's run is in flight once its sandbox exists.
    common::wait_until("space b's run started", Duration::from_secs(10), || {
        let pool = pool.clone();
        async move { pool.spaces() == 1 }
    })
    .await;
    let a = async {
        let looped = pool
            .run(
                "space-a",
                Piece::new("loop", fixture("infinite_loop.js")),
                json!({}),
                Arc::new(MemoryCells::default()),
            )
            .await;
        let bombed = pool
            .run(
                "space-a",
                Piece::new("bomb", fixture("memory_bomb.js")),
                json!({}),
                Arc::new(MemoryCells::default()),
            )
            .await;
        (looped, bombed)
    };
    let (looped, bombed) = a.await;
    let b = b.await.unwrap();
    assert_eq!(looped.outcome.error_kind(), Some(ErrorKind::FuelExhausted));
    assert_eq!(bombed.outcome.error_kind(), Some(ErrorKind::MemoryLimit));
    assert!(b.outcome.ok, "{:?}", b.outcome);
    assert_eq!(b.outcome.value, Some(json!("steady")));
    let written: Vec<(String, Option<String>)> = b
        .cell_changes
        .iter()
        .map(|c| (c.key.clone(), c.value.clone()))
        .collect();
    assert_eq!(
        written,
        vec![
            ("before".into(), Some("1".into())),
            ("after".into(), Some("2".into()))
        ]
    );
    assert!(started.elapsed() < Duration::from_secs(15));

    // Space a recovers with a fresh instance; space b kept its warm one.
    let again = pool
        .run(
            "space-a",
            Piece::new("counter", fixture("sync_counter.js")),
            json!({}),
            Arc::new(MemoryCells::default()),
        )
        .await;
    assert!(again.outcome.ok, "{:?}", again.outcome);
}
