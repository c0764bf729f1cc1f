//! The SQLite connections: one writer, a pool of readers.
//!
//! SQLite allows one writer at a time anyway, so all writes go through one
//! connection behind a mutex; WAL lets readers (API queries, the cell reads of
//! running pieces) proceed in parallel on their own connections. Async callers
//! reach both through `spawn_blocking`, because a commit waits for an fsync
//! and must not stall a runtime worker thread. The sandbox's cell reads are
//! synchronous and short (one indexed lookup) and use the pool directly.

use super::checkpointer::Checkpointer;
use super::schema;
use crate::store::error::{SqliteContext, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Idle readers kept open; more are opened under load and closed after.
/// Opening one reads the schema, so the pool is as large as the reads that
/// run at once under load (the runs' cell reads and the scheduler's).
const MAX_IDLE_READERS: usize = 64;

/// Locks a mutex even if a panicking holder poisoned it: a connection stays
/// consistent, since SQLite rolls back the transaction the panic abandoned.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct Writer {
    conn: Mutex<Connection>,
    /// Told of each write, to checkpoint the log soon after.
    checkpointer: Checkpointer,
}

impl Writer {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path).context("opening the database")?;
        schema::configure(&conn)?;
        schema::configure_writer(&conn)?;
        schema::migrate(&mut conn, path)?;
        Ok(Self {
            conn: Mutex::new(conn),
            checkpointer: Checkpointer::start(path)?,
        })
    }

    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = f(&mut lock(&self.conn));
        self.checkpointer.committed();
        result
    }

    /// Runs `f` on the connection if no write holds it now; `None` if one does.
    pub fn try_with<T>(&self, f: impl FnOnce(&Connection) -> T) -> Option<T> {
        match self.conn.try_lock() {
            Ok(conn) => Some(f(&conn)),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(f(&poisoned.into_inner())),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

pub struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .context("opening a reader connection")?;
        schema::configure(&conn)?;
        // A reader must never write, even by mistake.
        conn.execute_batch("PRAGMA query_only = ON")
            .context("making a reader read-only")?;
        Ok(conn)
    }

    pub fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = lock(&self.idle).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = f(&conn);
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

/// Both kinds of connection, shared with blocking tasks.
pub struct Connections {
    pub writer: Writer,
    pub readers: Arc<ReaderPool>,
}

impl Connections {
    /// Runs a write on a blocking thread.
    pub async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        context: &'static str,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.writer.with(f))
            .await
            .map_err(|_| StoreError::TaskFailed { context })?
    }

    /// Runs a read on a blocking thread.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        context: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.readers.with(f))
            .await
            .map_err(|_| StoreError::TaskFailed { context })?
    }
}
