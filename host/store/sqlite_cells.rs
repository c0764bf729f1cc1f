//! A space's cells as a running piece reads them, straight from SQLite.
//!
//! Reads are synchronous, as the sandbox calls them from its host functions;
//! each is one primary-key lookup on a pooled reader. A space runs one piece
//! at a time and only a run's commit writes cells, so a run sees its space's
//! cells as they were when it started.

use super::connections::ReaderPool;
use super::error::{SqliteContext, StoreError};
use crate::sandbox::CellSource;
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;

pub struct SqliteCells {
    pub(super) readers: Arc<ReaderPool>,
    pub(super) space: String,
}

/// The sandbox reports cell errors to the piece as text; the text names the
/// space but never a cell's contents.
fn describe(space: &str, error: StoreError) -> String {
    format!("reading the cells of space {space} failed: {error}")
}

impl CellSource for SqliteCells {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        self.readers
            .with(|conn| {
                conn.query_row(
                    "SELECT json FROM cells WHERE space = ?1 AND key = ?2",
                    params![self.space, key],
                    |row| row.get(0),
                )
                .optional()
                .context("reading a cell")
            })
            .map_err(|error| describe(&self.space, error))
    }

    fn keys(&self) -> Result<Vec<String>, String> {
        self.readers
            .with(|conn| {
                let mut stmt = conn
                    .prepare_cached("SELECT key FROM cells WHERE space = ?1 ORDER BY key")
                    .context("listing cell keys")?;
                let keys = stmt
                    .query_map(params![self.space], |row| row.get(0))
                    .context("listing cell keys")?
                    .collect::<Result<Vec<String>, _>>()
                    .context("listing cell keys")?;
                Ok(keys)
            })
            .map_err(|error| describe(&self.space, error))
    }
}
