//! The dashboard's login rules and access checks, through the daemon's
//! whole router (signature checks included), with a real store and a fake
//! runner, on paused time where expiry matters.

use super::*;
use crate::api::{ApiState, router};
use crate::auth::{Verifier, now_unix, sign_request};
use crate::identity::{Did, Identity};
use crate::sandbox::{CellSource, ErrorKind, Piece, RunError, RunOutcome, RunReport};
use crate::scheduler::{PieceRunner, Scheduler, SchedulerConfig};
use crate::store::{PieceId, RegistrationKey, SqliteStore, Store};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use futures::future::BoxFuture;
use serde_json::Value;
use std::time::Duration;
use tower::ServiceExt;

/// Every run fails, naming its piece.
struct Fails;

impl PieceRunner for Fails {
    fn run(
        &self,
        _: &str,
        piece: Piece,
        _: Value,
        _: Arc<dyn CellSource>,
    ) -> BoxFuture<'static, RunReport> {
        Box::pin(async move {
            RunReport {
                outcome: RunOutcome {
                    duration_ms: 4,
                    error: Some(RunError {
                        kind: ErrorKind::JsError,
                        message: format!("piece {} threw", piece.id),
                        stack: Some("at bgUpdater (piece.js:2:9)".into()),
                    }),
                    ..RunOutcome::default()
                },
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

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A browser's session: its cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

fn space_key(name: &str) -> Identity {
    Identity::from_passphrase("common user").derive(name)
}

const PIECE: &str = "feed";

async fn daemon() -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    for name in ["alice", "bob"] {
        let space = space_key(name).did().to_string();
        let id = PieceId::parse(PIECE).unwrap();
        store
            .add_piece(
                &space,
                Some(id.clone()),
                "export function bgUpdater() {}".into(),
                1,
            )
            .await
            .unwrap();
        store
            .register(&RegistrationKey::new(space, id), "rss", 1)
            .await
            .unwrap();
    }
    let scheduler = Scheduler::new(store.clone(), Arc::new(Fails), SchedulerConfig::default());
    let operator = Identity::from_passphrase("test operator");
    let verifier = Verifier::new(operator.did(), operator.did());
    Daemon {
        router: router(ApiState::new(store, scheduler).with_auth(verifier, false)),
        operator,
        _dir: dir,
    }
}

impl Daemon {
    async fn send(&self, method: &str, uri: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// Asks for a login URL as `signer`, for `space` or every space.
    async fn ask_login(&self, signer: &Identity, space: Option<&Did>) -> Answer {
        let uri = match space {
            Some(space) => format!("/api/spaces/{space}/dashboard/login"),
            None => "/api/dashboard/login".to_owned(),
        };
        let token = sign_request(signer, &self.operator.did(), "POST", &uri, b"", now_unix());
        self.send("POST", &uri, &[("authorization", &token)]).await
    }

    async fn login_path(&self, signer: &Identity, space: Option<&Did>) -> String {
        let answer = self.ask_login(signer, space).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.json()["path"].as_str().unwrap().to_owned()
    }

    /// Opens a login URL like a browser and reads its session.
    async fn open(&self, path: &str) -> Browser {
        let answer = self.send("GET", path, &[]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.headers[header::LOCATION], "/dashboard/");
        let set_cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let session = self
            .send("GET", "/dashboard/api/session", &[("cookie", &cookie)])
            .await;
        assert_eq!(session.status, StatusCode::OK, "{}", session.body);
        Browser {
            cookie,
            csrf: session.json()["csrf"].as_str().unwrap().to_owned(),
        }
    }

    async fn get(&self, browser: &Browser, uri: &str) -> Answer {
        self.send("GET", uri, &[("cookie", &browser.cookie)]).await
    }

    /// A POST the way the dashboard's page sends one.
    async fn post(&self, browser: &Browser, uri: &str) -> Answer {
        let headers = [
            ("cookie", browser.cookie.as_str()),
            (CSRF_HEADER, browser.csrf.as_str()),
            ("host", "localhost:8000"),
            ("origin", "http://localhost:8000"),
        ];
        self.send("POST", uri, &headers).await
    }
}

fn piece_uri(space: &Did, action: &str) -> String {
    format!("/dashboard/api/spaces/{space}/pieces/{PIECE}{action}")
}

#[tokio::test]
async fn a_login_url_works_once_and_sets_a_strict_http_only_cookie() {
    let daemon = daemon().await;
    let path = daemon.login_path(&daemon.operator, None).await;
    assert!(path.starts_with("/dashboard/login/"), "{path}");
    let token = path.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 43, "256 bits, base64url");

    let first = daemon.send("GET", &path, &[]).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let set_cookie = first.headers[header::SET_COOKIE].to_str().unwrap();
    let attributes: Vec<&str> = set_cookie.split("; ").collect();
    assert!(
        attributes[0].starts_with("bgwasm_dashboard="),
        "{set_cookie}"
    );
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(attributes.contains(&wanted), "{wanted} in {set_cookie}");
    }
    let max_age = format!("Max-Age={}", SESSION_TTL.as_secs());
    assert!(attributes.contains(&max_age.as_str()), "{set_cookie}");
    assert_eq!(first.headers[header::REFERRER_POLICY], "no-referrer");

    let again = daemon.send("GET", &path, &[]).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.headers.get(header::SET_COOKIE).is_none());
    assert!(
        again.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(again.body.contains("already used"), "{}", again.body);
    assert!(again.body.contains("bgwasm dashboard"), "{}", again.body);
}

#[tokio::test]
async fn forged_login_urls_get_a_page_saying_so() {
    let daemon = daemon().await;
    let real = daemon.login_path(&daemon.operator, None).await;
    let mut forged = real.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for path in [
        forged.as_str(),
        "/dashboard/login/x",
        "/dashboard/login/%00%FF",
    ] {
        let answer = daemon.send("GET", path, &[]).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        assert!(answer.body.contains("not valid"), "{path}: {}", answer.body);
        assert!(answer.body.contains("bgwasm dashboard"), "{}", answer.body);
        assert!(answer.headers.get(header::SET_COOKIE).is_none());
    }
    // The forgeries did not spend the real one.
    daemon.open(&real).await;
}

#[tokio::test(start_paused = true)]
async fn login_urls_and_sessions_expire() {
    let daemon = daemon().await;
    let late = daemon.login_path(&daemon.operator, None).await;
    let browser = daemon
        .open(&daemon.login_path(&daemon.operator, None).await)
        .await;
    tokio::time::advance(LOGIN_TTL + Duration::from_secs(1)).await;
    let answer = daemon.send("GET", &late, &[]).await;
    assert_eq!(answer.status, StatusCode::GONE);
    assert!(answer.body.contains("expired"), "{}", answer.body);

    let listing = "/dashboard/api/registrations";
    assert_eq!(daemon.get(&browser, listing).await.status, StatusCode::OK);
    tokio::time::advance(SESSION_TTL).await;
    let answer = daemon.get(&browser, listing).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap()
            .contains("bgwasm dashboard"),
        "{}",
        answer.body
    );
    let page = daemon.get(&browser, "/dashboard/").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("Not logged in"), "{}", page.body);
}

#[tokio::test]
async fn without_a_session_nothing_is_shown() {
    let daemon = daemon().await;
    let alice = space_key("alice").did();
    let page = daemon.send("GET", "/dashboard/", &[]).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let forged = [("cookie", "bgwasm_dashboard=AAAA")];
    for uri in [
        "/dashboard/api/registrations".to_owned(),
        "/dashboard/api/session".to_owned(),
        piece_uri(&alice, ""),
        format!("/dashboard/api/spaces/{alice}/cells"),
    ] {
        for headers in [&[][..], &forged[..]] {
            let answer = daemon.send("GET", &uri, headers).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri}");
        }
    }
    // The page's script and style are no secret.
    let script = daemon.send("GET", "/dashboard/app.js", &[]).await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(
        script.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
}

#[tokio::test]
async fn mutating_requests_need_the_csrf_token_and_the_same_origin() {
    let daemon = daemon().await;
    let browser = daemon
        .open(&daemon.login_path(&daemon.operator, None).await)
        .await;
    let alice = space_key("alice").did();
    let disable = piece_uri(&alice, "/disable");
    let cookie = ("cookie", browser.cookie.as_str());
    let refused = [
        vec![cookie],
        vec![cookie, (CSRF_HEADER, "not-the-token")],
        vec![cookie, (CSRF_HEADER, "")],
        vec![
            cookie,
            (CSRF_HEADER, browser.csrf.as_str()),
            ("host", "localhost:8000"),
            ("origin", "https://evil.example"),
        ],
    ];
    for headers in refused {
        let answer = daemon.send("POST", &disable, &headers).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{headers:?}");
    }
    let shown = daemon.get(&browser, &piece_uri(&alice, "")).await.json();
    assert_eq!(
        shown["registration"]["disabledAt"], 0,
        "nothing was disabled"
    );

    let answer = daemon.post(&browser, &disable).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.json()["status"], "Disabled via UI");
    let answer = daemon.post(&browser, &piece_uri(&alice, "/enable")).await;
    assert_eq!(answer.json()["status"], "Re-initializing");

    // Run now: the run is recorded with its whole outcome.
    let answer = daemon.post(&browser, &piece_uri(&alice, "/run")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.json()["error"]["message"], "piece feed threw");
    let shown = daemon.get(&browser, &piece_uri(&alice, "")).await.json();
    assert_eq!(shown["runs"][0]["trigger"], "manual");
    assert_eq!(
        shown["runs"][0]["outcome"]["error"]["stack"],
        "at bgUpdater (piece.js:2:9)"
    );
    assert_eq!(shown["source"], "export function bgUpdater() {}");
    let listing = daemon
        .get(
            &browser,
            &format!("/dashboard/api/registrations?space={alice}"),
        )
        .await
        .json();
    let row = &listing["registrations"][0];
    assert_eq!(row["recent"].as_array().unwrap().len(), 1, "{row}");
    assert_eq!(row["recent"][0]["ok"], false);
    assert_eq!(row["totalFailures"], 1);

    // Logging out ends the session.
    let answer = daemon.post(&browser, "/dashboard/api/logout").await;
    assert_eq!(answer.status, StatusCode::OK);
    let after = daemon.get(&browser, "/dashboard/api/session").await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_space_session_never_sees_another_space() {
    let daemon = daemon().await;
    let (alice_key, bob) = (space_key("alice"), space_key("bob").did());
    let alice = alice_key.did();
    let browser = daemon
        .open(&daemon.login_path(&alice_key, Some(&alice)).await)
        .await;
    let session = daemon.get(&browser, "/dashboard/api/session").await.json();
    assert_eq!(session["space"], alice.to_string());

    // The listing holds its own space only, and names no other.
    let listing = daemon
        .get(&browser, "/dashboard/api/registrations")
        .await
        .json();
    assert_eq!(listing["total"], 1);
    assert_eq!(listing["registrations"][0]["space"], alice.to_string());
    assert_eq!(listing["registrations"][0]["recent"], Value::Array(vec![]));

    // Its own space: fine.
    for uri in [
        piece_uri(&alice, ""),
        format!("/dashboard/api/spaces/{alice}/cells"),
        format!("/dashboard/api/registrations?space={alice}"),
    ] {
        assert_eq!(daemon.get(&browser, &uri).await.status, StatusCode::OK);
    }
    // Every route, with another space: refused.
    for uri in [
        piece_uri(&bob, ""),
        format!("/dashboard/api/spaces/{bob}/cells"),
        format!("/dashboard/api/registrations?space={bob}"),
    ] {
        let answer = daemon.get(&browser, &uri).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
        assert!(answer.body.contains("limited to space"), "{}", answer.body);
    }
    for action in ["/run", "/enable", "/disable"] {
        let answer = daemon.post(&browser, &piece_uri(&bob, action)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{action}");
    }
    let operator = daemon
        .open(&daemon.login_path(&daemon.operator, None).await)
        .await;
    let bobs = daemon.get(&operator, &piece_uri(&bob, "")).await.json();
    assert_eq!(bobs["runs"], Value::Array(vec![]), "bob's piece never ran");
    assert_eq!(bobs["registration"]["disabledAt"], 0);

    // The operator sees both spaces.
    let all = daemon
        .get(&operator, "/dashboard/api/registrations")
        .await
        .json();
    assert_eq!(all["total"], 2);
}

#[tokio::test]
async fn only_the_operator_gets_a_login_to_every_space() {
    let daemon = daemon().await;
    let alice_key = space_key("alice");
    let (alice, bob) = (alice_key.did(), space_key("bob").did());
    let answer = daemon.ask_login(&alice_key, None).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    let answer = daemon.ask_login(&alice_key, Some(&bob)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    let unsigned = daemon.send("POST", "/api/dashboard/login", &[]).await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);

    // The operator asking for one space gets a login to that space only.
    let answer = daemon.ask_login(&daemon.operator, Some(&alice)).await;
    assert_eq!(answer.json()["access"], alice.to_string());
    let browser = daemon.open(answer.json()["path"].as_str().unwrap()).await;
    let answer = daemon.get(&browser, &piece_uri(&bob, "")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_listing_pages_through_registrations() {
    let daemon = daemon().await;
    let browser = daemon
        .open(&daemon.login_path(&daemon.operator, None).await)
        .await;
    let mut seen = Vec::new();
    for page in 1..=3 {
        let listing = daemon
            .get(
                &browser,
                &format!("/dashboard/api/registrations?page={page}&per=1"),
            )
            .await
            .json();
        assert_eq!(listing["total"], 2);
        let rows = listing["registrations"].as_array().unwrap();
        seen.extend(rows.iter().map(|r| r["space"].as_str().unwrap().to_owned()));
    }
    let mut expected = vec![
        space_key("alice").did().to_string(),
        space_key("bob").did().to_string(),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    let bad = daemon
        .get(&browser, "/dashboard/api/registrations?page=x")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
