//! A `bgwasm serve` node on a free loopback port, for the tests and the
//! benchmark that run several nodes on one database: its stderr appended to
//! `NAME.log` (so a restarted node keeps one log), killed (SIGKILL) when
//! dropped so a failing test leaves none behind. Included with `#[path]`.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a node may take to answer `/healthz`, and to stop.
const DEADLINE: Duration = Duration::from_secs(60);

/// Milliseconds since the epoch, as the store's timestamps are.
pub fn epoch_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

pub struct ServeNode {
    child: Child,
    pub name: String,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

impl ServeNode {
    /// Starts `bgwasm serve --listen ADDR ARGS...` with `env` (and no
    /// `DATABASE_URL` or `IDENTITY` of the caller's), and waits until it
    /// answers `/healthz`.
    pub async fn start(name: &str, log_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("finding a free port");
        let log = log_dir.join(format!("{name}.log"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("opening the node's log");
        let child = Command::new(env!("CARGO_BIN_EXE_bgwasm"))
            .args(["serve", "--listen", &addr.to_string()])
            .args(args)
            .envs(env.iter().copied())
            .env_remove("DATABASE_URL")
            .env_remove("IDENTITY")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("starting bgwasm serve");
        let node = Self {
            child,
            name: name.to_owned(),
            addr,
            log,
        };
        node.wait_until_up().await;
        node
    }

    async fn wait_until_up(&self) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let deadline = Instant::now() + DEADLINE;
        while !http
            .get(format!("http://{}/healthz", self.addr))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
        {
            assert!(
                Instant::now() < deadline,
                "node {} did not come up:\n{}",
                self.name,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`.
    pub fn kill(mut self) {
        self.child.kill().expect("killing a node");
        self.child.wait().expect("waiting for a killed node");
    }

    /// SIGTERM, then waits (bounded) for it to exit successfully.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "node {} exited with {status}:\n{}",
                    self.name,
                    self.logs()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not stop:\n{}",
                self.name,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServeNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
