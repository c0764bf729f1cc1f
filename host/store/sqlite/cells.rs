//! The `cells` table: each space's cells as JSON text, written only by a
//! successful run's commit, and read by the API and by running pieces.
//!
//! A running piece reads synchronously, as the sandbox calls from its host
//! functions: [`SqliteCells`] does one primary-key lookup on a pooled reader.
//! A space runs one piece at a time and only a run's commit writes cells, so
//! a run sees its space's cells as they were when it started.

use super::connections::ReaderPool;
use crate::sandbox::{CellChange, CellSource};
use crate::store::CellRow;
use crate::store::error::{SqliteContext, StoreError};
use rusqlite::{Connection, OptionalExtension, named_params};
use std::sync::Arc;

/// One cell's JSON text, if it exists.
pub fn get(conn: &Connection, space: &str, key: &str) -> Result<Option<String>, StoreError> {
    conn.prepare_cached("SELECT json FROM cells WHERE space = :space AND key = :key")
        .context("reading a cell")?
        .query_row(named_params! { ":space": space, ":key": key }, |row| {
            row.get("json")
        })
        .optional()
        .context("reading a cell")
}

/// Every cell of a space, sorted by key.
pub fn list(conn: &Connection, space: &str) -> Result<Vec<(String, String)>, StoreError> {
    let cells = conn
        .prepare_cached("SELECT key, json FROM cells WHERE space = :space ORDER BY key")
        .context("listing cells")?
        .query_map(named_params! { ":space": space }, |row| {
            Ok((row.get("key")?, row.get("json")?))
        })
        .context("listing cells")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("listing cells")?;
    Ok(cells)
}

/// The keys of a space's cells, sorted.
pub fn keys(conn: &Connection, space: &str) -> Result<Vec<String>, StoreError> {
    let keys = conn
        .prepare_cached("SELECT key FROM cells WHERE space = :space ORDER BY key")
        .context("listing cell keys")?
        .query_map(named_params! { ":space": space }, |row| row.get("key"))
        .context("listing cell keys")?
        .collect::<rusqlite::Result<Vec<String>>>()
        .context("listing cell keys")?;
    Ok(keys)
}

/// Every cell of every space, sorted (for `store migrate`).
pub fn all(conn: &Connection) -> Result<Vec<CellRow>, StoreError> {
    conn.prepare("SELECT space, key, json FROM cells ORDER BY space, key")
        .context("reading every cell")?
        .query_map([], |row| {
            Ok(CellRow {
                space: row.get("space")?,
                key: row.get("key")?,
                json: row.get("json")?,
            })
        })
        .context("reading every cell")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("reading every cell")
}

/// Applies a run's cell writes and deletes (inside its commit).
pub fn apply(conn: &Connection, space: &str, changes: &[CellChange]) -> Result<(), StoreError> {
    let mut upsert = conn
        .prepare_cached(
            "INSERT OR REPLACE INTO cells (space, key, json) VALUES (:space, :key, :json)",
        )
        .context("writing a cell")?;
    let mut delete = conn
        .prepare_cached("DELETE FROM cells WHERE space = :space AND key = :key")
        .context("deleting a cell")?;
    for change in changes {
        match &change.value {
            Some(json) => upsert
                .execute(named_params! { ":space": space, ":key": change.key, ":json": json })
                .context("writing a cell")?,
            None => delete
                .execute(named_params! { ":space": space, ":key": change.key })
                .context("deleting a cell")?,
        };
    }
    Ok(())
}

/// A space's cells as a running piece reads them.
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
            .with(|conn| get(conn, &self.space, key))
            .map_err(|error| describe(&self.space, error))
    }

    fn keys(&self) -> Result<Vec<String>, String> {
        self.readers
            .with(|conn| keys(conn, &self.space))
            .map_err(|error| describe(&self.space, error))
    }
}
