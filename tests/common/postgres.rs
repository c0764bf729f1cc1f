//! A throwaway PostgreSQL cluster for tests: `initdb` and `pg_ctl` from
//! Debian's `postgresql` package (`make test` installs it), in a temporary
//! directory, on a free loopback port, with trust authentication for the
//! user `bgwasm`. As root (CI), the server runs as the `postgres` user, since
//! `initdb` refuses root. Each step has a deadline; dropping the cluster
//! stops the server (`pg_ctl stop -m immediate`) and removes the directory.
//!
//! Tests share one cluster while any holds it ([`shared_cluster`]) and each
//! takes a fresh database ([`TestDatabase`]), so they stay independent.
//! The library's own tests include this file too (`#[path]`).
#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The superuser `initdb` creates.
pub const USER: &str = "bgwasm";
/// Deadline of `initdb`, of `pg_ctl start` and of `createdb`.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running throwaway cluster.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

/// Where the PostgreSQL programs are: `$BGWASM_PG_BIN`, or the newest
/// `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BGWASM_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: `make test` installs Debian's postgresql package")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("no /usr/lib/postgresql/*/bin/initdb: install Debian's postgresql package")
}

fn is_root() -> bool {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .expect("running id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Runs `command` to completion within `timeout`, killing it past that.
fn run_bounded(mut command: Command, what: &str, timeout: Duration) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            let output = child.wait_with_output().expect("reading a child's output");
            assert!(
                status.success(),
                "{what} failed ({status}):\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} took longer than {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("finding a free port")
        .port()
}

impl PgCluster {
    /// Creates and starts a cluster (about two seconds).
    pub fn start() -> Self {
        let bin = bin_dir();
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("bgwasm-pg-")
            .tempdir()
            .expect("creating the cluster's directory");
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("running chown");
            assert!(status.success(), "chown postgres {}", dir.path().display());
        }
        let mut cluster = Self {
            dir,
            bin,
            port: 0,
            as_postgres,
        };
        let mut initdb = cluster.command("initdb");
        initdb.arg("-D").arg(cluster.data_dir()).args([
            "-A",
            "trust",
            "-U",
            USER,
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        run_bounded(initdb, "initdb", STEP_TIMEOUT);
        // Another process may take the free port before the server binds it:
        // try a few.
        for attempt in 0.. {
            cluster.port = free_port();
            let started =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cluster.start_server()));
            match started {
                Ok(()) => break,
                Err(panic) if attempt >= 3 => std::panic::resume_unwind(panic),
                Err(_) => continue,
            }
        }
        cluster
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A PostgreSQL program, run as the `postgres` user when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// Creates a database.
    pub fn create_database(&self, name: &str) {
        let mut createdb = Command::new(self.bin.join("createdb"));
        createdb
            .args(["-h", "127.0.0.1", "-U", USER, "-p"])
            .arg(self.port.to_string())
            .arg(name);
        run_bounded(createdb, "createdb", STEP_TIMEOUT);
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// The server's directory (its log is `server.log` there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the server on `self.port` (again, after [`Self::stop`]).
    pub fn start_server(&self) {
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                self.port,
                self.dir.path().display()
            ))
            .args(["-w", "-t", "30", "start"]);
        run_bounded(start, "pg_ctl start", STEP_TIMEOUT);
    }

    /// Stops the server at once (as a crash would), within a deadline.
    pub fn stop(&self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "-t", "20", "stop"]);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_bounded(stop, "pg_ctl stop", Duration::from_secs(30))
        }));
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The cluster the tests of this process share, started by the first test
/// that needs it and stopped when the last holder drops it.
pub fn shared_cluster() -> Arc<PgCluster> {
    static SHARED: Mutex<Weak<PgCluster>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(cluster) = shared.upgrade() {
        return cluster;
    }
    let cluster = Arc::new(PgCluster::start());
    *shared = Arc::downgrade(&cluster);
    cluster
}

/// A fresh database of the shared cluster; it keeps the cluster running.
pub struct TestDatabase {
    pub cluster: Arc<PgCluster>,
    pub name: String,
}

impl TestDatabase {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let cluster = shared_cluster();
        let name = format!("test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        cluster.create_database(&name);
        Self { cluster, name }
    }

    /// `postgres://bgwasm@127.0.0.1:PORT/test_N`.
    pub fn url(&self) -> String {
        self.cluster.url(&self.name)
    }
}

/// A connection of the caller's own to the database at `url` (driven by a
/// spawned task until the client is dropped).
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let config: tokio_postgres::Config = url.parse().expect("a PostgreSQL URL");
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connecting to the test database");
    tokio::spawn(connection);
    client
}
