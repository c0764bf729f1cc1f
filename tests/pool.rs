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
