//! The SQLite schema and its migrations, versioned by `PRAGMA user_version`.
//!
//! Migrations only ever get appended: migration `i` takes the database from
//! version `i` to `i + 1`, and each runs in its own transaction together with
//! the version bump, so a crash mid-migration leaves the old version intact.

use crate::store::error::{SqliteContext, StoreError};
use rusqlite::Connection;
use std::path::Path;

const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the first schema.
    "
    CREATE TABLE pieces (
        space       TEXT    NOT NULL,
        id          TEXT    NOT NULL,
        source      TEXT    NOT NULL,
        hash        TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (space, id)
    ) WITHOUT ROWID;

    CREATE TABLE registrations (
        space                TEXT    NOT NULL,
        piece_id             TEXT    NOT NULL,
        integration          TEXT    NOT NULL,
        created_at           INTEGER NOT NULL,
        updated_at           INTEGER NOT NULL,
        disabled_at          INTEGER NOT NULL DEFAULT 0,
        last_run             INTEGER NOT NULL DEFAULT 0,
        status               TEXT    NOT NULL,
        last_success         INTEGER NOT NULL DEFAULT 0,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_error           TEXT,
        next_run             INTEGER NOT NULL,
        total_runs           INTEGER NOT NULL DEFAULT 0,
        total_failures       INTEGER NOT NULL DEFAULT 0,
        last_duration_ms     INTEGER,
        last_fuel            INTEGER,
        phase                TEXT    NOT NULL
                             CHECK (phase IN ('scheduled', 'dispatched', 'disabled')),
        claimed_at           INTEGER,
        PRIMARY KEY (space, piece_id)
    ) WITHOUT ROWID;
    -- The scheduler's hot query: due scheduled registrations.
    CREATE INDEX registrations_due ON registrations (phase, next_run);
    CREATE INDEX registrations_by_integration ON registrations (integration);

    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        space       TEXT    NOT NULL,
        piece_id    TEXT    NOT NULL,
        trigger     TEXT    NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
        started_at  INTEGER NOT NULL,
        finished_at INTEGER NOT NULL,
        ok          INTEGER NOT NULL,
        outcome     TEXT    NOT NULL
    );
    CREATE INDEX runs_by_piece ON runs (space, piece_id, id);

    CREATE TABLE cells (
        space TEXT NOT NULL,
        key   TEXT NOT NULL,
        json  TEXT NOT NULL,
        PRIMARY KEY (space, key)
    ) WITHOUT ROWID;
    ",
    // 1 -> 2: the language of a piece's source.
    "
    ALTER TABLE pieces ADD COLUMN lang TEXT NOT NULL DEFAULT 'javascript'
        CHECK (lang IN ('javascript', 'typescript'));
    ",
    // 2 -> 3: each run's record for replay, deleted with its history row.
    "
    CREATE TABLE run_records (
        run_id    INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
        truncated INTEGER NOT NULL,
        record    BLOB    NOT NULL
    );
    ",
    // 3 -> 4: the schedule lives in memory (`due_index`), loaded by one scan
    // at start; an index on the due time only cost every run's commit a
    // page more to write.
    "
    DROP INDEX registrations_due;
    ",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Settings for every connection.
///
/// WAL lets the API and the runs' cell reads proceed while the writer
/// commits. `synchronous=FULL` fsyncs the WAL at every commit: in WAL mode
/// `NORMAL` would already survive `kill -9` (a committed transaction is in
/// the OS's page cache), but not a power cut or kernel crash, and one fsync per
/// run commit is affordable at the daemon's rate (a few hundred per second).
pub fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .context("setting the busy timeout")?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .context("setting connection pragmas")?;
    // Room for every statement the store prepares (rusqlite keeps 16), so a
    // run's commit never parses its SQL again.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// The writer's page cache: the pages a group commit touches (the
/// registrations, the run history's index) stay in memory rather than being
/// read again from the file at each commit. SQLite's default is 2 MiB.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// Settings of the one writer connection only: its cache, and its
/// checkpoints left to the checkpointer thread but for a backstop.
pub fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(&format!(
        "PRAGMA cache_size = -{WRITER_CACHE_KIB};
         PRAGMA wal_autocheckpoint = {};",
        super::checkpointer::WRITER_CHECKPOINT_PAGES
    ))
    .context("setting the writer's cache and checkpoints")
}

/// Switches to WAL and migrates to [`SCHEMA_VERSION`].
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .context("switching to WAL")?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt {
            what: "journal mode",
            reason: format!("SQLite kept journal mode {mode:?} instead of WAL"),
        });
    }
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .context("reading the schema version")?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().context("starting a migration")?;
        tx.execute_batch(sql).context("migrating the schema")?;
        // PRAGMA takes no parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {}", version + 1))
            .context("recording the schema version")?;
        tx.commit().context("committing a migration")?;
        tracing::info!(version = version + 1, "migrated the database schema");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_schema_database_gets_the_language_column_and_its_pieces_are_javascript() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO pieces (space, id, source, hash, created_at, updated_at)
             VALUES ('s', 'p', 'export default 1', 'h', 1, 1);",
        )
        .unwrap();
        migrate(&mut conn, &path).unwrap();
        let (version, lang): (i64, String) = conn
            .query_row(
                "SELECT (SELECT user_version FROM pragma_user_version), lang FROM pieces",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!((version, lang.as_str()), (SCHEMA_VERSION, "javascript"));
        let refused = conn.execute("UPDATE pieces SET lang = 'python'", []);
        assert!(refused.is_err(), "the column takes only the two languages");
    }

    #[test]
    fn a_third_schema_database_loses_the_due_time_index_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        let mut conn = Connection::open(&path).unwrap();
        configure(&conn).unwrap();
        for migration in &MIGRATIONS[..3] {
            conn.execute_batch(migration).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 3;
             INSERT INTO registrations (space, piece_id, integration, created_at, updated_at,
                 status, next_run, phase)
             VALUES ('s', 'p', 'rss', 1, 1, 'Initializing', 5, 'scheduled');",
        )
        .unwrap();
        migrate(&mut conn, &path).unwrap();
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'registrations' AND sql IS NOT NULL ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(indexes, vec!["registrations_by_integration".to_owned()]);
        let (version, next_run): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT user_version FROM pragma_user_version), next_run FROM registrations",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!((version, next_run), (SCHEMA_VERSION, 5));
    }

    #[test]
    fn a_second_schema_database_gets_run_records_that_go_with_their_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        let mut conn = Connection::open(&path).unwrap();
        configure(&conn).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO runs (space, piece_id, trigger, started_at, finished_at, ok, outcome)
             VALUES ('s', 'p', 'manual', 1, 2, 1, '{}');",
        )
        .unwrap();
        migrate(&mut conn, &path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        // The old run has no record; a record needs a run, and goes with it.
        let records: i64 = conn
            .query_row("SELECT count(*) FROM run_records", [], |row| row.get(0))
            .unwrap();
        assert_eq!(records, 0);
        let orphan = conn.execute(
            "INSERT INTO run_records (run_id, truncated, record) VALUES (99, 0, x'7b7d')",
            [],
        );
        assert!(orphan.is_err(), "a record of no run is refused");
        conn.execute(
            "INSERT INTO run_records (run_id, truncated, record) VALUES (1, 0, x'7b7d')",
            [],
        )
        .unwrap();
        conn.execute("DELETE FROM runs WHERE id = 1", []).unwrap();
        let records: i64 = conn
            .query_row("SELECT count(*) FROM run_records", [], |row| row.get(0))
            .unwrap();
        assert_eq!(records, 0, "the record went with its run");
    }
}
