//! The `pieces` table: each space's piece sources, keyed by piece id.

use super::rows::Columns;
use crate::store::error::{PostgresContext, StoreError};
use crate::store::{
    AddedPiece, EpochMillis, PieceId, PieceInfo, PieceSource, StoredPiece, source_hash,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

/// A piece's metadata, without reading its source.
const INFO_COLUMNS: &str =
    "space, id, hash, lang, octet_length(source)::BIGINT AS source_bytes, created_at, updated_at";

fn info_from_row(row: &Row, context: &'static str) -> Result<PieceInfo, StoreError> {
    let row = Columns::new(row, context);
    Ok(PieceInfo {
        space: row.get("space")?,
        id: row.piece_id("id")?,
        hash: row.get("hash")?,
        lang: row.lang("lang")?,
        source_bytes: row.unsigned("source_bytes")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

fn piece_from_row(row: &Row, context: &'static str) -> Result<StoredPiece, StoreError> {
    Ok(StoredPiece {
        info: info_from_row(row, context)?,
        source: Columns::new(row, context).get::<&str>("source")?.into(),
    })
}

/// A piece's metadata, if it exists.
pub async fn info(
    client: &impl GenericClient,
    space: &str,
    id: &PieceId,
) -> Result<Option<PieceInfo>, StoreError> {
    const CONTEXT: &str = "reading a piece";
    let sql = format!("SELECT {INFO_COLUMNS} FROM pieces WHERE space = $1 AND id = $2");
    let statement = client.prepare_cached(&sql).await.context(CONTEXT)?;
    client
        .query_opt(&statement, &[&space, &id.as_str()])
        .await
        .context(CONTEXT)?
        .map(|row| info_from_row(&row, CONTEXT))
        .transpose()
}

/// A piece with its source, if it exists.
pub async fn get(
    client: &impl GenericClient,
    space: &str,
    id: &PieceId,
) -> Result<Option<StoredPiece>, StoreError> {
    const CONTEXT: &str = "reading a piece";
    let sql = format!("SELECT {INFO_COLUMNS}, source FROM pieces WHERE space = $1 AND id = $2");
    let statement = client.prepare_cached(&sql).await.context(CONTEXT)?;
    client
        .query_opt(&statement, &[&space, &id.as_str()])
        .await
        .context(CONTEXT)?
        .map(|row| piece_from_row(&row, CONTEXT))
        .transpose()
}

/// Every piece, sorted by space then id (for `store migrate`).
pub async fn all(client: &impl GenericClient) -> Result<Vec<StoredPiece>, StoreError> {
    const CONTEXT: &str = "reading every piece";
    let sql = format!("SELECT {INFO_COLUMNS}, source FROM pieces ORDER BY space, id");
    client
        .query(&sql, &[])
        .await
        .context(CONTEXT)?
        .iter()
        .map(|row| piece_from_row(row, CONTEXT))
        .collect()
}

/// Adds a piece under `id`, or under its content-addressed id. The same
/// source again is a no-op; another source under a taken id is refused.
/// One statement inserts or finds the row, so concurrent adds cannot race.
pub async fn add(
    client: &impl GenericClient,
    space: &str,
    id: Option<PieceId>,
    source: &PieceSource,
    now: EpochMillis,
) -> Result<AddedPiece, StoreError> {
    const CONTEXT: &str = "adding a piece";
    let id = id.unwrap_or_else(|| PieceId::for_source(&source.text));
    let hash = source_hash(&source.text);
    let sql = format!(
        "INSERT INTO pieces (space, id, source, hash, lang, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (space, id) DO NOTHING
         RETURNING {INFO_COLUMNS}"
    );
    let statement = client.prepare_cached(&sql).await.context(CONTEXT)?;
    let inserted = client
        .query_opt(
            &statement,
            &[
                &space,
                &id.as_str(),
                &&*source.text,
                &hash,
                &source.lang.as_str(),
                &now,
            ],
        )
        .await
        .context(CONTEXT)?;
    if let Some(row) = inserted {
        return Ok(AddedPiece {
            info: info_from_row(&row, CONTEXT)?,
            created: true,
        });
    }
    let existing = info(client, space, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt {
            what: "piece",
            reason: "an id in use vanished while adding it again".into(),
        })?;
    if existing.hash != hash || existing.lang != source.lang {
        return Err(StoreError::PieceIdTaken {
            space: space.to_owned(),
            piece_id: id,
        });
    }
    Ok(AddedPiece {
        info: existing,
        created: false,
    })
}

/// Replaces the source of an existing piece.
pub async fn replace(
    client: &impl GenericClient,
    space: &str,
    id: &PieceId,
    source: &PieceSource,
    now: EpochMillis,
) -> Result<PieceInfo, StoreError> {
    const CONTEXT: &str = "replacing a piece";
    let sql = format!(
        "UPDATE pieces SET source = $3, hash = $4, lang = $5, updated_at = $6
         WHERE space = $1 AND id = $2
         RETURNING {INFO_COLUMNS}"
    );
    let statement = client.prepare_cached(&sql).await.context(CONTEXT)?;
    let updated = client
        .query_opt(
            &statement,
            &[
                &space,
                &id.as_str(),
                &&*source.text,
                &source_hash(&source.text),
                &source.lang.as_str(),
                &now,
            ],
        )
        .await
        .context(CONTEXT)?;
    match updated {
        Some(row) => info_from_row(&row, CONTEXT),
        None => Err(StoreError::PieceNotFound {
            space: space.to_owned(),
            piece_id: id.clone(),
        }),
    }
}

/// Inserts pieces as they are (for `store migrate`).
pub async fn insert_all(
    client: &impl GenericClient,
    pieces: &[StoredPiece],
) -> Result<(), StoreError> {
    const CONTEXT: &str = "copying a piece";
    let statement = client
        .prepare_cached(
            "INSERT INTO pieces (space, id, source, hash, lang, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await
        .context(CONTEXT)?;
    for piece in pieces {
        let info = &piece.info;
        client
            .execute(
                &statement,
                &[
                    &info.space,
                    &info.id.as_str(),
                    &&*piece.source,
                    &info.hash,
                    &info.lang.as_str(),
                    &info.created_at,
                    &info.updated_at,
                ],
            )
            .await
            .context(CONTEXT)?;
    }
    Ok(())
}
