//! The web dashboard in real headless Chromium, end to end: the real daemon,
//! a failing piece added with the real CLI, a login URL from
//! `bgwasm dashboard`, and `tests/dashboard/e2e.mjs` (playwright-core driving
//! Debian's /usr/bin/chromium) logging in, seeing the error, pressing
//! "Run now" and seeing the new run appear. `make test` installs Chromium
//! and playwright-core; without them this test fails saying so.
//!
//! `BGWASM_DASHBOARD_SCREENSHOTS=DIR` keeps the screenshots in DIR.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const OPERATOR_PASS: &str = "dashboard e2e operator";
const CHROMIUM: &str = "/usr/bin/chromium";
const ERROR: &str = "the feed is gone";

/// A child process, killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn playwright_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/playwright")
}

/// Fails, saying how to install it, when something the test needs is missing.
fn require_browser_tools() {
    let how = "`make test` installs it (Debian's chromium package, and playwright-core \
               into target/playwright with scripts/install-playwright.sh)";
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing; {how}, or run `apt-get install -y chromium`"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing; install Node.js (Debian: `apt-get install -y nodejs npm`)"
    );
    assert!(
        playwright_dir()
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core is missing from {}; {how}",
        playwright_dir().display()
    );
}

/// The CLI against the daemon at `api_url`, signing as the operator by default.
fn cli(api_url: &str, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_bgwasm"))
        .args(args)
        .env("API_URL", api_url)
        .env("OPERATOR_PASS", OPERATOR_PASS)
        .output()
        .expect("running the bgwasm CLI");
    assert!(
        output.status.success(),
        "bgwasm {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn start_daemon(data_dir: &Path) -> (Killed, String) {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let log = std::fs::File::create(data_dir.join("daemon.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_bgwasm"))
        .args(["serve", "--data-dir"])
        .arg(data_dir.join("data"))
        .args(["--listen", &addr.to_string(), "--interval", "1s"])
        .env("BGWASM_CACHE_DIR", common::cache_dir())
        .env("OPERATOR_PASS", OPERATOR_PASS)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting bgwasm serve");
    let daemon = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    (daemon, format!("http://{addr}"))
}

/// Waits until the piece has failed at least once.
fn wait_for_a_failure(api_url: &str, piece: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let output = cli(api_url, &["status", "--space", "alice", "--json"]);
        let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let failed =
            rows.as_array().unwrap().iter().any(|row| {
                row["pieceId"] == piece && row["totalFailures"].as_u64().unwrap_or(0) > 0
            });
        if failed {
            return;
        }
        assert!(Instant::now() < deadline, "{piece} never ran: {rows}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_dashboard_in_headless_chromium() {
    require_browser_tools();
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, api_url) = start_daemon(dir.path());

    let failing = dir.path().join("failing.js");
    std::fs::write(
        &failing,
        format!(
            "export function bgUpdater() {{\n  console.log(\"fetching the feed\");\n  \
             throw new Error(\"{ERROR}\");\n}}\n"
        ),
    )
    .unwrap();
    let counter = common::fixture_path("sync_counter.js");
    for (file, id) in [
        (failing.as_path(), "failing"),
        (counter.as_path(), "counter"),
    ] {
        let file = file.to_str().unwrap();
        cli(
            &api_url,
            &[
                "piece",
                "add",
                file,
                "--space",
                "alice",
                "--id",
                id,
                "--register",
            ],
        );
    }
    wait_for_a_failure(&api_url, "failing");

    let login = cli(&api_url, &["dashboard"]);
    let url = String::from_utf8(login.stdout).unwrap().trim().to_owned();
    assert!(
        url.starts_with(&format!("{api_url}/dashboard/login/")),
        "{url}"
    );
    let note = String::from_utf8_lossy(&login.stderr);
    assert!(note.contains("every space"), "{note}");

    let shots = std::env::var_os("BGWASM_DASHBOARD_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("shots"));
    std::fs::create_dir_all(&shots).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard/e2e.mjs");
    let node = Command::new("node")
        .arg(script)
        .env("LOGIN_URL", &url)
        .env("PLAYWRIGHT_DIR", playwright_dir())
        .env("USER_DATA_DIR", dir.path().join("chromium-profile"))
        .env("SCREENSHOT_DIR", &shots)
        .env("PIECE", "failing")
        .env("ERROR", ERROR)
        .stdout(std::fs::File::create(dir.path().join("node.log")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("node.err")).unwrap())
        .spawn()
        .expect("starting node");
    let mut node = Killed(node);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = node.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the browser test took over 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let out = read("node.log") + &read("node.err");
    let logs = read("daemon.log");
    assert!(
        status.success(),
        "the browser test failed:\n{out}\n--- daemon log ---\n{logs}"
    );
    assert!(out.contains("e2e: ok"), "{out}");
    for shot in ["dashboard.png", "dashboard-piece.png"] {
        let bytes = std::fs::metadata(shots.join(shot)).map_or(0, |m| m.len());
        assert!(bytes > 10_000, "{shot} is {bytes} bytes");
    }
    let _ = daemon.0.kill();
}
