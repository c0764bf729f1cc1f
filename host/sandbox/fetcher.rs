//! Carries out a piece's fetches for its sandbox, under the run's limits and
//! the egress policy. Redirects are followed here, by hand, so the policy
//! checks every hop.

use super::bindings::bgwasm::sandbox::http;
use super::egress::{EgressDenied, EgressPolicy};
use super::limits::Limits;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Response bytes the host holds for one run that the guest has not taken
/// yet. Bounded by half the sandbox's memory limit: the guest could not take
/// more at once anyway (it needs room to copy what it takes), and the host's
/// memory is not the guest's to spend.
#[derive(Debug, Clone, Default)]
pub struct HeldBytes(Arc<AtomicUsize>);

impl HeldBytes {
    fn hold(&self, bytes: usize, limit: usize) -> Result<(), String> {
        let held = self.0.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if held > limit {
            self.release(bytes);
            return Err(format!(
                "the responses waiting for the piece exceed {} MiB, half the sandbox's memory limit; fetch fewer at once",
                limit >> 20
            ));
        }
        Ok(())
    }

    /// The guest took `bytes` (or they were dropped).
    pub fn release(&self, bytes: usize) {
        self.0.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// A finished fetch: the response, or why there is none, in words for the
/// piece's author.
pub type FetchOutcome = Result<http::Response, String>;

/// Redirects one fetch may follow.
const MAX_REDIRECTS: usize = 10;

/// Performs fetches with the shared HTTP client and one sandbox's limits.
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<EgressPolicy>,
    max_response_bytes: usize,
    max_held_bytes: usize,
    timeout: std::time::Duration,
}

impl Fetcher {
    pub fn new(client: reqwest::Client, policy: Arc<EgressPolicy>, limits: &Limits) -> Self {
        Self {
            client,
            policy,
            max_response_bytes: limits.max_response_bytes,
            max_held_bytes: limits.memory_bytes / 2,
            timeout: limits.fetch_timeout,
        }
    }

    /// Performs `request`; the body it returns is counted in `held` until
    /// the caller releases it.
    pub async fn fetch(&self, request: http::Request, held: &HeldBytes) -> FetchOutcome {
        match tokio::time::timeout(self.timeout, self.follow(request, held)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!(
                "no complete response within {} (--fetch-timeout)",
                humantime::format_duration(self.timeout)
            )),
        }
    }

    async fn follow(&self, request: http::Request, held: &HeldBytes) -> FetchOutcome {
        let mut url = reqwest::Url::parse(&request.url)
            .map_err(|e| format!("invalid URL {:?}: {e}", request.url))?;
        let mut method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("invalid method {:?}", request.method))?;
        let mut headers = request.headers;
        let mut body = request.body;
        for hop in 0..=MAX_REDIRECTS {
            self.policy
                .check_url(&url)
                .map_err(|denied| denied.to_string())?;
            let mut builder = self.client.request(method.clone(), url.clone());
            for (name, value) in &headers {
                builder = builder.header(name, value);
            }
            if let Some(body) = &body {
                builder = builder.body(body.clone());
            }
            let response = builder.send().await.map_err(|e| describe(&e))?;
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok());
            if status.is_redirection()
                && let Some(location) = location
            {
                if hop == MAX_REDIRECTS {
                    return Err(format!(
                        "more than {MAX_REDIRECTS} redirects, the last to {location}"
                    ));
                }
                let next = url
                    .join(location)
                    .map_err(|e| format!("a redirect to an invalid URL {location:?}: {e}"))?;
                // As browsers do: 303, and 301/302 after a POST, become a GET.
                if status == reqwest::StatusCode::SEE_OTHER
                    || (matches!(status.as_u16(), 301 | 302) && method == reqwest::Method::POST)
                {
                    method = reqwest::Method::GET;
                    body = None;
                    headers.retain(|(name, _)| {
                        !name.eq_ignore_ascii_case("content-type")
                            && !name.eq_ignore_ascii_case("content-length")
                    });
                }
                // Credentials are for the origin they were meant for.
                if next.origin() != url.origin() {
                    headers.retain(|(name, _)| {
                        !name.eq_ignore_ascii_case("authorization")
                            && !name.eq_ignore_ascii_case("cookie")
                    });
                }
                url = next;
                continue;
            }
            return self.read(url, response, held).await;
        }
        unreachable!("the loop returns by its last hop")
    }

    async fn read(
        &self,
        url: reqwest::Url,
        mut response: reqwest::Response,
        held: &HeldBytes,
    ) -> FetchOutcome {
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(format!(
                    "the response body is larger than the limit of {} bytes (--max-response-bytes)",
                    self.max_response_bytes
                ));
            }
            if let Err(problem) = held.hold(chunk.len(), self.max_held_bytes) {
                held.release(body.len());
                return Err(problem);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(http::Response {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or("").to_owned(),
            url: url.to_string(),
            headers,
            body,
        })
    }
}

/// A client error in words: the egress policy's own message when it refused
/// the connection, else the innermost cause.
fn describe(error: &reqwest::Error) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut innermost = error.to_string();
    while let Some(current) = cause {
        if let Some(denied) = current.downcast_ref::<EgressDenied>() {
            return denied.to_string();
        }
        innermost = current.to_string();
        cause = current.source();
    }
    if error.is_timeout() {
        "the request timed out".to_owned()
    } else if error.is_connect() {
        format!("cannot connect: {innermost}")
    } else {
        innermost
    }
}
