//! The `cells` table: each space's cells as JSON text, written only by a
//! successful run's commit, and read by the API and by running pieces.
//!
//! A running piece reads synchronously, from the sandbox's host functions on
//! a runtime worker thread. Those reads go to [`CellReader`]: a thread of its
//! own with its own small runtime and connection pool, which the calling
//! thread waits on (bounded by [`READ_TIMEOUT`]). Its connections never depend
//! on the workers that wait for them, so waiting workers cannot starve it.

use super::rows::{Columns, query_map};
use crate::sandbox::{CellChange, CellSource};
use crate::store::CellRow;
use crate::store::error::{PostgresContext, StoreError};
use deadpool_postgres::{GenericClient, Pool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a piece waits for one cell read before it fails.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One cell's JSON text, if it exists.
pub async fn get(
    client: &impl GenericClient,
    space: &str,
    key: &str,
) -> Result<Option<String>, StoreError> {
    const CONTEXT: &str = "reading a cell";
    let statement = client
        .prepare_cached("SELECT json FROM cells WHERE space = $1 AND key = $2")
        .await
        .context(CONTEXT)?;
    client
        .query_opt(&statement, &[&space, &key])
        .await
        .context(CONTEXT)?
        .map(|row| Columns::new(&row, CONTEXT).get("json"))
        .transpose()
}

/// Every cell of a space, sorted by key.
pub async fn list(
    client: &impl GenericClient,
    space: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    query_map(
        client,
        "SELECT key, json FROM cells WHERE space = $1 ORDER BY key",
        &[&space],
        "listing cells",
        |row| Ok((row.get("key")?, row.get("json")?)),
    )
    .await
}

/// The keys of a space's cells, sorted.
pub async fn keys(client: &impl GenericClient, space: &str) -> Result<Vec<String>, StoreError> {
    query_map(
        client,
        "SELECT key FROM cells WHERE space = $1 ORDER BY key",
        &[&space],
        "listing cell keys",
        |row| row.get("key"),
    )
    .await
}

/// Every cell of every space, sorted (for `store migrate`).
pub async fn all(client: &impl GenericClient) -> Result<Vec<CellRow>, StoreError> {
    const CONTEXT: &str = "reading every cell";
    client
        .query(
            "SELECT space, key, json FROM cells ORDER BY space, key",
            &[],
        )
        .await
        .context(CONTEXT)?
        .iter()
        .map(|row| {
            let row = Columns::new(row, CONTEXT);
            Ok(CellRow {
                space: row.get("space")?,
                key: row.get("key")?,
                json: row.get("json")?,
            })
        })
        .collect()
}

/// Applies a run's cell writes and deletes (inside its commit).
pub async fn apply(
    client: &impl GenericClient,
    space: &str,
    changes: &[CellChange],
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let upsert = client
        .prepare_cached(
            "INSERT INTO cells (space, key, json) VALUES ($1, $2, $3)
             ON CONFLICT (space, key) DO UPDATE SET json = EXCLUDED.json",
        )
        .await
        .context("writing a cell")?;
    let delete = client
        .prepare_cached("DELETE FROM cells WHERE space = $1 AND key = $2")
        .await
        .context("deleting a cell")?;
    for change in changes {
        match &change.value {
            Some(json) => client
                .execute(&upsert, &[&space, &change.key, json])
                .await
                .context("writing a cell")?,
            None => client
                .execute(&delete, &[&space, &change.key])
                .await
                .context("deleting a cell")?,
        };
    }
    Ok(())
}

/// Inserts cells as they are (for `store migrate`).
pub async fn insert_all(client: &impl GenericClient, cells: &[CellRow]) -> Result<(), StoreError> {
    const CONTEXT: &str = "copying a cell";
    let statement = client
        .prepare_cached("INSERT INTO cells (space, key, json) VALUES ($1, $2, $3)")
        .await
        .context(CONTEXT)?;
    for cell in cells {
        client
            .execute(&statement, &[&cell.space, &cell.key, &cell.json])
            .await
            .context(CONTEXT)?;
    }
    Ok(())
}

type Reply<T> = std::sync::mpsc::SyncSender<Result<T, StoreError>>;

/// What a running piece asks for, and where the answer goes.
enum Request {
    Get {
        space: String,
        key: String,
        reply: Reply<Option<String>>,
    },
    Keys {
        space: String,
        reply: Reply<Vec<String>>,
    },
}

impl Request {
    /// Answers; an asker that gave up waiting gets nothing.
    async fn answer(self, pool: &Pool) {
        let client = pool.get().await.map_err(|source| StoreError::PostgresPool {
            context: "reading a cell",
            source,
        });
        match self {
            Request::Get { space, key, reply } => {
                let _ = reply.send(match client {
                    Ok(client) => get(&client, &space, &key).await,
                    Err(error) => Err(error),
                });
            }
            Request::Keys { space, reply } => {
                let _ = reply.send(match client {
                    Ok(client) => keys(&client, &space).await,
                    Err(error) => Err(error),
                });
            }
        }
    }

    fn refuse(self, reason: &str) {
        let gone = || StoreError::CellReaderGone {
            reason: reason.to_owned(),
        };
        match self {
            Request::Get { reply, .. } => drop(reply.send(Err(gone()))),
            Request::Keys { reply, .. } => drop(reply.send(Err(gone()))),
        }
    }
}

/// Serves the synchronous cell reads of running pieces from its own thread.
/// The thread ends when the last handle is dropped.
pub struct CellReader {
    requests: mpsc::UnboundedSender<Request>,
}

impl CellReader {
    /// Starts the thread; `make_pool` builds its pool on the thread's runtime,
    /// so the pool's connections are driven there.
    pub fn start(
        make_pool: impl FnOnce() -> Result<Pool, StoreError> + Send + 'static,
    ) -> Result<Self, StoreError> {
        let (requests, mut incoming) = mpsc::unbounded_channel::<Request>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| StoreError::CellReaderThread { source })?;
        std::thread::Builder::new()
            .name("bgwasm-pg-cells".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let pool = match make_pool() {
                        Ok(pool) => pool,
                        Err(error) => {
                            let reason = error.to_string();
                            while let Some(request) = incoming.recv().await {
                                request.refuse(&reason);
                            }
                            return;
                        }
                    };
                    while let Some(request) = incoming.recv().await {
                        let pool = pool.clone();
                        tokio::spawn(async move {
                            request.answer(&pool).await;
                        });
                    }
                });
            })
            .map_err(|source| StoreError::CellReaderThread { source })?;
        Ok(Self { requests })
    }

    /// Sends a request made around a reply channel, and waits for its answer.
    fn ask<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> Result<T, String> {
        let (reply, answered) = std::sync::mpsc::sync_channel(1);
        self.requests
            .send(request(reply))
            .map_err(|_| "the PostgreSQL cell reader has stopped".to_string())?;
        match answered.recv_timeout(READ_TIMEOUT) {
            Ok(answer) => answer.map_err(|error| error.to_string()),
            Err(_) => Err(format!(
                "no answer from PostgreSQL within {}s",
                READ_TIMEOUT.as_secs()
            )),
        }
    }
}

/// A space's cells as a running piece reads them.
pub struct PostgresCells {
    pub(super) reader: Arc<CellReader>,
    pub(super) space: String,
}

/// The sandbox reports cell errors to the piece as text; the text names the
/// space but never a cell's contents.
fn describe(space: &str, problem: String) -> String {
    format!("reading the cells of space {space} failed: {problem}")
}

impl CellSource for PostgresCells {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        self.reader
            .ask(|reply| Request::Get {
                space: self.space.clone(),
                key: key.to_owned(),
                reply,
            })
            .map_err(|problem| describe(&self.space, problem))
    }

    fn keys(&self) -> Result<Vec<String>, String> {
        self.reader
            .ask(|reply| Request::Keys {
                space: self.space.clone(),
                reply,
            })
            .map_err(|problem| describe(&self.space, problem))
    }
}
