//! Reading rows: columns are read by name, and a stored value that does not
//! parse (a piece id, a phase, an outcome) is a conversion error naming its
//! column, never a silent default.

use crate::sandbox::Lang;
use crate::store::PieceId;
use rusqlite::Row;
use rusqlite::types::Type;

/// The text of `column`, parsed by `parse`.
pub fn parsed<T>(
    row: &Row<'_>,
    column: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    parse(&text).map_err(|reason| {
        let index = row.as_ref().column_index(column).unwrap_or(usize::MAX);
        let reason = format!("column {column}: {reason}");
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, reason.into())
    })
}

/// A piece id column.
pub fn piece_id(row: &Row<'_>, column: &str) -> rusqlite::Result<PieceId> {
    parsed(row, column, |text| {
        PieceId::parse(text).map_err(|e| e.to_string())
    })
}

/// A piece's language column.
pub fn lang(row: &Row<'_>, column: &str) -> rusqlite::Result<Lang> {
    parsed(row, column, |text| {
        Lang::parse(text).map_err(|e| e.to_string())
    })
}

/// A count or size column, stored as SQLite's signed integer.
pub fn unsigned(row: &Row<'_>, column: &str) -> rusqlite::Result<u64> {
    Ok(to_unsigned(row.get(column)?))
}

/// A nullable count or size column.
pub fn unsigned_or_null(row: &Row<'_>, column: &str) -> rusqlite::Result<Option<u64>> {
    Ok(row.get::<_, Option<i64>>(column)?.map(to_unsigned))
}

fn to_unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A count or size as SQLite stores it.
pub fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
