//! Hostile and malformed requests against the real API on a real socket: each
//! gets a clear 4xx, the daemon keeps serving, and the store is unchanged.

mod common;

use bgwasm::api::{ApiState, router};
use bgwasm::auth::{Claims, Verifier, encode_token, now_unix, sign_request};
use bgwasm::identity::Identity;
use bgwasm::sandbox::{EngineOptions, Limits, SandboxEngine, SandboxPool};
use bgwasm::scheduler::{Scheduler, SchedulerConfig};
use bgwasm::store::SqliteStore;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Api {
    addr: SocketAddr,
    http: reqwest::Client,
    operator: Identity,
    alice: Identity,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn api(body_limit: usize) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let engine = SandboxEngine::new(EngineOptions {
        cache_dir: Some(common::cache_dir()),
        ..EngineOptions::default()
    })
    .await
    .unwrap();
    let scheduler = Scheduler::new(
        store.clone(),
        Arc::new(SandboxPool::new(engine, Limits::default())),
        SchedulerConfig::default(),
    );
    let operator = Identity::from_passphrase("hostile operator");
    let state = ApiState::new(store, scheduler)
        .with_body_limit(body_limit)
        .with_auth(Verifier::new(operator.did(), operator.did()), false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, router(state)).await.unwrap();
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    Api {
        addr,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        operator,
        alice: Identity::from_passphrase("common user").derive("alice"),
        server,
        _dir: dir,
    }
}

impl Api {
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: impl Into<reqwest::Body>,
        authorization: Option<String>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(
                method.parse().unwrap(),
                format!("http://{}{path}", self.addr),
            )
            .body(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn signed(
        &self,
        signer: &Identity,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> (u16, Value) {
        let token = sign_request(signer, &self.operator.did(), method, path, body, now_unix());
        self.send(method, path, body.to_vec(), Some(token)).await
    }

    /// Everything the store shows: registrations, alice's cells and pieces.
    async fn snapshot(&self) -> Value {
        let space = self.alice.did();
        let (_, registrations) = self
            .signed(&self.operator, "GET", "/api/integrations/bg", b"")
            .await;
        let (_, cells) = self
            .signed(
                &self.operator,
                "GET",
                &format!("/api/spaces/{space}/cells"),
                b"",
            )
            .await;
        let (_, piece) = self
            .signed(
                &self.operator,
                "GET",
                &format!("/api/spaces/{space}/pieces/kept"),
                b"",
            )
            .await;
        json!({ "registrations": registrations, "cells": cells, "piece": piece })
    }

    async fn seed(&self) {
        let space = self.alice.did();
        let source = b"export function bgUpdater() { cells.set('n', 1); return 1; }";
        let (status, body) = self
            .signed(
                &self.alice,
                "POST",
                &format!("/api/spaces/{space}/pieces?id=kept"),
                source,
            )
            .await;
        assert!(status == 200 || status == 201, "{body}");
        let register =
            json!({"pieceId": "kept", "space": space.to_string(), "integration": "x"}).to_string();
        assert_eq!(
            self.signed(
                &self.alice,
                "POST",
                "/api/integrations/bg",
                register.as_bytes()
            )
            .await
            .0,
            200
        );
        let (status, outcome) = self
            .signed(
                &self.alice,
                "POST",
                &format!("/api/spaces/{space}/pieces/kept/run"),
                b"",
            )
            .await;
        assert_eq!(
            (status, outcome["ok"].clone()),
            (200, json!(true)),
            "{outcome}"
        );
    }

    async fn still_serving(&self) {
        let (status, _) = self.send("GET", "/healthz", Vec::new(), None).await;
        assert_eq!(status, 200);
        let (status, _) = self
            .signed(
                &self.alice,
                "GET",
                &format!("/api/spaces/{}/cells", self.alice.did()),
                b"",
            )
            .await;
        assert_eq!(status, 200);
    }
}

fn assert_refused(answer: &(u16, Value), status: u16, needle: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["success"], json!(false), "{}", answer.1);
    let message = answer.1["error"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

#[tokio::test]
async fn malformed_registrations_name_the_field_and_change_nothing() {
    let api = api(1 << 20).await;
    api.seed().await;
    let before = api.snapshot().await;
    let space = api.alice.did().to_string();
    for (body, needle) in [
        ("{".to_owned(), "JSON"),
        ("[1,2]".to_owned(), "object"),
        (
            json!({"pieceId": 1, "space": space, "integration": "x"}).to_string(),
            "pieceId",
        ),
        (
            json!({"pieceId": "kept", "space": space, "integration": ["x"]}).to_string(),
            "integration",
        ),
        (
            json!({"pieceId": "kept", "space": space, "integration": "x", "admin": true})
                .to_string(),
            "admin",
        ),
        (
            json!({"pieceId": "kept", "charmId": "kept", "space": space, "integration": "x"})
                .to_string(),
            "charmId",
        ),
        (
            json!({"pieceId": "../../etc/passwd", "space": space, "integration": "x"}).to_string(),
            "pieceId",
        ),
        (
            json!({"pieceId": "kept", "space": "did:key:zBogus", "integration": "x"}).to_string(),
            "space",
        ),
    ] {
        let answer = api
            .signed(&api.alice, "POST", "/api/integrations/bg", body.as_bytes())
            .await;
        assert_refused(&answer, 400, needle);
    }
    api.still_serving().await;
    assert_eq!(api.snapshot().await, before);
}

#[tokio::test]
async fn bad_ids_sources_and_spaces_get_4xx_and_change_nothing() {
    let api = api(64 * 1024).await;
    api.seed().await;
    let before = api.snapshot().await;
    let space = api.alice.did();
    // Path traversal in a piece id never reaches a file.
    for id in ["..%2F..%2Fetc%2Fpasswd", "%2e%2e", "a%00b", "x..y"] {
        // (The client may normalise `%2e%2e` away, so the signed path no longer
        // matches: refused all the same.)
        let answer = api
            .signed(
                &api.alice,
                "GET",
                &format!("/api/spaces/{space}/pieces/{id}"),
                b"",
            )
            .await;
        assert!((400..500).contains(&answer.0), "{id}: {answer:?}");
        assert_eq!(answer.1["success"], json!(false));
    }
    let answer = api
        .signed(
            &api.alice,
            "PUT",
            &format!("/api/spaces/{space}/pieces/..%2Fkept"),
            b"export const bgUpdater = () => 0;",
        )
        .await;
    assert!(answer.0 == 400 || answer.0 == 404, "{answer:?}");
    // A source that is not UTF-8.
    let answer = api
        .signed(
            &api.alice,
            "POST",
            &format!("/api/spaces/{space}/pieces"),
            &[0xff, 0xfe, 0x00, 0x80],
        )
        .await;
    assert_refused(&answer, 400, "UTF-8");
    // A source over the body limit.
    let answer = api
        .signed(
            &api.alice,
            "POST",
            &format!("/api/spaces/{space}/pieces"),
            "x".repeat(100_000).as_bytes(),
        )
        .await;
    assert_refused(&answer, 413, "limit");
    // Invalid DIDs in the path.
    for bad in ["did:key:zBogus", "did:web:example.com", "not-a-did"] {
        let answer = api
            .signed(
                &api.operator,
                "GET",
                &format!("/api/spaces/{bad}/cells"),
                b"",
            )
            .await;
        assert_refused(&answer, 400, bad);
    }
    api.still_serving().await;
    assert_eq!(api.snapshot().await, before);
}

#[tokio::test]
async fn a_100_mb_body_is_refused_quickly_with_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let api = api(1 << 20).await;
    let started = Instant::now();
    let stream = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let path = format!("/api/spaces/{}/pieces", api.alice.did());
    // Stream 100 MB; the server may stop reading (and close) long before.
    let sender = tokio::spawn(async move {
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\n\r\n",
            100 << 20
        );
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            writer.write_all(&chunk).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut answer)).await;
    sender.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"success\":false"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    api.still_serving().await;
}

#[tokio::test]
async fn unsigned_forged_expired_replayed_and_cross_space_requests_are_refused() {
    let api = api(1 << 20).await;
    api.seed().await;
    let before = api.snapshot().await;
    let space = api.alice.did();
    let path = format!("/api/spaces/{space}/cells");

    assert_refused(&api.send("GET", &path, Vec::new(), None).await, 401, "");
    let mut forged: Vec<char> = sign_request(
        &api.alice,
        &api.operator.did(),
        "GET",
        &path,
        b"",
        now_unix(),
    )
    .chars()
    .collect();
    let at = forged.len() - 12;
    forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
    assert_refused(
        &api.send("GET", &path, Vec::new(), Some(forged.into_iter().collect()))
            .await,
        401,
        "",
    );

    let mut stale = Claims::for_request(
        space,
        &api.operator.did(),
        "GET",
        &path,
        b"",
        now_unix() - 3600,
    );
    stale.exp = stale.iat + 60;
    let expired = encode_token(&api.alice, &stale);
    assert_refused(
        &api.send("GET", &path, Vec::new(), Some(expired)).await,
        401,
        "expired",
    );

    let token = sign_request(
        &api.alice,
        &api.operator.did(),
        "GET",
        &path,
        b"",
        now_unix(),
    );
    assert_eq!(
        api.send("GET", &path, Vec::new(), Some(token.clone()))
            .await
            .0,
        200
    );
    assert_refused(
        &api.send("GET", &path, Vec::new(), Some(token)).await,
        401,
        "replay",
    );

    let mallory = Identity::from_passphrase("common user").derive("mallory");
    assert_refused(&api.signed(&mallory, "GET", &path, b"").await, 403, "");
    let steal =
        json!({"pieceId": "kept", "space": space.to_string(), "integration": "x"}).to_string();
    assert_refused(
        &api.signed(&mallory, "POST", "/api/integrations/bg", steal.as_bytes())
            .await,
        403,
        "",
    );

    api.still_serving().await;
    assert_eq!(api.snapshot().await, before);
}

#[tokio::test]
async fn a_thousand_bad_requests_in_a_row_leave_the_daemon_serving() {
    let api = api(64 * 1024).await;
    api.seed().await;
    let before = api.snapshot().await;
    let space = api.alice.did();
    let mallory = Identity::from_passphrase("common user").derive("mallory");
    let started = Instant::now();
    for i in 0..1000 {
        let answer = match i % 5 {
            0 => {
                api.send("POST", "/api/integrations/bg", format!("{{bad {i}"), None)
                    .await
            }
            1 => {
                api.signed(
                    &api.alice,
                    "POST",
                    "/api/integrations/bg",
                    format!("{{\"pieceId\":{i}}}").as_bytes(),
                )
                .await
            }
            2 => {
                api.signed(&mallory, "GET", &format!("/api/spaces/{space}/cells"), b"")
                    .await
            }
            3 => {
                api.signed(
                    &api.alice,
                    "POST",
                    &format!("/api/spaces/{space}/pieces"),
                    &[0xff; 16],
                )
                .await
            }
            _ => {
                api.send(
                    "GET",
                    &format!("/api/spaces/did:key:z{i}/cells"),
                    Vec::new(),
                    Some(format!("Bgwasm {i}")),
                )
                .await
            }
        };
        assert!((400..500).contains(&answer.0), "request {i}: {answer:?}");
    }
    let good = Instant::now();
    api.still_serving().await;
    assert!(
        good.elapsed() < Duration::from_secs(1),
        "slow after the flood: {:?}",
        good.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(api.snapshot().await, before);
}
