//! The sandbox pool keeps at most its cap of live sandboxes, dropping the
//! least recently used idle ones.

mod common;

use bgwasm::sandbox::{EngineOptions, Limits, MemoryCells, Piece, SandboxEngine, SandboxPool};
use common::fixture;
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn past_the_cap_the_least_recently_used_sandbox_is_dropped() {
    let engine = SandboxEngine::new(EngineOptions {
        cache_dir: Some(common::cache_dir()),
        ..EngineOptions::default()
    })
    .await
    .unwrap();
    let pool = SandboxPool::with_max_live(engine, Limits::default(), 2);
    // The plain-script fixture counts its runs in module state, which lives
    // exactly as long as the space's sandbox.
    let piece = Piece::new("script", fixture("plain_script.js"));
    let run = async |space: &str| {
        let report = pool
            .run(
                space,
                piece.clone(),
                json!({}),
                Arc::new(MemoryCells::default()),
            )
            .await;
        assert!(report.outcome.ok, "{:?}", report.outcome);
        report.outcome.value.unwrap()["runs"].as_i64().unwrap()
    };
    assert_eq!(run("a").await, 1);
    assert_eq!(run("a").await, 2);
    assert_eq!(run("b").await, 1);
    assert_eq!(
        run("a").await,
        3,
        "a is still live, and now the most recent"
    );
    assert_eq!(run("c").await, 1);
    assert_eq!(pool.spaces(), 2);
    assert_eq!(
        run("a").await,
        4,
        "b, the least recently used, was dropped, not a"
    );
    assert_eq!(run("b").await, 1, "b starts over in a fresh sandbox");
    assert_eq!(pool.spaces(), 2);
}

/// An engine made for `max_live` live sandboxes, on the shared guest cache.
async fn engine_for(max_live: usize) -> Arc<SandboxEngine> {
    SandboxEngine::new(EngineOptions {
        cache_dir: Some(common::cache_dir()),
        max_live_sandboxes: max_live,
        ..EngineOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn many_spaces_through_a_small_pool_all_run() {
    let engine = engine_for(2).await;
    let pool = SandboxPool::new(engine, Limits::default());
    let piece = Piece::new("script", fixture("plain_script.js"));
    for round in 0..3 {
        for space in 0..40 {
            let report = pool
                .run(
                    &format!("space-{space}"),
                    piece.clone(),
                    json!({}),
                    Arc::new(MemoryCells::default()),
                )
                .await;
            assert!(
                report.outcome.ok,
                "round {round}, space {space}: {:?}",
                report.outcome
            );
            assert!(pool.spaces() <= 2, "the pool keeps at most its cap");
        }
    }
}

#[tokio::test]
async fn more_busy_sandboxes_than_instance_slots_wait_for_one_and_all_run() {
    // A pool capped at 2 whose runs all wait on a timer cannot drop any of
    // its sandboxes, so its live instances grow past the engine's slots; the
    // runs past them must wait for a slot that a finished run leaves (its
    // sandbox, idle again, is dropped to free it), not fail.
    let engine = engine_for(2).await;
    let slots = engine
        .instance_slots()
        .expect("an engine this small pools its instances");
    let pool = SandboxPool::new(engine, common::limits());
    let piece = Piece::new("sleep", fixture("sleep.js"));
    let runs = slots + 10;
    let started = std::time::Instant::now();
    let reports = futures::future::join_all((0..runs).map(|space| {
        let pool = pool.clone();
        let piece = piece.clone();
        async move {
            pool.run(
                &format!("space-{space}"),
                piece,
                json!({ "ms": 300 }),
                Arc::new(MemoryCells::default()),
            )
            .await
        }
    }))
    .await;
    for (space, report) in reports.iter().enumerate() {
        assert!(report.outcome.ok, "space {space}: {:?}", report.outcome);
        assert!(report.outcome.value.as_ref().unwrap().as_u64().unwrap() >= 300);
    }
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(600),
        "{runs} runs in {slots} slots take two rounds of 300 ms"
    );
    assert!(pool.spaces() <= runs);
}
