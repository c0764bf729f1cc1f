//! `bgwasm store migrate`: copies every row of one store into another,
//! empty, PostgreSQL store, in one transaction, then reads the copy back and
//! checks that it equals what was read.

use super::{Snapshot, StoreError, StoreUrl};

/// Why a migration did not happen. Nothing is half-copied: the copy is one
/// transaction.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot read {url}: {source}")]
    Read { url: String, source: StoreError },
    #[error(
        "cannot copy into {url}: only a PostgreSQL store (postgres://...) can be the target; \
         the embedded store is where data comes from"
    )]
    TargetNotPostgres { url: String },
    #[error("cannot copy into {url}: {source}")]
    Write { url: String, source: StoreError },
    #[error(
        "the copy in {url} differs from {from} after the copy ({copied} copied, {found} read \
         back); the target was written to during the copy: empty it and migrate again"
    )]
    Mismatch {
        url: String,
        from: String,
        copied: String,
        found: String,
    },
}

/// Copies everything in `from` into the empty PostgreSQL store `to`;
/// returns what was copied.
pub async fn migrate(from: &StoreUrl, to: &StoreUrl) -> Result<Snapshot, MigrateError> {
    if !matches!(to, StoreUrl::Postgres { .. }) {
        return Err(MigrateError::TargetNotPostgres {
            url: to.to_string(),
        });
    }
    let read = |source| MigrateError::Read {
        url: from.to_string(),
        source,
    };
    let snapshot = match from {
        StoreUrl::Sqlite { data_dir } => {
            let dir = data_dir.clone();
            tokio::task::spawn_blocking(move || super::SqliteStore::open(&dir))
                .await
                .map_err(|_| {
                    read(StoreError::TaskFailed {
                        context: "opening the store",
                    })
                })?
                .map_err(read)?
                .export()
                .await
                .map_err(read)?
        }
        StoreUrl::Postgres { .. } => from
            .open_postgres()
            .await
            .map_err(read)?
            .export()
            .await
            .map_err(read)?,
    };
    let write = |source| MigrateError::Write {
        url: to.to_string(),
        source,
    };
    let target = to.open_postgres().await.map_err(write)?;
    target.import(&snapshot).await.map_err(write)?;
    let copy = target.export().await.map_err(write)?;
    if copy != snapshot {
        return Err(MigrateError::Mismatch {
            url: to.to_string(),
            from: from.to_string(),
            copied: snapshot.summary(),
            found: copy.summary(),
        });
    }
    Ok(snapshot)
}
