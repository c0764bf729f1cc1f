//! The WAL checkpointer: copies committed pages from the write-ahead log
//! back into the database file on a thread of its own, so that the writer's
//! commits do not do it.
//!
//! SQLite checkpoints by default inside the commit that takes the log past
//! 1,000 pages: that commit copies every page the log holds and waits for
//! the database file's fsync, and every run waiting on it waits too. Here the
//! writer's own threshold is raised to [`WRITER_CHECKPOINT_PAGES`], a
//! backstop, and this thread checkpoints (`PASSIVE`: it never blocks the
//! writer or a reader) at most every [`PAUSE`] after a commit. The log only
//! starts again from its beginning once a checkpoint has copied all of it
//! before the next write begins; under a steady stream of commits that
//! rarely happens, so it is the writer's backstop checkpoint, mostly copied
//! already, that brings the log back to the start.
//!
//! A checkpoint is crash-safe by SQLite's design: `kill -9` in the middle of
//! one loses nothing, the log is replayed at the next open.

use crate::store::error::{SqliteContext, StoreError};
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// The log size (in pages, 4 KiB each) past which the writer checkpoints in
/// its commit after all: 64 MiB of log.
pub const WRITER_CHECKPOINT_PAGES: i64 = 16 * 1024;

/// The least time between two checkpoints. A checkpoint copies each page
/// once however many commits changed it since the last one, so checkpoints
/// further apart copy fewer pages per run.
const PAUSE: Duration = Duration::from_millis(200);

/// Tells the checkpointer thread that the writer committed. Dropping it ends
/// the thread.
pub struct Checkpointer {
    wake: mpsc::SyncSender<()>,
}

impl Checkpointer {
    /// Starts the thread, with a connection of its own to `path`.
    pub fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).context("opening the checkpointer's connection")?;
        conn.busy_timeout(Duration::from_secs(5))
            .context("setting the checkpointer's busy timeout")?;
        let (wake, woken) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("bgwasm-checkpoint".into())
            .spawn(move || checkpoint_while_woken(&conn, &woken))
            .map_err(|source| StoreError::CheckpointerThread { source })?;
        Ok(Self { wake })
    }

    /// The writer committed: a checkpoint is due soon. Never blocks.
    pub fn committed(&self) {
        // Full means a wake-up is pending already.
        let _ = self.wake.try_send(());
    }
}

fn checkpoint_while_woken(conn: &Connection, woken: &mpsc::Receiver<()>) {
    while woken.recv().is_ok() {
        let result: rusqlite::Result<(i64, i64, i64)> =
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            });
        if let Err(error) = result {
            // The writer's backstop checkpoint still bounds the log.
            tracing::warn!(%error, "a background WAL checkpoint failed; the next commit tries again");
        }
        std::thread::sleep(PAUSE);
    }
}
