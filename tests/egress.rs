//! The egress policy as a piece meets it: what `fetch` may reach, checked by
//! the host at connect time and at every redirect hop.

mod common;

use bgwasm::sandbox::{
    EgressPolicy, EngineOptions, HostPattern, Limits, MemoryCells, Piece, RunReport, SandboxEngine,
    SpaceSandbox,
};
use common::{TestServer, fixture};
use serde_json::{Value, json};
use std::sync::Arc;

async fn probe(policy: EgressPolicy, limits: Limits, urls: &[String]) -> RunReport {
    let engine = SandboxEngine::new(EngineOptions {
        cache_dir: Some(common::cache_dir()),
        egress: policy,
        ..EngineOptions::default()
    })
    .await
    .unwrap();
    let mut sandbox = SpaceSandbox::new(engine, "egress", limits);
    sandbox
        .run(
            &Piece::new("probe", fixture("egress_probe.js")),
            &json!({ "urls": urls }),
            Arc::new(MemoryCells::default()),
        )
        .await
}

fn results(report: &RunReport) -> Vec<Value> {
    assert!(report.outcome.ok, "{:?}", report.outcome);
    report
        .outcome
        .value
        .as_ref()
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn denied(result: &Value, rule: &str) {
    assert_eq!(result["name"], json!("TypeError"), "{result}");
    let message = result["error"].as_str().unwrap();
    assert!(message.contains(&format!("rule `{rule}`")), "{message}");
}

#[tokio::test]
async fn loopback_is_denied_by_default_by_literal_and_by_name() {
    let server = TestServer::start().await;
    let port = server.addr.port();
    let report = probe(
        EgressPolicy::default(),
        Limits::default(),
        &[server.url("/json"), format!("http://localhost:{port}/json")],
    )
    .await;
    let results = results(&report);
    denied(&results[0], "loopback");
    // A name is checked on the addresses it resolves to, at connect time.
    denied(&results[1], "loopback");
    assert_eq!(
        server.requests(),
        0,
        "a denied fetch must not reach the server"
    );
    // The outcome records the denial.
    let recorded = report.outcome.fetches[0].error.as_deref().unwrap();
    assert!(recorded.contains("rule `loopback`"), "{recorded}");
    assert_eq!(report.outcome.fetches[0].status, None);
}

#[tokio::test]
async fn allow_private_network_opens_loopback() {
    let server = TestServer::start().await;
    let report = probe(
        EgressPolicy::new(true, vec![]),
        Limits::default(),
        &[server.url("/json")],
    )
    .await;
    assert_eq!(results(&report)[0]["status"], json!(200));
}

#[tokio::test]
async fn metadata_and_other_reserved_addresses_stay_denied_with_the_private_network_open() {
    let report = probe(
        EgressPolicy::new(true, vec![]),
        Limits::default(),
        &[
            "http://169.254.169.254/latest/meta-data/".into(),
            "http://[fd00:ec2::254]/".into(),
            "http://[::ffff:169.254.169.254]/".into(),
            "http://224.0.0.1/".into(),
            "file:///etc/passwd".into(),
        ],
    )
    .await;
    let results = results(&report);
    denied(&results[0], "metadata");
    denied(&results[1], "metadata");
    denied(&results[2], "metadata");
    denied(&results[3], "multicast");
    denied(&results[4], "scheme");
}

#[tokio::test]
async fn the_daemon_api_is_unreachable_even_with_the_private_network_open() {
    let daemon = TestServer::start().await;
    let other = TestServer::start().await;
    let mut policy = EgressPolicy::new(true, vec![]);
    policy.deny_daemon_address(daemon.addr);
    let report = probe(
        policy,
        Limits::default(),
        &[
            daemon.url("/api/integrations/bg"),
            format!("http://localhost:{}/healthz", daemon.addr.port()),
            other.url("/json"),
        ],
    )
    .await;
    let results = results(&report);
    denied(&results[0], "daemon_address");
    denied(&results[1], "daemon_address");
    assert_eq!(results[2]["status"], json!(200));
    assert_eq!(daemon.requests(), 0);
}

#[tokio::test]
async fn every_redirect_hop_is_checked() {
    let server = TestServer::start().await;
    let port = server.addr.port();
    // `localhost` is allowed by name; the redirect leads to a loopback literal,
    // which is not.
    let policy = EgressPolicy::new(false, vec!["localhost".parse::<HostPattern>().unwrap()]);
    let start = format!("http://localhost:{port}/redirect?to=http://127.0.0.1:{port}/json");
    let allowed_hop = format!("http://localhost:{port}/redirect?to=/json");
    let report = probe(policy, Limits::default(), &[start, allowed_hop]).await;
    let results = results(&report);
    denied(&results[0], "loopback");
    assert_eq!(results[1]["status"], json!(200));
    assert_eq!(results[1]["body"], json!(r#"{"hello":"world"}"#));
    assert_eq!(results[1]["redirected"], json!(true));
    // Two hops of the first fetch reached the server only once; the second
    // fetch took two.
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn redirect_loops_are_capped() {
    let server = TestServer::start().await;
    let report = probe(
        EgressPolicy::new(true, vec![]),
        Limits::default(),
        &[server.url("/loop")],
    )
    .await;
    let results = results(&report);
    assert!(
        results[0]["error"]
            .as_str()
            .unwrap()
            .contains("more than 10 redirects"),
        "{}",
        results[0]
    );
    assert_eq!(server.requests(), 11);
}

#[tokio::test]
async fn response_size_and_fetch_count_are_capped() {
    let server = TestServer::start().await;
    let limits = Limits {
        max_response_bytes: 8,
        max_fetches: 2,
        ..Limits::default()
    };
    let report = probe(
        EgressPolicy::new(true, vec![]),
        limits,
        &[
            server.url("/json"),
            server.url("/delay/0"),
            server.url("/delay/0"),
        ],
    )
    .await;
    let results = results(&report);
    assert!(
        results[0]["error"]
            .as_str()
            .unwrap()
            .contains("limit of 8 bytes"),
        "{}",
        results[0]
    );
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .contains("limit of 8 bytes"),
        "{}",
        results[1]
    );
    assert!(
        results[2]["error"]
            .as_str()
            .unwrap()
            .contains("at most 2 fetches"),
        "{}",
        results[2]
    );
    assert_eq!(
        report.outcome.fetches.len(),
        2,
        "a refused fetch never started"
    );
}

#[tokio::test]
async fn bodies_the_piece_has_not_read_are_not_held_by_the_host() {
    let server = TestServer::start().await;
    let limits = Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let url = server.url("/bytes/6000000");
    // Three responses arrive while the piece is busy; it takes their heads
    // only. Bodies stream on demand, so neither the host nor the guest holds
    // the 18 MB the piece never asked for.
    let busy = r#"export async function bgUpdater(event) {
        const pending = event.urls.map((url) => fetch(url).then((r) => r.status));
        const until = Date.now() + 500;
        while (Date.now() < until) {}
        return await Promise.all(pending);
    }"#;
    // Read one after the other, each body arrives whole.
    let in_turn = r#"export async function bgUpdater(event) {
        const sizes = [];
        for (const url of event.urls) sizes.push((await (await fetch(url)).arrayBuffer()).byteLength);
        return sizes;
    }"#;
    let engine = SandboxEngine::new(EngineOptions {
        cache_dir: Some(common::cache_dir()),
        egress: EgressPolicy::new(true, vec![]),
        ..EngineOptions::default()
    })
    .await
    .unwrap();
    let event = json!({ "urls": [url.clone(), url.clone(), url] });
    let mut sandbox = SpaceSandbox::new(engine, "held", limits);
    let report = sandbox
        .run(
            &Piece::new("busy", busy),
            &event,
            Arc::new(MemoryCells::default()),
        )
        .await;
    assert_eq!(results(&report), vec![json!(200); 3]);
    assert!(
        report.outcome.memory_peak_bytes < 8 << 20,
        "unread bodies took guest memory: {} bytes",
        report.outcome.memory_peak_bytes
    );

    let report = sandbox
        .run(
            &Piece::new("in-turn", in_turn),
            &event,
            Arc::new(MemoryCells::default()),
        )
        .await;
    assert_eq!(results(&report), vec![json!(6_000_000); 3]);
}
