//! The store on PostgreSQL end to end, with the real binary: a daemon's
//! SQLite data directory is copied into a throwaway PostgreSQL cluster by
//! `bgwasm store migrate`, everything round-trips, and `bgwasm serve` and
//! `bgwasm run-once` carry on from there with `--store postgres://...`.

mod common;
#[path = "common/postgres.rs"]
mod throwaway_postgres;

use bgwasm::store::{Phase, RegistrationKey, STATUS_DISABLED_VIA_UI, SqliteStore, Store, StoreUrl};
use common::{bgwasm, fixture_path};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use throwaway_postgres::TestDatabase;

/// A `bgwasm serve` process; killed when dropped, so a failing test leaves
/// none behind.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(store_flags: &[&str], log: PathBuf) -> Self {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_bgwasm"))
            .arg("serve")
            .args(store_flags)
            .args(["--listen", &addr.to_string(), "--interval", "100ms"])
            .args(["--max-failures", "2", "--grace", "5"])
            .env("BGWASM_CACHE_DIR", common::cache_dir())
            .env("OPERATOR_PASS", "store e2e operator")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting bgwasm serve");
        Self { child, log }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait (bounded) for a graceful exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}:\n{}", self.logs());
                return;
            }
            assert!(Instant::now() < deadline, "the daemon did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn space(name: &str) -> String {
    bgwasm::identity::space_did_for_name(name, "common user").to_string()
}

async fn add(store: &dyn Store, space: &str, fixture: &str) -> RegistrationKey {
    let source = std::fs::read_to_string(fixture_path(fixture)).unwrap();
    let added = store
        .add_piece(space, None, source.into(), 0)
        .await
        .unwrap();
    let key = RegistrationKey::new(space, added.info.id);
    store.register(&key, "e2e", 0).await.unwrap();
    key
}

/// Polls `check` until it holds, for at most `timeout`.
async fn wait_for(what: &str, timeout: Duration, daemon: &Daemon, check: impl AsyncFn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            daemon.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count(cell: Option<String>) -> u64 {
    cell.map_or(0, |json| json.parse().unwrap())
}

fn run(args: &[&str]) -> (i32, String, String) {
    let output = bgwasm(args);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn migrate(from: &str, to: &str) -> (i32, String, String) {
    run(&["store", "migrate", "--from", from, "--to", to])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_daemon_moves_to_postgres_with_everything_and_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (alice, bob, carol) = (space("alice"), space("bob"), space("carol"));

    // A real daemon's data: a counter, a piece that fails until disabled, and
    // one a user disabled.
    let (counter, failing, paused) = {
        let store = SqliteStore::open(&data_dir).unwrap();
        let counter = add(&store, &alice, "sync_counter.js").await;
        let failing = add(&store, &bob, "throws.js").await;
        let paused = add(&store, &carol, "sync_counter.js").await;
        store.disable(&paused, 1).await.unwrap();
        (counter, failing, paused)
    };
    let sqlite_url = format!("sqlite://{}", data_dir.display());
    let daemon = Daemon::start(&["--store", &sqlite_url], dir.path().join("sqlite.log"));
    let reader = SqliteStore::open(&data_dir).unwrap();
    wait_for(
        "three counted runs and a disabled failure",
        Duration::from_secs(60),
        &daemon,
        async || {
            let failed = reader.get_registration(&failing).await.unwrap().unwrap();
            count(reader.get_cell(&alice, "count").await.unwrap()) >= 3
                && failed.state.phase == Phase::Disabled
        },
    )
    .await;
    daemon.stop();

    let database = tokio::task::spawn_blocking(TestDatabase::new)
        .await
        .unwrap();
    let postgres_url = database.url();
    let (code, stdout, stderr) = migrate(&sqlite_url, &postgres_url);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("copied 3 pieces, 3 registrations"),
        "{stdout}"
    );

    // Everything round-trips, row for row.
    let migrated = SqliteStore::open(&data_dir)
        .unwrap()
        .export()
        .await
        .unwrap();
    let postgres_store = postgres_url.parse::<StoreUrl>().unwrap();
    let postgres = postgres_store.open_postgres().await.unwrap();
    let copy = postgres.export().await.unwrap();
    assert_eq!(copy, migrated);
    let failed = postgres.get_registration(&failing).await.unwrap().unwrap();
    assert_eq!(
        (
            failed.state.phase,
            failed.state.consecutive_failures,
            failed.state.total_failures
        ),
        (Phase::Disabled, 2, 2)
    );
    let disabled = postgres.get_registration(&paused).await.unwrap().unwrap();
    assert_eq!(
        (disabled.state.phase, disabled.state.status.as_str()),
        (Phase::Disabled, STATUS_DISABLED_VIA_UI)
    );
    let counted = count(postgres.get_cell(&alice, "count").await.unwrap());
    let registration = postgres.get_registration(&counter).await.unwrap().unwrap();
    assert_eq!(
        counted, registration.state.total_runs,
        "one count per successful run"
    );
    assert_eq!(
        postgres
            .recent_runs(&alice, &counter.piece_id, 100)
            .await
            .unwrap()
            .len() as u64,
        counted
    );

    // A second copy into the same database is refused, and nothing changes.
    let (code, _, stderr) = migrate(&sqlite_url, &postgres_url);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("already holds data"), "{stderr}");
    assert_eq!(postgres.export().await.unwrap(), migrated);

    // A daemon on PostgreSQL carries on counting where SQLite stopped.
    let daemon = Daemon::start(&["--store", &postgres_url], dir.path().join("pg.log"));
    wait_for(
        "the counter to go on",
        Duration::from_secs(60),
        &daemon,
        async || count(postgres.get_cell(&alice, "count").await.unwrap()) >= counted + 3,
    )
    .await;
    daemon.stop();
    let after_serve = count(postgres.get_cell(&alice, "count").await.unwrap());

    // run-once on the stored piece commits to PostgreSQL too.
    let (code, stdout, stderr) = run(&[
        "run-once",
        counter.piece_id.as_str(),
        "--store",
        &postgres_url,
        "--space",
        "alice",
        "--commit",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("committed: run"), "{stdout}");
    assert_eq!(
        count(postgres.get_cell(&alice, "count").await.unwrap()),
        after_serve + 1
    );
    // The disabled pieces stayed disabled on PostgreSQL.
    for key in [&failing, &paused] {
        let state = postgres.get_registration(key).await.unwrap().unwrap().state;
        assert_eq!(state.phase, Phase::Disabled, "{key}");
    }
}

#[test]
fn a_bad_store_url_is_refused_naming_it_without_its_password() {
    let (code, _, stderr) = migrate("mysql://root:hunter2@db/x", "postgres://u@127.0.0.1:1/x");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--from: the store URL mysql://root:***@db/x"),
        "{stderr}"
    );
    assert!(stderr.contains("sqlite:///path"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let (code, _, stderr) = run(&[
        "run-once",
        "abc",
        "--store",
        "postgres://ann:hunter2@db:notaport/x",
        "--space",
        "alice",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("postgres://ann:***@db:notaport/x"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn migrating_into_sqlite_is_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = migrate(
        "postgres://u@127.0.0.1:1/x",
        &format!("sqlite://{}", dir.path().display()),
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("only a PostgreSQL store"), "{stderr}");
    assert!(!Path::new(&dir.path().join("bgwasm.sqlite3")).exists());
}
