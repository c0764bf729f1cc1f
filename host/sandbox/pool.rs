//! Every space's sandbox in one process: a run goes to its space's sandbox,
//! made on first use, and a space runs one piece at a time.

use super::cells::CellSource;
use super::engine::SandboxEngine;
use super::limits::Limits;
use super::outcome::{ErrorKind, RunOutcome};
use super::space::{Piece, RunReport, SpaceSandbox};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The sandboxes of all spaces. Cloning it is cheap and shares them.
#[derive(Clone)]
pub struct SandboxPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    engine: Arc<SandboxEngine>,
    limits: Limits,
    spaces: Mutex<HashMap<String, Arc<tokio::sync::Mutex<SpaceSandbox>>>>,
}

impl SandboxPool {
    pub fn new(engine: Arc<SandboxEngine>, limits: Limits) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                engine,
                limits,
                spaces: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    fn sandbox(&self, space: &str) -> Arc<tokio::sync::Mutex<SpaceSandbox>> {
        let mut spaces = self.inner.spaces.lock().expect("sandbox pool lock");
        spaces
            .entry(space.to_owned())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(SpaceSandbox::new(
                    self.inner.engine.clone(),
                    space,
                    self.inner.limits,
                )))
            })
            .clone()
    }

    /// Runs `piece` in `space`'s sandbox, after any run of that space in
    /// progress. The run goes on even if the caller stops waiting, so a run
    /// is never cut short by a client that hung up.
    pub async fn run(
        &self,
        space: &str,
        piece: Piece,
        event: serde_json::Value,
        cells: Arc<dyn CellSource>,
    ) -> RunReport {
        let sandbox = self.sandbox(space);
        let piece_id = piece.id.clone();
        let run = tokio::spawn(async move {
            let mut sandbox = sandbox.lock().await;
            sandbox.run(&piece, &event, cells).await
        });
        match run.await {
            Ok(report) => report,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => RunReport {
                outcome: RunOutcome::failure(
                    ErrorKind::Internal,
                    format!(
                        "the run of piece \"{piece_id}\" was cancelled: bgwasm is shutting down"
                    ),
                ),
                cell_changes: Vec::new(),
            },
        }
    }

    /// How many spaces have a sandbox.
    pub fn spaces(&self) -> usize {
        self.inner.spaces.lock().expect("sandbox pool lock").len()
    }
}
