//! The `pieces` table: each space's piece sources, keyed by piece id.

use super::rows;
use crate::store::error::{SqliteContext, StoreError};
use crate::store::{
    AddedPiece, EpochMillis, PieceId, PieceInfo, PieceSource, StoredPiece, source_hash,
};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, named_params};

/// A piece's metadata, without reading its source into memory.
const INFO_COLUMNS: &str = "space, id, hash, lang, length(CAST(source AS BLOB)) AS source_bytes, \
    created_at, updated_at";

fn info_from_row(row: &Row<'_>) -> rusqlite::Result<PieceInfo> {
    Ok(PieceInfo {
        space: row.get("space")?,
        id: rows::piece_id(row, "id")?,
        hash: row.get("hash")?,
        lang: rows::lang(row, "lang")?,
        source_bytes: rows::unsigned(row, "source_bytes")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

/// A piece's metadata, if it exists.
pub fn info(conn: &Connection, space: &str, id: &PieceId) -> Result<Option<PieceInfo>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {INFO_COLUMNS} FROM pieces WHERE space = :space AND id = :id"
    ))
    .context("reading a piece")?
    .query_row(
        named_params! { ":space": space, ":id": id.as_str() },
        info_from_row,
    )
    .optional()
    .context("reading a piece")
}

/// A piece with its source, if it exists.
pub fn get(
    conn: &Connection,
    space: &str,
    id: &PieceId,
) -> Result<Option<StoredPiece>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {INFO_COLUMNS}, source FROM pieces WHERE space = :space AND id = :id"
    ))
    .context("reading a piece")?
    .query_row(
        named_params! { ":space": space, ":id": id.as_str() },
        |row| {
            Ok(StoredPiece {
                info: info_from_row(row)?,
                source: row.get::<_, String>("source")?.into(),
            })
        },
    )
    .optional()
    .context("reading a piece")
}

/// Adds a piece under `id`, or under its content-addressed id. The same
/// source again is a no-op; another source under a taken id is refused.
pub fn add(
    conn: &mut Connection,
    space: &str,
    id: Option<PieceId>,
    source: &PieceSource,
    now: EpochMillis,
) -> Result<AddedPiece, StoreError> {
    let id = id.unwrap_or_else(|| PieceId::for_source(&source.text));
    let hash = source_hash(&source.text);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting to add a piece")?;
    if let Some(existing) = info(&tx, space, &id)? {
        if existing.hash != hash || existing.lang != source.lang {
            return Err(StoreError::PieceIdTaken {
                space: space.to_owned(),
                piece_id: id,
            });
        }
        return Ok(AddedPiece {
            info: existing,
            created: false,
        });
    }
    tx.execute(
        "INSERT INTO pieces (space, id, source, hash, lang, created_at, updated_at)
         VALUES (:space, :id, :source, :hash, :lang, :now, :now)",
        named_params! {
            ":space": space,
            ":id": id.as_str(),
            ":source": &*source.text,
            ":hash": hash,
            ":lang": source.lang.as_str(),
            ":now": now,
        },
    )
    .context("adding a piece")?;
    let info = info(&tx, space, &id)?.ok_or_else(|| StoreError::Corrupt {
        what: "piece",
        reason: "vanished after insert".into(),
    })?;
    tx.commit().context("committing a new piece")?;
    Ok(AddedPiece {
        info,
        created: true,
    })
}

/// Replaces the source of an existing piece.
pub fn replace(
    conn: &mut Connection,
    space: &str,
    id: &PieceId,
    source: &PieceSource,
    now: EpochMillis,
) -> Result<PieceInfo, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("starting to replace a piece")?;
    let changed = tx
        .execute(
            "UPDATE pieces SET source = :source, hash = :hash, lang = :lang, updated_at = :now
             WHERE space = :space AND id = :id",
            named_params! {
                ":space": space,
                ":id": id.as_str(),
                ":source": &*source.text,
                ":hash": source_hash(&source.text),
                ":lang": source.lang.as_str(),
                ":now": now,
            },
        )
        .context("replacing a piece")?;
    if changed == 0 {
        return Err(StoreError::PieceNotFound {
            space: space.to_owned(),
            piece_id: id.clone(),
        });
    }
    let info = info(&tx, space, id)?.ok_or_else(|| StoreError::Corrupt {
        what: "piece",
        reason: "vanished after update".into(),
    })?;
    tx.commit().context("committing a replaced piece")?;
    Ok(info)
}

/// Every piece, sorted by space then id (for `store migrate`).
pub fn all(conn: &Connection) -> Result<Vec<StoredPiece>, StoreError> {
    conn.prepare(&format!(
        "SELECT {INFO_COLUMNS}, source FROM pieces ORDER BY space, id"
    ))
    .context("reading every piece")?
    .query_map([], |row| {
        Ok(StoredPiece {
            info: info_from_row(row)?,
            source: row.get::<_, String>("source")?.into(),
        })
    })
    .context("reading every piece")?
    .collect::<rusqlite::Result<Vec<_>>>()
    .context("reading every piece")
}
