//! Where a run reads cells from, and what it changed.
//!
//! A run never writes through: its writes are kept in an overlay and handed
//! back as [`CellChange`]s, so the caller commits them only if the run
//! succeeded.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The cells of one space, as a run sees them before its own writes.
pub trait CellSource: Send + Sync + 'static {
    /// A cell's JSON text, if it exists.
    fn get(&self, key: &str) -> Result<Option<String>, String>;
    /// Every key, sorted.
    fn keys(&self) -> Result<Vec<String>, String>;
}

/// One cell a run wrote (`Some` JSON text) or deleted (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellChange {
    pub key: String,
    pub value: Option<String>,
}

/// Cells held in memory: `run-once --cells FILE`, and the tests.
#[derive(Debug, Default)]
pub struct MemoryCells {
    cells: Mutex<BTreeMap<String, String>>,
}

impl MemoryCells {
    pub fn new(cells: BTreeMap<String, String>) -> Self {
        Self {
            cells: Mutex::new(cells),
        }
    }

    /// Applies a successful run's changes.
    pub fn apply(&self, changes: &[CellChange]) {
        let mut cells = self.cells.lock().expect("cells lock");
        for change in changes {
            match &change.value {
                Some(json) => cells.insert(change.key.clone(), json.clone()),
                None => cells.remove(&change.key),
            };
        }
    }

    /// A copy of every cell.
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        self.cells.lock().expect("cells lock").clone()
    }
}

impl CellSource for MemoryCells {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.cells.lock().expect("cells lock").get(key).cloned())
    }

    fn keys(&self) -> Result<Vec<String>, String> {
        Ok(self
            .cells
            .lock()
            .expect("cells lock")
            .keys()
            .cloned()
            .collect())
    }
}
