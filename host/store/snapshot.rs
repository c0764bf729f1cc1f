//! Everything a store holds, as plain rows: what `bgwasm store migrate`
//! reads from one store and writes into another.

use super::{Registration, RunRecord, StoredPiece};

/// One cell of one space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellRow {
    pub space: String,
    pub key: String,
    pub json: String,
}

/// Every row of a store, each list sorted by its key (run history by id), so
/// two snapshots of the same data are equal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub pieces: Vec<StoredPiece>,
    /// With their phases, claims, failure counts and totals.
    pub registrations: Vec<Registration>,
    pub runs: Vec<RunRecord>,
    pub cells: Vec<CellRow>,
}

impl Snapshot {
    /// "3 pieces, 2 registrations, 10 runs, 4 cells".
    pub fn summary(&self) -> String {
        format!(
            "{} pieces, {} registrations, {} runs, {} cells",
            self.pieces.len(),
            self.registrations.len(),
            self.runs.len(),
            self.cells.len()
        )
    }
}
