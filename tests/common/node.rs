//! A `bgwasm serve` node on a shared store, for the tests of several nodes:
//! its own API and metrics ports, its log in a file, signals (pause with
//! `-STOP`, `-CONT`, `-KILL`), and killed when dropped. A test includes it
//! after `mod common;`, as `#[path = "common/node.rs"] mod node;`.
#![allow(dead_code)]

use super::common;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `bgwasm serve` node; killed (and continued first, if paused) when
/// dropped, so a failing test leaves none behind.
pub struct Node {
    pub name: &'static str,
    pub child: Child,
    log: PathBuf,
    /// The API's and the metrics' addresses.
    pub api: SocketAddr,
    pub metrics: SocketAddr,
}

impl Node {
    /// Starts node `name` on `store`, logging to `dir/NAME.log`, with a
    /// lease ttl of 1 s, a grace of 5 s and `extra` flags (`--interval`,
    /// ...; not those set here).
    pub fn start(name: &'static str, store: &str, dir: &Path, extra: &[&str]) -> Self {
        let free = || {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
        };
        let (api, metrics) = (free(), free());
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_bgwasm"))
            .arg("serve")
            .args(["--store", store, "--node-id", name, "--lease-ttl", "1s"])
            .args(["--listen", &api.to_string()])
            .args(["--metrics-listen", &metrics.to_string()])
            .args(extra)
            .args(["--grace", "5"])
            .env("BGWASM_CACHE_DIR", common::cache_dir())
            .env("OPERATOR_PASS", "lease e2e operator")
            .env("RUST_LOG", "info")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting bgwasm serve");
        Self {
            name,
            child,
            log,
            api,
            metrics,
        }
    }

    /// `GET path` on `addr`, as text.
    pub async fn get(&self, addr: SocketAddr, path: &str) -> String {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let response = http
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} answers {path}: {e}", self.name));
        response.text().await.unwrap()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {}", self.name);
    }

    /// SIGTERM, then wait (bounded) for a graceful exit.
    pub fn stop(mut self) {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}:\n{}", self.logs());
                return;
            }
            assert!(Instant::now() < deadline, "{} did not stop", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
