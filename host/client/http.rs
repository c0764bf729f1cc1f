//! A signed connection to one daemon. Every URL is built from validated
//! parts with `url::Url` (path segments and query pairs, each encoded once),
//! and the token signs exactly the path and query that are sent.

use super::ClientError;
use crate::auth::{now_unix, sign_request};
use crate::identity::{Did, Identity};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::{Position, Url};

/// What `/healthz` says that the client needs: the daemon's DID.
#[derive(Debug, Deserialize)]
struct Health {
    did: Option<Did>,
}

/// The error body every refusal carries.
#[derive(Debug, Deserialize)]
struct Refusal {
    error: String,
}

/// A signed connection to one daemon.
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    signer: Identity,
    audience: tokio::sync::OnceCell<Did>,
}

/// A request's target: the path's segments (each encoded on its own, so a
/// `/` or `?` in one stays inside it) and the query's pairs.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub segments: &'a [&'a str],
    pub query: &'a [(&'a str, &'a str)],
}

impl<'a> Target<'a> {
    pub fn path(segments: &'a [&'a str]) -> Self {
        Self {
            segments,
            query: &[],
        }
    }

    pub fn with_query(self, query: &'a [(&'a str, &'a str)]) -> Self {
        Self { query, ..self }
    }
}

impl ApiClient {
    /// A client of the daemon at `base` (`http://host:port`, optionally with
    /// a path prefix), signing with `signer`.
    pub fn new(base: &str, signer: Identity) -> Result<Self, ClientError> {
        let base = Url::parse(base)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && !url.cannot_be_a_base())
            .ok_or_else(|| {
                ClientError::Usage(format!(
                    "the daemon's address {base:?} is not an http:// or https:// URL; set API_URL \
                     or --api-url, e.g. http://localhost:8000"
                ))
            })?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("bgwasm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Usage(format!("cannot make an HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            signer,
            audience: tokio::sync::OnceCell::new(),
        })
    }

    /// The URL of `target` on this daemon. A segment that is empty, `.` or
    /// `..` would change which path is meant, so it is refused.
    pub fn url(&self, target: Target<'_>) -> Result<Url, ClientError> {
        if let Some(bad) = target
            .segments
            .iter()
            .find(|s| matches!(**s, "" | "." | ".."))
        {
            return Err(ClientError::Usage(format!(
                "{bad:?} cannot be a part of a request path"
            )));
        }
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(target.segments);
        }
        if !target.query.is_empty() {
            url.query_pairs_mut().extend_pairs(target.query);
        }
        Ok(url)
    }

    /// The daemon's DID, which tokens name as their audience; `/healthz`
    /// publishes it.
    async fn audience(&self) -> Result<Did, ClientError> {
        self.audience
            .get_or_try_init(|| async {
                let url = self.url(Target::path(&["healthz"]))?;
                let body = self.send(Method::GET, url, Vec::new(), None).await?;
                decode::<Health>(&body, "/healthz")?
                    .did
                    .ok_or_else(|| ClientError::Unexpected("/healthz names no daemon DID".into()))
            })
            .await
            .copied()
    }

    /// Sends a request and returns the body of a successful answer.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Vec<u8>,
        authorization: Option<String>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut request = self.http.request(method, url).body(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: self.base.to_string(),
            problem: std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string()),
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Refusal>(&bytes)
                .map(|refusal| refusal.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ClientError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        Ok(bytes.to_vec())
    }

    /// Sends a signed request and returns the body of a successful answer.
    /// The token signs the path and query exactly as the URL sends them.
    pub async fn call(
        &self,
        method: Method,
        target: Target<'_>,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, ClientError> {
        let audience = self.audience().await?;
        let url = self.url(target)?;
        let token = sign_request(
            &self.signer,
            &audience,
            method.as_str(),
            &url[Position::BeforePath..Position::AfterQuery],
            &body,
            now_unix(),
        );
        self.send(method, url, body, Some(token)).await
    }
}

/// Reads an answer as `T`, or says what was wrong with it.
pub fn decode<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| {
        ClientError::Unexpected(format!(
            "the answer to {what} does not read as expected ({e}): {}",
            String::from_utf8_lossy(body)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Verifier;
    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, Uri};
    use axum::routing::get;
    use std::collections::HashMap;
    use std::sync::Arc;

    /// A daemon stand-in on loopback that checks each token with the real
    /// verifier against the request target it received, and echoes what
    /// axum decoded from the path and query.
    async fn checking_daemon(operator: &Identity) -> (String, tokio::task::JoinHandle<()>) {
        let verifier = Arc::new(Verifier::new(operator.did(), operator.did()));
        let did = operator.did().to_string();
        let app = axum::Router::new()
            .route(
                "/healthz",
                get(move || async move { axum::Json(serde_json::json!({ "did": did })) }),
            )
            .route(
                "/api/things/{name}",
                get(
                    |State(verifier): State<Arc<Verifier>>,
                     Path(name): Path<String>,
                     Query(query): Query<HashMap<String, String>>,
                     uri: Uri,
                     headers: HeaderMap| async move {
                        let header = headers.get("authorization").and_then(|v| v.to_str().ok());
                        let target = uri.path_and_query().map_or("/", |p| p.as_str());
                        match verifier.verify(header, "GET", target, b"", None, now_unix()) {
                            Ok(_) => Ok(axum::Json(serde_json::json!({
                                "name": name,
                                "query": query,
                            }))),
                            Err(error) => Err((
                                axum::http::StatusCode::UNAUTHORIZED,
                                axum::Json(serde_json::json!({ "error": error.to_string() })),
                            )),
                        }
                    },
                ),
            )
            .with_state(verifier);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, server)
    }

    #[tokio::test]
    async fn the_target_signed_is_the_target_sent_whatever_the_characters() {
        let operator = Identity::from_passphrase("client test operator");
        let (url, server) = checking_daemon(&operator).await;
        let client = ApiClient::new(&url, operator).unwrap();
        for awkward in ["a b", "ok&id=z", "../x/y", "100%", "q?x=1#f", "é+ü"] {
            let body = client
                .call(
                    Method::GET,
                    Target::path(&["api", "things", awkward])
                        .with_query(&[("id", awkward), ("other", "1")]),
                    Vec::new(),
                )
                .await
                .unwrap_or_else(|e| panic!("{awkward:?}: {e}"));
            let echoed: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(echoed["name"], awkward, "{echoed}");
            assert_eq!(
                echoed["query"],
                serde_json::json!({ "id": awkward, "other": "1" })
            );
        }
        server.abort();
    }

    #[test]
    fn urls_are_built_under_the_base_and_encode_each_part_once() {
        let client = ApiClient::new("http://localhost:8000/prefix/", Identity::generate()).unwrap();
        let url = client
            .url(Target::path(&["api", "a b", "../x"]).with_query(&[("id", "a&b")]))
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://localhost:8000/prefix/api/a%20b/..%2Fx?id=a%26b"
        );
        for bad in ["..", ".", ""] {
            assert!(client.url(Target::path(&["api", bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_base_that_is_not_an_http_url_is_refused_naming_it() {
        for bad in ["localhost:8000", "ftp://x", "not a url", "mailto:a@b"] {
            let Err(ClientError::Usage(message)) = ApiClient::new(bad, Identity::generate()) else {
                panic!("{bad} was accepted");
            };
            assert!(message.contains(bad), "{message}");
        }
    }
}
