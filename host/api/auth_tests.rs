//! The signature check in front of the API: who may do what.

use super::*;
use crate::auth::{Verifier, now_unix, sign_request};
use crate::identity::{Identity, space_did_for_name};
use crate::sandbox::{CellSource, Piece, RunOutcome, RunReport};
use crate::scheduler::{PieceRunner, Scheduler, SchedulerConfig};
use crate::store::SqliteStore;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::future::BoxFuture;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

struct NeverRuns;

impl PieceRunner for NeverRuns {
    fn run(
        &self,
        _: &str,
        piece: Piece,
        _: Value,
        _: Arc<dyn CellSource>,
    ) -> BoxFuture<'static, RunReport> {
        Box::pin(async move {
            RunReport {
                outcome: RunOutcome::failure(
                    crate::sandbox::ErrorKind::Internal,
                    format!("{} not run", piece.id),
                ),
                cell_changes: vec![],
                record: None,
            }
        })
    }
}

struct Daemon {
    router: axum::Router,
    operator: Identity,
    _dir: tempfile::TempDir,
}

fn daemon(open_registration: bool) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<SqliteStore> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let scheduler = Scheduler::new(
        store.clone(),
        Arc::new(NeverRuns),
        SchedulerConfig::default(),
    );
    let operator = Identity::from_passphrase("test operator");
    let verifier = Verifier::new(operator.did(), operator.did());
    Daemon {
        router: router(ApiState::new(store, scheduler).with_auth(verifier, open_registration)),
        operator,
        _dir: dir,
    }
}

fn space_key(name: &str) -> Identity {
    Identity::from_passphrase("common user").derive(name)
}

impl Daemon {
    async fn send(
        &self,
        method: &str,
        uri: &str,
        body: &str,
        authorization: Option<String>,
    ) -> (StatusCode, Value, Option<String>) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            challenge,
        )
    }

    fn sign(&self, signer: &Identity, method: &str, uri: &str, body: &str) -> String {
        sign_request(
            signer,
            &self.operator.did(),
            method,
            uri,
            body.as_bytes(),
            now_unix(),
        )
    }

    async fn signed(
        &self,
        signer: &Identity,
        method: &str,
        uri: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let token = self.sign(signer, method, uri, body);
        let (status, json, _) = self.send(method, uri, body, Some(token)).await;
        (status, json)
    }
}

fn error(json: &Value) -> String {
    json["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn healthz_is_public_and_names_the_daemon() {
    let daemon = daemon(false);
    let (status, json, _) = daemon.send("GET", "/healthz", "", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["did"], daemon.operator.did().to_string());
}

#[tokio::test]
async fn unsigned_requests_are_refused_with_401() {
    let daemon = daemon(false);
    let space = space_did_for_name("alice", "common user");
    let (status, json, challenge) = daemon
        .send(
            "POST",
            &format!("/api/spaces/{space}/pieces"),
            "export function bgUpdater() {}",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error(&json).to_lowercase().contains("sign"), "{json}");
    assert_eq!(challenge.as_deref(), Some("Bgwasm"));
    let (status, _, _) = daemon
        .send("GET", &format!("/api/spaces/{space}/cells"), "", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_space_key_and_the_operator_may_act_on_a_space() {
    let daemon = daemon(false);
    let alice = space_key("alice");
    let space = alice.did();
    let uri = format!("/api/spaces/{space}/pieces");
    let (status, json) = daemon
        .signed(
            &alice,
            "POST",
            &uri,
            "export function bgUpdater() { return 1; }",
        )
        .await;
    assert!(status.is_success(), "{status} {json}");
    let (status, json) = daemon
        .signed(
            &daemon.operator,
            "GET",
            &format!("/api/spaces/{space}/cells"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
}

#[tokio::test]
async fn another_space_key_gets_403_on_every_route() {
    let daemon = daemon(false);
    let mallory = space_key("mallory");
    let alice = space_did_for_name("alice", "common user");
    for (method, uri, body) in [
        (
            "POST",
            format!("/api/spaces/{alice}/pieces"),
            "export function bgUpdater() {}".to_owned(),
        ),
        ("GET", format!("/api/spaces/{alice}/cells"), String::new()),
        (
            "GET",
            format!("/api/spaces/{alice}/cells/token"),
            String::new(),
        ),
        (
            "GET",
            format!("/api/spaces/{alice}/pieces/p1"),
            String::new(),
        ),
        (
            "POST",
            format!("/api/spaces/{alice}/pieces/p1/run"),
            String::new(),
        ),
        (
            "GET",
            format!("/api/integrations/bg?space={alice}"),
            String::new(),
        ),
        (
            "POST",
            "/api/integrations/bg".to_owned(),
            format!(r#"{{"pieceId":"p1","space":"{alice}","integration":"x"}}"#),
        ),
    ] {
        let (status, json) = daemon.signed(&mallory, method, &uri, &body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}: {json}");
    }
}

#[tokio::test]
async fn listing_every_registration_is_for_the_operator_only() {
    let daemon = daemon(false);
    let (status, _) = daemon
        .signed(&space_key("alice"), "GET", "/api/integrations/bg", "")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, json) = daemon
        .signed(&daemon.operator, "GET", "/api/integrations/bg", "")
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
}

#[tokio::test]
async fn replayed_tampered_and_forged_tokens_get_401_saying_which() {
    let daemon = daemon(false);
    let alice = space_key("alice");
    let uri = format!("/api/spaces/{}/pieces", alice.did());
    let body = "export function bgUpdater() { return 1; }";
    let token = daemon.sign(&alice, "POST", &uri, body);
    let (status, _, _) = daemon.send("POST", &uri, body, Some(token.clone())).await;
    assert!(status.is_success());
    let (status, json, _) = daemon.send("POST", &uri, body, Some(token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error(&json).contains("replay"), "{json}");

    let token = daemon.sign(&alice, "POST", &uri, body);
    let (status, json, _) = daemon
        .send(
            "POST",
            &uri,
            "export function bgUpdater() { return 2; }",
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error(&json).contains("body"), "{json}");

    // Flip one character well inside the signature (the last one carries
    // padding bits, so changing it may change nothing).
    let mut forged: Vec<char> = daemon.sign(&alice, "POST", &uri, body).chars().collect();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let (status, json, _) = daemon.send("POST", &uri, body, Some(forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");

    let (status, json, _) = daemon
        .send("POST", &uri, body, Some("Bearer nonsense".into()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{json}");
}

#[tokio::test]
async fn open_registration_lets_unsigned_reference_clients_register() {
    let body = format!(
        r#"{{"charmId":"p1","space":"{}","integration":"rss"}}"#,
        space_did_for_name("alice", "common user")
    );
    let closed = daemon(false);
    let (status, _, _) = closed
        .send("POST", "/api/integrations/bg", &body, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let open = daemon(true);
    // Through to the handler: the piece does not exist in that space.
    let (status, json, _) = open.send("POST", "/api/integrations/bg", &body, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{json}");
    // Everything else still needs a signature.
    let (status, _, _) = open.send("GET", "/api/integrations/bg", "", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_invalid_space_is_a_400_naming_it() {
    let daemon = daemon(false);
    let (status, json) = daemon
        .signed(
            &daemon.operator,
            "GET",
            "/api/spaces/did:key:zNOPE/cells",
            "",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&json).contains("did:key:zNOPE"), "{json}");
}

/// Every signed route, acting on `space` (and piece `id`), with a body that
/// names `body_space` wherever the route takes a body.
fn every_route(space: &str, id: &str, body_space: &str) -> Vec<(&'static str, String, String)> {
    let piece = format!("/api/spaces/{space}/pieces/{id}");
    let source = format!("export function bgUpdater() {{ return {{ space: \"{body_space}\" }}; }}");
    vec![
        (
            "POST",
            format!("/api/spaces/{space}/pieces"),
            source.clone(),
        ),
        ("GET", piece.clone(), String::new()),
        ("PUT", piece.clone(), source),
        ("DELETE", piece.clone(), String::new()),
        ("POST", format!("{piece}/enable"), String::new()),
        ("POST", format!("{piece}/disable"), String::new()),
        ("POST", format!("{piece}/run"), String::new()),
        ("GET", format!("/api/spaces/{space}/cells"), String::new()),
        (
            "GET",
            format!("/api/spaces/{space}/cells/{id}"),
            String::new(),
        ),
        (
            "POST",
            format!("/api/integrations/bg?space={space}"),
            format!(r#"{{"pieceId":"{id}","space":"{body_space}","integration":"x"}}"#),
        ),
        (
            "GET",
            format!("/api/integrations/bg?space={space}"),
            format!(r#"{{"space":"{body_space}"}}"#),
        ),
    ]
}

impl Daemon {
    /// Every registration, as the operator lists them.
    async fn registrations(&self) -> Value {
        let (status, json) = self
            .signed(&self.operator, "GET", "/api/integrations/bg", "")
            .await;
        assert_eq!(status, StatusCode::OK, "{json}");
        json
    }
}

#[tokio::test]
async fn a_request_whose_path_and_body_name_different_spaces_is_refused_on_every_route() {
    let daemon = daemon(false);
    let (alice, mallory) = (space_key("alice"), space_key("mallory"));
    // Mallory's own piece, so only the space decides.
    let uri = format!("/api/spaces/{}/pieces?id=p1", mallory.did());
    let (status, json) = daemon.signed(&mallory, "POST", &uri, "src").await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    let before = daemon.registrations().await;
    let routes = every_route(&alice.did().to_string(), "p1", &mallory.did().to_string());
    for (method, uri, body) in routes {
        let (status, json) = daemon.signed(&mallory, method, &uri, &body).await;
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::BAD_REQUEST,
            "{method} {uri} signed by the body's space: {status} {json}"
        );
        assert!(!error(&json).is_empty(), "{json}");
    }
    assert_eq!(daemon.registrations().await, before);
}

#[tokio::test]
async fn an_encoded_dot_dot_segment_is_refused_on_every_route() {
    let daemon = daemon(false);
    let alice = space_key("alice");
    let space = alice.did().to_string();
    let uri = format!("/api/spaces/{space}/pieces?id=p1");
    let (status, json) = daemon.signed(&alice, "POST", &uri, "src").await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    let before = daemon.registrations().await;
    for (bad_space, bad_id) in [
        (format!("..%2F{space}"), "p1"),
        ("%2e%2e".to_owned(), "p1"),
        (format!("{space}%2F..%2F{space}"), "p1"),
        (space.clone(), "..%2F..%2Fp1"),
        (space.clone(), "%2e%2e"),
        (space.clone(), "p1%2F..%2F..%2Fx"),
    ] {
        for signer in [&alice, &daemon.operator] {
            for (method, uri, body) in every_route(&bad_space, bad_id, &space) {
                if bad_space == space && !uri.contains(bad_id) {
                    continue; // nothing of this route's path is bad
                }
                let (status, json) = daemon.signed(signer, method, &uri, &body).await;
                assert!(
                    status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
                    "{method} {uri}: {status} {json}"
                );
            }
        }
    }
    // A registration naming such a piece or space in its body.
    for body in [
        format!(r#"{{"pieceId":"../p1","space":"{space}","integration":"x"}}"#),
        format!(r#"{{"pieceId":"p1","space":"../{space}","integration":"x"}}"#),
    ] {
        let (status, json) = daemon
            .signed(&alice, "POST", "/api/integrations/bg", &body)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {json}");
    }
    assert_eq!(daemon.registrations().await, before);
}

#[tokio::test]
async fn handlers_get_the_space_the_signature_was_checked_against() {
    let daemon = daemon(false);
    let alice = space_key("alice");
    // The path's space, percent-encoded, is the one decoded, checked and used.
    let encoded = alice.did().to_string().replace(':', "%3A");
    let uri = format!("/api/spaces/{encoded}/pieces?id=p1");
    let (status, json) = daemon.signed(&alice, "POST", &uri, "src").await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    let (status, json) = daemon
        .signed(
            &alice,
            "GET",
            &format!("/api/spaces/{}/pieces/p1", alice.did()),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["piece"]["space"], alice.did().to_string());
    // A registration's space is its body's, and a query beside it is refused.
    let body = format!(
        r#"{{"pieceId":"p1","space":"{}","integration":"x"}}"#,
        alice.did()
    );
    let (status, json) = daemon
        .signed(&alice, "POST", "/api/integrations/bg", &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let (status, json) = daemon
        .signed(&alice, "POST", "/api/integrations/bg?x=1", &body)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(error(&json).contains("no query"), "{json}");
    let (status, json) = daemon
        .signed(
            &alice,
            "GET",
            &format!("/api/integrations/bg?space={encoded}"),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json[0]["space"], alice.did().to_string(), "{json}");
}
