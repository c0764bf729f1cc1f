//! Reading rows: columns are read by name, and a stored value that does not
//! parse (a piece id, a phase, an outcome) is an error naming its column and
//! what the store was doing, never a silent default.

use crate::sandbox::Lang;
use crate::store::error::{PostgresContext, StoreError};
use crate::store::{PieceId, RegistrationKey};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql};

/// Runs a (cached, prepared) query and reads each row it returns with
/// `read`; `context` names what the store was doing in every error.
pub async fn query_map<T>(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    context: &'static str,
    read: impl Fn(Columns<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let statement = client.prepare_cached(sql).await.context(context)?;
    client
        .query(&statement, params)
        .await
        .context(context)?
        .iter()
        .map(|row| read(Columns::new(row, context)))
        .collect()
}

/// A row, and what the store was doing when it read it.
pub struct Columns<'a> {
    row: &'a Row,
    context: &'static str,
}

impl<'a> Columns<'a> {
    pub fn new(row: &'a Row, context: &'static str) -> Self {
        Self { row, context }
    }

    /// A column as its SQL type maps to Rust.
    pub fn get<T: FromSql<'a>>(&self, column: &'static str) -> Result<T, StoreError> {
        self.row
            .try_get(column)
            .map_err(|source| StoreError::Postgres {
                context: self.context,
                source,
            })
    }

    /// The text of `column`, parsed by `parse`.
    pub fn parsed<T>(
        &self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, StoreError> {
        let text: &str = self.get(column)?;
        parse(text).map_err(|reason| StoreError::BadColumn {
            context: self.context,
            column,
            reason,
        })
    }

    /// A piece id column.
    pub fn piece_id(&self, column: &'static str) -> Result<PieceId, StoreError> {
        self.parsed(column, |text| {
            PieceId::parse(text).map_err(|e| e.to_string())
        })
    }

    /// A registration's key, from its `space` and `piece_id` columns.
    pub fn key(&self) -> Result<RegistrationKey, StoreError> {
        Ok(RegistrationKey::new(
            self.get::<String>("space")?,
            self.piece_id("piece_id")?,
        ))
    }

    /// A piece's language column.
    pub fn lang(&self, column: &'static str) -> Result<Lang, StoreError> {
        self.parsed(column, |text| Lang::parse(text).map_err(|e| e.to_string()))
    }

    /// A count or size column, stored as a signed BIGINT.
    pub fn unsigned(&self, column: &'static str) -> Result<u64, StoreError> {
        Ok(to_unsigned(self.get(column)?))
    }

    /// A nullable count or size column.
    pub fn unsigned_or_null(&self, column: &'static str) -> Result<Option<u64>, StoreError> {
        Ok(self.get::<Option<i64>>(column)?.map(to_unsigned))
    }
}

fn to_unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A count or size as PostgreSQL stores it.
pub fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
