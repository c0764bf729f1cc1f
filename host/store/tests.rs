//! The store conformance suite: the same tests, with the same assertions,
//! against both backends: SQLite in a temporary data directory, and
//! PostgreSQL in a fresh database of a throwaway cluster
//! (`tests/common/postgres.rs`). Then what only one backend has: schema
//! versions and stored values that do not parse, checked with its own SQL.

use super::*;
use crate::sandbox::{CellChange, ErrorKind, RunError, RunOutcome};
use crate::throwaway_postgres;
use std::path::Path;

const SPACE: &str = "did:key:z6MkSpaceA";

fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir).expect("open store")
}

/// A backend under test: a fresh store, which can be opened again (as a
/// restarted daemon would).
trait Backend: Sized {
    async fn fresh() -> Self;
    async fn open(&self) -> Arc<dyn Store>;
}

struct Sqlite(tempfile::TempDir);

impl Backend for Sqlite {
    async fn fresh() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(open(self.0.path()))
    }
}

struct Postgres(throwaway_postgres::TestDatabase);

impl Postgres {
    async fn connect(&self) -> PostgresStore {
        let url: StoreUrl = self.0.url().parse().unwrap();
        url.open_postgres()
            .await
            .expect("open the PostgreSQL store")
    }

    /// Runs SQL of the test's own on the database, on a connection of its own.
    async fn sql(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        let config: tokio_postgres::Config = self.0.url().parse().unwrap();
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        let driver = tokio::spawn(connection);
        let rows = client.query(sql, &[]).await.unwrap();
        drop(client);
        let _ = driver.await;
        rows
    }
}

impl Backend for Postgres {
    async fn fresh() -> Self {
        Self(
            tokio::task::spawn_blocking(throwaway_postgres::TestDatabase::new)
                .await
                .unwrap(),
        )
    }

    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(self.connect().await)
    }
}

/// Runs each listed test (an `async fn(B)` generic over the backend) against
/// both backends, as `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test::<super::Sqlite>().await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test::<super::Postgres>().await
                }
            )*
        }
    };
}

on_both_backends!(
    pieces_are_content_addressed_and_idempotent,
    registering_needs_the_piece_and_again_reinitializes,
    a_successful_run_commits_its_cells_and_a_failed_one_does_not,
    run_history_keeps_the_newest_fifty,
    an_unregistered_piece_is_not_resurrected_by_its_last_run,
    claims_are_exclusive_filtered_and_released_by_their_commit,
    a_restart_releases_orphaned_claims_and_reports_overdue_pieces,
    concurrent_claims_never_take_a_registration_twice,
    a_group_commit_applies_its_runs_in_order_as_single_commits_would,
    run_records_are_kept_and_pruned_with_their_runs,
    registrations_are_counted_by_phase_as_the_listing_says,
    registrations_come_in_pages_with_their_total,
    run_times_are_the_newest_runs_in_brief,
);

fn outcome(ok: bool) -> RunOutcome {
    RunOutcome {
        ok,
        value: None,
        error: (!ok).then(|| RunError {
            kind: ErrorKind::JsError,
            message: "boom".into(),
            stack: None,
        }),
        duration_ms: 3,
        fuel_used: 7,
        memory_peak_bytes: 0,
        logs: vec![],
        cell_writes: vec!["a".into()],
        fetches: vec![],
    }
}

fn set(key: &str, json: &str) -> CellChange {
    CellChange {
        key: key.into(),
        value: Some(json.into()),
    }
}

/// A transition that records the outcome the way a test can recognise.
fn mark(status: &'static str) -> RunTransition {
    Box::new(move |state| RegistrationState {
        status: status.to_owned(),
        ..state.clone()
    })
}

async fn piece(store: &dyn Store, source: &str) -> RegistrationKey {
    let added = store
        .add_piece(SPACE, None, source.into(), 1)
        .await
        .unwrap();
    RegistrationKey::new(SPACE, added.info.id)
}

fn finished(
    key: &RegistrationKey,
    ok: bool,
    changes: Vec<CellChange>,
    claim: Option<ClaimToken>,
) -> FinishedRun {
    FinishedRun {
        lease: None,
        key: key.clone(),
        trigger: RunTrigger::Scheduled,
        claim,
        started_at: 10,
        finished_at: 20,
        outcome: outcome(ok),
        cell_changes: changes,
        record: None,
    }
}

async fn pieces_are_content_addressed_and_idempotent<B: Backend>() {
    let backend = B::fresh().await;
    let store = backend.open().await;
    let first = store.add_piece(SPACE, None, "a".into(), 1).await.unwrap();
    assert!(first.created);
    assert_eq!(first.info.id, PieceId::for_source("a"));
    let again = store.add_piece(SPACE, None, "a".into(), 2).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.info, first.info);

    let named = PieceId::parse("mine").unwrap();
    store
        .add_piece(SPACE, Some(named.clone()), "one".into(), 3)
        .await
        .unwrap();
    let taken = store
        .add_piece(SPACE, Some(named.clone()), "two".into(), 4)
        .await;
    assert!(
        matches!(taken, Err(StoreError::PieceIdTaken { .. })),
        "{taken:?}"
    );

    let replaced = store
        .replace_piece(SPACE, &named, "two".into(), 5)
        .await
        .unwrap();
    assert_eq!(
        (replaced.hash, replaced.updated_at, replaced.created_at),
        (source_hash("two"), 5, 3)
    );
    let stored = store.get_piece(SPACE, &named).await.unwrap().unwrap();
    assert_eq!(&*stored.source, "two");
    let missing = store
        .replace_piece("did:key:zOther", &named, "x".into(), 6)
        .await;
    assert!(matches!(missing, Err(StoreError::PieceNotFound { .. })));
}

async fn registering_needs_the_piece_and_again_reinitializes<B: Backend>() {
    let backend = B::fresh().await;
    let store = backend.open().await;
    let unknown = RegistrationKey::new(SPACE, PieceId::parse("nope").unwrap());
    assert!(matches!(
        store.register(&unknown, "rss", 1).await,
        Err(StoreError::PieceNotFound { .. })
    ));

    let key = piece(&*store, "src").await;
    let created = store.register(&key, "rss", 100).await.unwrap();
    assert_eq!(created.state.status, STATUS_INITIALIZING);
    assert_eq!(
        (created.state.next_run, created.state.phase),
        (100, Phase::Scheduled)
    );

    let disabled = store.disable(&key, 150).await.unwrap();
    assert_eq!(
        (disabled.state.phase, disabled.state.disabled_at),
        (Phase::Disabled, 150)
    );
    assert_eq!(disabled.state.status, STATUS_DISABLED_VIA_UI);

    let again = store.register(&key, "gmail", 200).await.unwrap();
    assert_eq!(again.state.status, STATUS_REINITIALIZING);
    assert_eq!(
        (
            again.state.disabled_at,
            again.state.next_run,
            again.created_at
        ),
        (0, 200, 100)
    );
    assert_eq!(again.integration, "gmail");
    assert_eq!(store.get_registration(&key).await.unwrap().unwrap(), again);

    assert!(store.unregister(&key).await.unwrap());
    assert!(!store.unregister(&key).await.unwrap());
    assert!(matches!(
        store.enable(&key, 300).await,
        Err(StoreError::NotRegistered { .. })
    ));
}

async fn a_successful_run_commits_its_cells_and_a_failed_one_does_not<B: Backend>() {
    let backend = B::fresh().await;
    let store = backend.open().await;
    let key = piece(&*store, "src").await;
    store.register(&key, "rss", 1).await.unwrap();

    let ok = store
        .commit_run(
            finished(&key, true, vec![set("a", "1"), set("b", "\"x\"")], None),
            mark("after ok"),
        )
        .await
        .unwrap();
    assert!(ok.cells_applied);
    assert_eq!(ok.registration.unwrap().state.status, "after ok");

    let delete_a = CellChange {
        key: "a".into(),
        value: None,
    };
    let failed = store
        .commit_run(
            finished(
                &key,
                false,
                vec![delete_a, set("b", "2"), set("c", "3")],
                None,
            ),
            mark("after fail"),
        )
        .await
        .unwrap();
    assert!(!failed.cells_applied);
    assert_eq!(
        store.list_cells(SPACE).await.unwrap(),
        vec![
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "\"x\"".to_owned())
        ]
    );
    assert_eq!(
        store.get_cell(SPACE, "b").await.unwrap().as_deref(),
        Some("\"x\"")
    );
    assert_eq!(store.get_cell(SPACE, "c").await.unwrap(), None);
    let cells = store.cell_source(SPACE);
    assert_eq!(cells.keys().unwrap(), vec!["a", "b"]);
    assert_eq!(cells.get("a").unwrap().as_deref(), Some("1"));

    let runs = store.recent_runs(SPACE, &key.piece_id, 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert!(!runs[0].outcome.ok && runs[1].outcome.ok, "newest first");
}

async fn run_history_keeps_the_newest_fifty<B: Backend>() {
    let backend = B::fresh().await;
    let store = backend.open().await;
    let key = piece(&*store, "src").await;
    let mut last = 0;
    for _ in 0..(RUN_HISTORY_PER_PIECE + 7) {
        last = store
            .commit_run(finished(&key, true, vec![], None), mark("x"))
            .await
            .unwrap()
            .run_id;
    }
    let runs = store.recent_runs(SPACE, &key.piece_id, 1000).await.unwrap();
    assert_eq!(runs.len(), RUN_HISTORY_PER_PIECE);
    assert_eq!(runs[0].id, last);
    assert_eq!(
        runs.last().unwrap().id,
        last - RUN_HISTORY_PER_PIECE as i64 + 1
    );
}

async fn an_unregistered_piece_is_not_resurrected_by_its_last_run<B: Backend>() {
    let backend = B::fresh().await;
    let store = backend.open().await;
    let key = piece(&*store, "src").await;
    store.register(&key, "rss", 1).await.unwrap();
    let claimed = store
        .claim_due(5, &IntegrationFilter::all(), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(store.unregister(&key).await.unwrap());

    let committed = store
        .commit_run(
            finished(&key, true, vec![set("a", "1")], Some(claimed[0].claim)),
            mark("x"),
        )
        .await
        .unwrap();
    assert!(committed.registration.is_none());
    assert!(store.get_registration(&key).await.unwrap().is_none());
    assert_eq!(
        store
            .recent_runs(SPACE, &key.piece_id, 5)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn claims_are_exclusive_filtered_and_released_by_their_commit<B: Backend>() {
    let backend = B::fresh().await;
    let store = backend.open().await;
    let rss = piece(&*store, "rss piece").await;
    let gmail = piece(&*store, "gmail piece").await;
    store.register(&rss, "rss", 1).await.unwrap();
    store.register(&gmail, "gmail", 1).await.unwrap();

    let only_rss = IntegrationFilter::only(["rss"]);
    assert_eq!(store.next_due(&only_rss).await.unwrap(), Some(1));
    assert!(
        store.claim_due(0, &only_rss, 10).await.unwrap().is_empty(),
        "not due yet"
    );
    let claimed = store.claim_due(5, &only_rss, 10).await.unwrap();
    assert_eq!(
        claimed.iter().map(|c| &c.key).collect::<Vec<_>>(),
        vec![&rss]
    );
    assert!(
        store.claim_due(6, &only_rss, 10).await.unwrap().is_empty(),
        "claimed once only"
    );
    assert_eq!(store.next_due(&only_rss).await.unwrap(), None);

    // Disabling while dispatched leaves the phase to the run's commit.
    let disabled = store.disable(&rss, 7).await.unwrap();
    assert_eq!(disabled.state.phase, Phase::Dispatched);
    let committed = store
        .commit_run(
            finished(&rss, true, vec![], Some(claimed[0].claim)),
            mark("x"),
        )
        .await
        .unwrap();
    let after = committed.registration.unwrap().state;
    assert_eq!((after.phase, after.claimed_at), (Phase::Disabled, None));

    let filter = RegistrationFilter {
        space: Some(SPACE.into()),
        integrations: IntegrationFilter::only(["gmail"]),
    };
    let listed = store.list_registrations(&filter).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].piece_id, gmail.piece_id);
    assert_eq!(
        store
            .list_registrations(&RegistrationFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn a_restart_releases_orphaned_claims_and_reports_overdue_pieces<B: Backend>() {
    let backend = B::fresh().await;
    let key = {
        let store = backend.open().await;
        let key = piece(&*store, "src").await;
        store.register(&key, "rss", 1).await.unwrap();
        assert_eq!(
            store
                .claim_due(5, &IntegrationFilter::all(), 10)
                .await
                .unwrap()
                .len(),
            1
        );
        key
        // Dropped with the claim held: as if killed mid-run.
    };
    let store = backend.open().await;
    let overdue = store
        .recover_after_restart(1_000, &IntegrationFilter::all())
        .await
        .unwrap();
    assert_eq!(overdue, vec![key.clone()]);
    let registration = store.get_registration(&key).await.unwrap().unwrap();
    assert_eq!(
        (registration.state.phase, registration.state.claimed_at),
        (Phase::Scheduled, None)
    );
    store.reschedule(vec![(key.clone(), 1_500)]).await.unwrap();
    assert_eq!(
        store.next_due(&IntegrationFilter::all()).await.unwrap(),
        Some(1_500)
    );
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (
            counts.pieces,
            counts.registrations,
            counts.enabled,
            counts.dispatched
        ),
        (1, 1, 1, 0)
    );
}

#[tokio::test]
async fn the_schema_version_is_recorded_and_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, super::sqlite::SCHEMA_VERSION);
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(store);
    let refused = SqliteStore::open(dir.path());
    assert!(matches!(
        refused,
        Err(StoreError::NewerSchema { found: 99, .. })
    ));
}

/// Listing registrations after a piece id was set to `a/b` behind bgwasm's
/// back fails, naming the column, the value and what the store was doing.
async fn assert_listing_names_the_bad_piece_id(store: &dyn Store) {
    let error = store
        .list_registrations(&RegistrationFilter::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("column piece_id"), "{error}");
    assert!(error.contains("a/b"), "{error}");
    assert!(error.contains("listing registrations"), "{error}");
}

#[tokio::test]
async fn a_stored_value_that_does_not_parse_is_an_error_naming_its_column() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let key = piece(&store, "export default 1").await;
    store.register(&key, "rss", 1).await.unwrap();
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    // The CHECK constraint guards `phase`; a piece id has no constraint.
    conn.execute("UPDATE registrations SET piece_id = 'a/b'", [])
        .unwrap();
    assert_listing_names_the_bad_piece_id(&store).await;
}

async fn concurrent_claims_never_take_a_registration_twice<B: Backend>() {
    let backend = B::fresh().await;
    let store = backend.open().await;
    let mut keys = Vec::new();
    for n in 0..40 {
        let key = piece(&*store, &format!("piece {n}")).await;
        store.register(&key, "rss", 1).await.unwrap();
        keys.push(key);
    }
    // Two stores on the same data, as two daemons, claiming at once.
    let other = backend.open().await;
    let claims = (0..8).map(|n| {
        let store = if n % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tokio::spawn(async move { store.claim_due(5, &IntegrationFilter::all(), 7).await })
    });
    let mut claimed: Vec<RegistrationKey> = Vec::new();
    for claim in claims {
        claimed.extend(claim.await.unwrap().unwrap().into_iter().map(|c| c.key));
    }
    claimed.sort();
    let before = claimed.len();
    claimed.dedup();
    assert_eq!(before, claimed.len(), "a registration was claimed twice");
    keys.sort();
    assert_eq!(claimed, keys, "8 claims of 7 take all 40");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_records_its_schema_version_and_refuses_a_newer_one() {
    let backend = Postgres::fresh().await;
    drop(backend.connect().await);
    let version: i64 = backend.sql("SELECT max(version) FROM bgwasm_schema").await[0].get(0);
    assert_eq!(version, super::postgres::SCHEMA_VERSION);
    backend
        .sql("INSERT INTO bgwasm_schema (version) VALUES (99)")
        .await;
    let url: StoreUrl = backend.0.url().parse().unwrap();
    let refused = url.open_postgres().await;
    assert!(
        matches!(
            refused,
            Err(StoreError::NewerPostgresSchema { found: 99, .. })
        ),
        "{:?}",
        refused.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_starting_together_migrate_once() {
    let backend = Postgres::fresh().await;
    let url: StoreUrl = backend.0.url().parse().unwrap();
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { url.open_postgres().await })
        })
        .collect();
    for open in opens {
        open.await.unwrap().expect("every node opens the store");
    }
    let rows = backend
        .sql("SELECT count(*), max(version) FROM bgwasm_schema")
        .await;
    let (count, version): (i64, i64) = (rows[0].get(0), rows[0].get(1));
    assert_eq!(
        (count, version),
        (
            super::postgres::SCHEMA_VERSION,
            super::postgres::SCHEMA_VERSION
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_value_that_does_not_parse_is_an_error_naming_its_column() {
    let backend = Postgres::fresh().await;
    let store = backend.open().await;
    let key = piece(&*store, "export default 1").await;
    store.register(&key, "rss", 1).await.unwrap();
    backend
        .sql("UPDATE registrations SET piece_id = 'a/b'")
        .await;
    assert_listing_names_the_bad_piece_id(&*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_export_the_same_snapshot_and_postgres_imports_only_when_empty() {
    let sqlite = Sqlite::fresh().await;
    let source = open(sqlite.0.path());
    let key = piece(&source, "src").await;
    source.register(&key, "rss", 1).await.unwrap();
    source
        .commit_run(finished(&key, true, vec![set("a", "1")], None), mark("x"))
        .await
        .unwrap();
    let snapshot = source.export().await.unwrap();
    assert_eq!(
        snapshot.summary(),
        "1 pieces, 1 registrations, 1 runs, 1 cells"
    );

    let postgres = Postgres::fresh().await;
    let target = postgres.connect().await;
    target.import(&snapshot).await.unwrap();
    assert_eq!(target.export().await.unwrap(), snapshot);
    let again = target.import(&snapshot).await;
    assert!(
        matches!(again, Err(StoreError::TargetNotEmpty { .. })),
        "{again:?}"
    );
    // New runs keep counting after the copied ones.
    let next = target
        .commit_run(finished(&key, true, vec![], None), mark("y"))
        .await
        .unwrap();
    assert!(next.run_id > snapshot.runs[0].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_calls_fail_while_the_database_is_down_and_work_again_when_it_returns() {
    // A cluster of its own: this test stops it.
    let cluster = tokio::task::spawn_blocking(throwaway_postgres::PgCluster::start)
        .await
        .unwrap();
    let url = cluster.url("postgres");
    let store = url.parse::<StoreUrl>().unwrap().open().await.unwrap();
    let key = piece(&*store, "src").await;
    store.register(&key, "rss", 1).await.unwrap();

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster
    })
    .await
    .unwrap();
    let down = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        store.commit_run(finished(&key, true, vec![set("a", "1")], None), mark("x")),
    )
    .await
    .expect("a call fails within its timeouts when the database is down");
    let error = down.expect_err("no commit without a database").to_string();
    assert!(error.contains("committing a run"), "{error}");

    let _cluster = tokio::task::spawn_blocking(move || {
        cluster.start_server();
        cluster
    })
    .await
    .unwrap();
    // The pool drops the dead connections and opens new ones.
    let mut back = None;
    for _ in 0..50 {
        match store.counts().await {
            Ok(counts) => {
                back = Some(counts);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let counts = back.expect("the store works again once the database is back");
    assert_eq!(
        (counts.registrations, counts.runs, counts.cells),
        (1, 0, 0),
        "the failed commit left nothing"
    );
    store
        .commit_run(finished(&key, true, vec![set("a", "1")], None), mark("x"))
        .await
        .unwrap();
    assert_eq!(
        store.get_cell(SPACE, "a").await.unwrap().as_deref(),
        Some("1")
    );
}

/// A record as a run of `n` would leave.
fn record(n: usize) -> crate::sandbox::ReplayRecord {
    crate::sandbox::ReplayRecord {
        version: crate::sandbox::RECORD_VERSION,
        piece_id: "p".into(),
        wall_clock_ns: vec![n as u64],
        truncated: (n % 2 == 1).then(|| "a body did not fit".into()),
        ..Default::default()
    }
}

async fn a_group_commit_applies_its_runs_in_order_as_single_commits_would<B: Backend>() {
    let backend = B::fresh().await;
    let store = backend.open().await;
    let first = piece(&*store, "first").await;
    let second = piece(&*store, "second").await;
    store.register(&first, "rss", 1).await.unwrap();
    store.register(&second, "rss", 1).await.unwrap();

    let results = store
        .commit_runs(vec![
            (
                finished(&first, true, vec![set("a", "1"), set("b", "1")], None),
                mark("first ok"),
            ),
            (
                finished(&second, false, vec![set("a", "poison")], None),
                mark("second failed"),
            ),
            (
                finished(&first, true, vec![set("a", "2")], None),
                Box::new(|state: &RegistrationState| RegistrationState {
                    // Sees the state the batch's first run left.
                    status: format!("{} then ok", state.status),
                    ..state.clone()
                }),
            ),
        ])
        .await
        .unwrap();
    let results: Vec<CommittedRun> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(results.len(), 3);
    assert!(results[0].cells_applied && !results[1].cells_applied && results[2].cells_applied);
    assert!(results[0].run_id < results[1].run_id && results[1].run_id < results[2].run_id);
    assert_eq!(
        results[2].registration.as_ref().unwrap().state.status,
        "first ok then ok"
    );
    assert_eq!(
        store.list_cells(SPACE).await.unwrap(),
        vec![
            ("a".to_owned(), "2".to_owned()),
            ("b".to_owned(), "1".to_owned())
        ]
    );
    let second_state = store.get_registration(&second).await.unwrap().unwrap();
    assert_eq!(second_state.state.status, "second failed");
    assert_eq!(
        store
            .recent_runs(SPACE, &first.piece_id, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .recent_runs(SPACE, &second.piece_id, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // An empty group is a no-op.
    assert!(store.commit_runs(Vec::new()).await.unwrap().is_empty());
}

async fn run_records_are_kept_and_pruned_with_their_runs<B: Backend>() {
    let backend = B::fresh().await;
    let store = backend.open().await;
    let key = piece(&*store, "src").await;
    let mut ids = Vec::new();
    for n in 0..(RUN_HISTORY_PER_PIECE + 3) {
        let mut run = finished(&key, true, vec![], None);
        run.record = Some(Box::new(record(n)));
        ids.push(store.commit_run(run, mark("x")).await.unwrap().run_id);
    }
    let unrecorded = store
        .commit_run(finished(&key, false, vec![], None), mark("x"))
        .await
        .unwrap()
        .run_id;

    let newest = store
        .run_record(SPACE, &key.piece_id, *ids.last().unwrap())
        .await
        .unwrap()
        .expect("the newest run is kept");
    assert_eq!(newest.record, Some(record(RUN_HISTORY_PER_PIECE + 2)));
    assert_eq!(newest.run.id, *ids.last().unwrap());
    assert!(newest.record_bytes > 0);
    let without = store
        .run_record(SPACE, &key.piece_id, unrecorded)
        .await
        .unwrap()
        .expect("a run without a record is still a run");
    assert_eq!((without.record, without.record_bytes), (None, 0));
    // The oldest runs went, and their records with them.
    for pruned in &ids[..4] {
        let gone = store
            .run_record(SPACE, &key.piece_id, *pruned)
            .await
            .unwrap();
        assert!(gone.is_none(), "run {pruned} was pruned");
    }
    // Another piece's run id is not this piece's.
    let other = piece(&*store, "other").await;
    let foreign = store
        .run_record(SPACE, &other.piece_id, *ids.last().unwrap())
        .await
        .unwrap();
    assert!(foreign.is_none());
}

async fn registrations_are_counted_by_phase_as_the_listing_says<B: Backend>() {
    let backend = B::fresh().await;
    let store = backend.open().await;
    let listed = async || {
        PhaseCounts::tally(
            &store
                .list_registrations(&RegistrationFilter::default())
                .await
                .unwrap(),
        )
    };
    assert_eq!(
        store.count_by_phase().await.unwrap(),
        PhaseCounts::default()
    );
    let mut keys = Vec::new();
    for source in ["one", "two", "three", "four"] {
        let key = piece(&*store, source).await;
        store.register(&key, "rss", 1).await.unwrap();
        keys.push(key);
    }
    store.disable(&keys[0], 2).await.unwrap();
    let claimed = store
        .claim_due(5, &IntegrationFilter::all(), 2)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);

    let counts = store.count_by_phase().await.unwrap();
    assert_eq!(
        counts,
        PhaseCounts {
            scheduled: 1,
            dispatched: 2,
            disabled: 1
        }
    );
    assert_eq!(counts, listed().await);
    store.unregister(&keys[0]).await.unwrap();
    assert_eq!(store.count_by_phase().await.unwrap().disabled, 0);
    assert_eq!(store.count_by_phase().await.unwrap(), listed().await);
}

async fn registrations_come_in_pages_with_their_total<B: Backend>() {
    let backend = B::fresh().await;
    let store = backend.open().await;
    let other = "did:key:z6MkSpaceB";
    let mut keys = Vec::new();
    for (space, n) in [(SPACE, 7), (other, 3)] {
        for i in 0..n {
            let id = PieceId::parse(&format!("p{i:02}")).unwrap();
            store
                .add_piece(space, Some(id.clone()), format!("piece {i}").into(), 1)
                .await
                .unwrap();
            let key = RegistrationKey::new(space, id);
            let integration = if i % 2 == 0 { "rss" } else { "gmail" };
            store.register(&key, integration, 1).await.unwrap();
            keys.push(key);
        }
    }
    keys.sort();
    let all = RegistrationFilter::default();
    let keys_of = |page: &RegistrationPage| {
        page.registrations
            .iter()
            .map(Registration::key)
            .collect::<Vec<_>>()
    };
    let page = store.list_registrations_page(&all, 0, 4).await.unwrap();
    assert_eq!((page.total, keys_of(&page)), (10, keys[..4].to_vec()));
    let page = store.list_registrations_page(&all, 8, 4).await.unwrap();
    assert_eq!((page.total, keys_of(&page)), (10, keys[8..].to_vec()));
    let page = store.list_registrations_page(&all, 50, 4).await.unwrap();
    assert_eq!((page.total, page.registrations.len()), (10, 0));

    // Filters apply to the page and to the total alike.
    let filter = RegistrationFilter {
        space: Some(SPACE.into()),
        integrations: IntegrationFilter::only(["rss"]),
    };
    let page = store.list_registrations_page(&filter, 1, 2).await.unwrap();
    let ids: Vec<_> = page
        .registrations
        .iter()
        .map(|r| r.piece_id.as_str())
        .collect();
    assert_eq!((page.total, ids), (4, vec!["p02", "p04"]));
}

async fn run_times_are_the_newest_runs_in_brief<B: Backend>() {
    let backend = B::fresh().await;
    let store = backend.open().await;
    let key = piece(&*store, "src").await;
    let other = piece(&*store, "other src").await;
    for (i, ok) in [true, false, true, true].into_iter().enumerate() {
        let mut run = finished(&key, ok, vec![], None);
        run.finished_at = run.started_at + 5 * i as i64;
        store.commit_run(run, mark("x")).await.unwrap();
    }
    store
        .commit_run(finished(&other, false, vec![], None), mark("x"))
        .await
        .unwrap();
    let times = store
        .recent_run_times(SPACE, &key.piece_id, 3)
        .await
        .unwrap();
    let runs = store.recent_runs(SPACE, &key.piece_id, 3).await.unwrap();
    assert_eq!(times, runs.iter().map(RunTime::of).collect::<Vec<_>>());
    let brief: Vec<(u64, bool)> = times.iter().map(|t| (t.millis(), t.ok)).collect();
    assert_eq!(brief, vec![(15, true), (10, true), (5, false)]);
}

/// A group is written without a savepoint per run; when one of its runs
/// cannot be written, the group is written again one run at a time, and
/// only that run is left out: the others' history, cells and registrations
/// are committed, and the schedule in memory agrees with the database.
#[tokio::test]
async fn sqlite_a_group_commit_leaves_out_only_the_run_that_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let good = piece(&store, "good").await;
    let bad = piece(&store, "bad").await;
    store.register(&good, "rss", 1).await.unwrap();
    store.register(&bad, "rss", 1).await.unwrap();
    // Another connection makes the database refuse the bad piece's runs.
    let db = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    db.execute_batch(&format!(
        "CREATE TRIGGER refuse BEFORE INSERT ON runs WHEN NEW.piece_id = '{}'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        bad.piece_id.as_str()
    ))
    .unwrap();

    let counted = |status: &'static str| -> RunTransition {
        Box::new(move |state| RegistrationState {
            status: status.to_owned(),
            total_runs: state.total_runs + 1,
            ..state.clone()
        })
    };
    let results = store
        .commit_runs(vec![
            (
                finished(&good, true, vec![set("a", "1")], None),
                counted("one"),
            ),
            (
                finished(&bad, true, vec![set("b", "1")], None),
                counted("bad"),
            ),
            (
                finished(&good, true, vec![set("a", "2")], None),
                counted("two"),
            ),
        ])
        .await
        .unwrap();
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let refused = results[1].as_ref().unwrap_err().to_string();
    assert!(refused.contains("refused by the test"), "{refused}");
    assert_eq!(
        store.list_cells(SPACE).await.unwrap(),
        vec![("a".to_owned(), "2".to_owned())],
        "the refused run's cell write is left out with it"
    );
    assert_eq!(
        store
            .recent_runs(SPACE, &good.piece_id, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        store
            .recent_runs(SPACE, &bad.piece_id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let states = (
        store.get_registration(&good).await.unwrap().unwrap().state,
        store.get_registration(&bad).await.unwrap().unwrap().state,
    );
    assert_eq!((states.0.status.as_str(), states.0.total_runs), ("two", 2));
    assert_eq!(
        states.1.total_runs, 0,
        "the refused run left its registration as it was"
    );
    store.index_agrees().unwrap();
}

/// The SQLite store prunes a registered piece's history every 16 of its
/// runs: the table holds at most 15 runs past the newest fifty, and reads
/// still show only those fifty.
#[tokio::test]
async fn sqlite_prunes_a_registered_pieces_history_every_sixteen_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let key = piece(&store, "src").await;
    store.register(&key, "rss", 1).await.unwrap();
    let db = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    let counted: fn(&RegistrationState) -> RegistrationState = |state| RegistrationState {
        total_runs: state.total_runs + 1,
        ..state.clone()
    };
    let (mut fewest, mut most) = (usize::MAX, 0);
    let mut last = 0;
    for n in 1..=200 {
        last = store
            .commit_run(finished(&key, true, vec![], None), Box::new(counted))
            .await
            .unwrap()
            .run_id;
        let rows: i64 = db
            .query_row("SELECT count(*) FROM runs", [], |row| row.get(0))
            .unwrap();
        if n > RUN_HISTORY_PER_PIECE + 16 {
            fewest = fewest.min(rows as usize);
        }
        most = most.max(rows as usize);
    }
    assert_eq!(fewest, RUN_HISTORY_PER_PIECE, "pruned down to the newest");
    assert_eq!(
        most,
        RUN_HISTORY_PER_PIECE + 15,
        "never more than 15 past them"
    );
    let runs = store.recent_runs(SPACE, &key.piece_id, 1000).await.unwrap();
    assert_eq!(runs.len(), RUN_HISTORY_PER_PIECE);
    assert_eq!(runs[0].id, last);
}
/// Waits (bounded) until `woken` changes, and returns its new count.
async fn next_wake_up(woken: &mut tokio::sync::watch::Receiver<u64>, what: &str) -> u64 {
    tokio::time::timeout(std::time::Duration::from_secs(20), woken.changed())
        .await
        .unwrap_or_else(|_| panic!("no wake-up for {what}"))
        .expect("the listener stopped");
    *woken.borrow_and_update()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_through_one_postgres_node_wakes_the_others() {
    let backend = Postgres::fresh().await;
    let (a, b) = (backend.connect().await, backend.connect().await);
    assert!(
        Sqlite::fresh()
            .await
            .open()
            .await
            .wake_ups(&IntegrationFilter::all())
            .is_none()
    );
    let mut all = a.wake_ups(&IntegrationFilter::all()).unwrap();
    let mut gmail = a.wake_ups(&IntegrationFilter::only(["gmail"])).unwrap();
    // Each listener wakes once when it starts listening.
    assert_eq!(next_wake_up(&mut all, "listening").await, 1);
    assert_eq!(next_wake_up(&mut gmail, "listening").await, 1);

    let rss = piece(&b, "export default 1").await;
    let mail = piece(&b, "export default 2").await;
    // One at a time: a watch channel coalesces wake-ups the test has not
    // looked at yet.
    b.register(&rss, "rss", 10).await.unwrap();
    assert_eq!(next_wake_up(&mut all, "an rss registration").await, 2);
    b.register(&mail, "gmail", 10).await.unwrap();
    // Notifications arrive in order: the gmail-only listener skipped rss.
    assert_eq!(next_wake_up(&mut gmail, "a gmail registration").await, 2);
    assert_eq!(next_wake_up(&mut all, "a gmail registration").await, 3);

    // Disabling wakes nobody; enabling (due now again) does.
    b.disable(&mail, 20).await.unwrap();
    b.enable(&mail, 30).await.unwrap();
    assert_eq!(next_wake_up(&mut gmail, "enabling").await, 3);
    assert_eq!(next_wake_up(&mut all, "enabling").await, 4);
    assert!(!gmail.has_changed().unwrap() && !all.has_changed().unwrap());

    // A registration in flight (claimed) is not due again: no wake-up.
    let claimed = b
        .claim_due(40, &IntegrationFilter::only(["rss"]), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    b.register(&rss, "rss", 50).await.unwrap();
    b.register(&mail, "gmail", 60).await.unwrap();
    assert_eq!(next_wake_up(&mut all, "the gmail registration").await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_wake_up_connection_reconnects_and_wakes() {
    let backend = Postgres::fresh().await;
    let (a, b) = (backend.connect().await, backend.connect().await);
    let mut woken = a.wake_ups(&IntegrationFilter::all()).unwrap();
    assert_eq!(next_wake_up(&mut woken, "listening").await, 1);
    let terminated = backend
        .sql(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = '{}' AND application_name = 'bgwasm wake-ups'",
            backend.0.name
        ))
        .await;
    assert_eq!(terminated.len(), 1, "one listener connection");
    // Anything sent while it was away is lost: it wakes once on reconnecting.
    assert_eq!(next_wake_up(&mut woken, "reconnecting").await, 2);
    let key = piece(&b, "export default 1").await;
    b.register(&key, "rss", 10).await.unwrap();
    assert_eq!(
        next_wake_up(&mut woken, "a registration after reconnecting").await,
        3
    );

    // Dropping the receiver closes the listener's connection.
    drop(woken);
    let gone = async {
        loop {
            let left = backend
                .sql(&format!(
                    "SELECT pid FROM pg_stat_activity
                     WHERE datname = '{}' AND application_name = 'bgwasm wake-ups'",
                    backend.0.name
                ))
                .await;
            if left.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), gone)
        .await
        .expect("the listener's connection closes once nobody listens");
}

mod leases;

/// A registration's phase as the store shows it, if it exists.
async fn phase_of(store: &dyn Store, key: &RegistrationKey) -> Option<Phase> {
    store
        .get_registration(key)
        .await
        .unwrap()
        .map(|registration| registration.state.phase)
}

/// Commits a successful run of `key` under `claim`.
async fn commit_claimed(
    store: &dyn Store,
    key: &RegistrationKey,
    claim: ClaimToken,
) -> CommittedRun {
    store
        .commit_run(finished(key, true, vec![], Some(claim)), mark("x"))
        .await
        .unwrap()
}

/// The SQLite store answers claims and the next due time from memory; after
/// every kind of write it does, the index agrees with the database, and a
/// claim only memory holds shows as `dispatched` wherever the store shows
/// registrations.
#[tokio::test]
async fn sqlite_schedule_in_memory_agrees_with_the_database_after_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let agrees = |step: &str| {
        if let Err(error) = store.index_agrees() {
            panic!("after {step}: {error}");
        }
    };
    let a = piece(&store, "a").await;
    let b = piece(&store, "b").await;
    let c = piece(&store, "c").await;
    store.register(&a, "rss", 1).await.unwrap();
    store.register(&b, "rss", 2).await.unwrap();
    store.register(&c, "gmail", 3).await.unwrap();
    agrees("registering");
    assert_eq!(
        store.next_due(&IntegrationFilter::all()).await.unwrap(),
        Some(1)
    );

    let claimed = store
        .claim_due(2, &IntegrationFilter::all(), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|c| &c.key).collect::<Vec<_>>(),
        vec![&a, &b],
        "due ones, oldest first"
    );
    assert_eq!(claimed[0].source_hash, source_hash("a"));
    agrees("claiming");
    // The claim is in memory only, but shows everywhere.
    let shown = store.get_registration(&a).await.unwrap().unwrap();
    assert_eq!(
        (shown.state.phase, shown.state.claimed_at),
        (Phase::Dispatched, Some(2))
    );
    let listed = store
        .list_registrations(&RegistrationFilter::default())
        .await
        .unwrap();
    let listed_phase = |key: &RegistrationKey| {
        listed
            .iter()
            .find(|r| r.key() == *key)
            .map(|r| r.state.phase)
    };
    assert_eq!(
        [listed_phase(&a), listed_phase(&b), listed_phase(&c)],
        [
            Some(Phase::Dispatched),
            Some(Phase::Dispatched),
            Some(Phase::Scheduled)
        ]
    );
    assert_eq!(store.counts().await.unwrap().dispatched, 2);
    assert_eq!(
        store.count_by_phase().await.unwrap(),
        PhaseCounts {
            scheduled: 1,
            dispatched: 2,
            disabled: 0
        }
    );
    let page = store
        .list_registrations_page(&RegistrationFilter::default(), 0, 3)
        .await
        .unwrap();
    assert_eq!(
        page.registrations
            .iter()
            .filter(|r| r.state.phase == Phase::Dispatched)
            .count(),
        2
    );

    // Disabling a claimed one keeps it dispatched (written so now); its
    // run's commit settles it disabled, and it is never claimed.
    let disabled = store.disable(&a, 4).await.unwrap();
    assert_eq!(disabled.state.phase, Phase::Dispatched);
    agrees("disabling a claimed registration");
    commit_claimed(&store, &a, claimed[0].claim).await;
    agrees("committing a disabled one's run");
    assert_eq!(phase_of(&store, &a).await.unwrap(), Phase::Disabled);
    // Registering again while claimed keeps the run's claim.
    let again = store.register(&b, "rss", 5).await.unwrap();
    assert_eq!(again.state.phase, Phase::Dispatched);
    agrees("registering a claimed one again");
    // A claim given back makes it claimable again, due as it was.
    store.release_claim(&b, claimed[1].claim).await.unwrap();
    agrees("releasing a claim");
    assert_eq!(phase_of(&store, &b).await.unwrap(), Phase::Scheduled);
    let reclaimed = store
        .claim_due(6, &IntegrationFilter::only(["rss"]), 10)
        .await
        .unwrap();
    assert_eq!(
        reclaimed.iter().map(|c| &c.key).collect::<Vec<_>>(),
        vec![&b]
    );
    // A commit in a group: scheduled again at the transition's due time.
    let later: RunTransition = Box::new(|state| RegistrationState {
        next_run: 500,
        ..state.clone()
    });
    let results = store
        .commit_runs(vec![(
            finished(&b, true, vec![], Some(reclaimed[0].claim)),
            later,
        )])
        .await
        .unwrap();
    assert!(results[0].is_ok());
    agrees("a group commit");
    assert_eq!(
        store
            .next_due(&IntegrationFilter::only(["rss"]))
            .await
            .unwrap(),
        Some(500)
    );
    // Enabling, a new source, moving due times, unregistering.
    store.enable(&a, 7).await.unwrap();
    agrees("enabling");
    store
        .replace_piece(SPACE, &a.piece_id, "a2".into(), 8)
        .await
        .unwrap();
    agrees("replacing a source");
    store.reschedule(vec![(a.clone(), 50)]).await.unwrap();
    agrees("rescheduling");
    let claimed = store
        .claim_due(60, &IntegrationFilter::only(["rss"]), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (
            &claimed[0].key,
            claimed[0].due_at,
            claimed[0].source_hash.as_str()
        ),
        (&a, 50, source_hash("a2").as_str())
    );
    assert!(store.unregister(&a).await.unwrap());
    agrees("unregistering a claimed one");
    // Its run still commits, and does not bring it back.
    commit_claimed(&store, &a, claimed[0].claim).await;
    agrees("committing an unregistered one's run");
    assert!(store.get_registration(&a).await.unwrap().is_none());
    // Recovery releases the claims memory held for the integrations served.
    let held = store
        .claim_due(100, &IntegrationFilter::all(), 10)
        .await
        .unwrap();
    assert_eq!(held.iter().map(|c| &c.key).collect::<Vec<_>>(), vec![&c]);
    let mut overdue = store
        .recover_after_restart(1_000, &IntegrationFilter::all())
        .await
        .unwrap();
    overdue.sort();
    let mut expected = vec![b.clone(), c.clone()];
    expected.sort();
    assert_eq!(overdue, expected, "c's claim released, b due at 500");
    agrees("recovery");
    assert_eq!(store.counts().await.unwrap().dispatched, 0);
}

/// Another connection's write (another process on the same file, such as
/// `bgwasm run-once --commit`) is seen by the next claim: the schedule in
/// memory is reloaded from the database, keeping the claims it holds.
#[tokio::test]
async fn sqlite_schedule_follows_writes_by_another_connection() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = piece(&store, "a").await;
    let b = piece(&store, "b").await;
    let c = piece(&store, "c").await;
    store.register(&a, "rss", 1).await.unwrap();
    store.register(&b, "rss", 2).await.unwrap();
    store.register(&c, "rss", 2).await.unwrap();
    let held = store
        .claim_due(1, &IntegrationFilter::all(), 1)
        .await
        .unwrap();
    assert_eq!(held[0].key, a);
    let db = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    db.execute(
        "UPDATE registrations SET phase = 'disabled', disabled_at = 2 WHERE piece_id = ?1",
        [b.piece_id.as_str()],
    )
    .unwrap();
    db.execute(
        "UPDATE registrations SET next_run = 40 WHERE piece_id = ?1",
        [c.piece_id.as_str()],
    )
    .unwrap();
    assert_eq!(
        store.next_due(&IntegrationFilter::all()).await.unwrap(),
        Some(40)
    );
    assert!(
        store
            .claim_due(10, &IntegrationFilter::all(), 10)
            .await
            .unwrap()
            .is_empty(),
        "the disabled one is not claimed, nor the one moved later"
    );
    store.index_agrees().unwrap();
    // The claim held before the reload still owns its registration.
    assert_eq!(phase_of(&store, &a).await.unwrap(), Phase::Dispatched);
    let committed = commit_claimed(&store, &a, held[0].claim).await;
    assert_eq!(
        committed.registration.unwrap().state.phase,
        Phase::Scheduled
    );
}

/// Claims live in one process's memory, so a second process scheduling the
/// same database is refused at its first claim, naming the lock and the fix;
/// stores of one process share the schedule, and reopening after the last
/// one is dropped (a restart) takes the lock again.
#[tokio::test]
async fn sqlite_refuses_a_second_scheduler_of_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let lock_path = {
        let mut path = std::fs::canonicalize(store.path())
            .unwrap()
            .into_os_string();
        path.push(".schedule-lock");
        std::path::PathBuf::from(path)
    };
    let key = piece(&store, "a").await;
    store.register(&key, "rss", 1).await.unwrap();
    // Another process's lock (a lock of its own open file behaves alike).
    let other = std::fs::File::create(&lock_path).unwrap();
    other.lock().unwrap();
    let error = store
        .claim_due(5, &IntegrationFilter::all(), 10)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::ScheduleLocked { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("schedule-lock"), "{message}");
    assert!(
        message.contains("one daemon per data directory"),
        "{message}"
    );
    // A starting scheduler is refused at its recovery, before it releases
    // or moves anything.
    let error = store
        .recover_after_restart(5, &IntegrationFilter::all())
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::ScheduleLocked { .. }),
        "{error}"
    );
    other.unlock().unwrap();
    drop(other);
    let claimed = store
        .claim_due(5, &IntegrationFilter::all(), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // A second store of this process shares the schedule and its claims.
    let same = open(dir.path());
    assert!(
        same.claim_due(6, &IntegrationFilter::all(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    drop((store, same));
    // Reopened (a restart): no claim survives; the lock is free to take.
    let store = open(dir.path());
    let overdue = store
        .recover_after_restart(10, &IntegrationFilter::all())
        .await
        .unwrap();
    assert_eq!(overdue, vec![key]);
    let blocked = std::fs::File::options()
        .write(true)
        .open(&lock_path)
        .unwrap();
    assert_eq!(
        store
            .claim_due(11, &IntegrationFilter::all(), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        matches!(blocked.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        "the store holds the lock while it lives"
    );
}
