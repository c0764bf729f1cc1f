//! Carries out a piece's fetches for its sandbox, under the run's limits and
//! the egress policy. Redirects are followed here, by hand, so the policy
//! checks every hop. A response's body is read on demand, chunk by chunk, as
//! the piece reads it.

use super::bindings::bgwasm::sandbox::http;
use super::egress::{EgressDenied, EgressPolicy};
use super::limits::Limits;
use futures::FutureExt;
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

/// A fetch whose head arrived: the response's head, and its body still to
/// read. Or why there is none, in words for the piece's author.
pub type FetchOutcome = Result<(http::Response, BodyStream), String>;

/// Redirects one fetch may follow.
const MAX_REDIRECTS: usize = 10;
/// The most bytes one body read hands the guest: what is ready at once is
/// coalesced up to this, so a large body needs few round trips, and the guest
/// never holds more than this of it unless the piece keeps what it read.
pub const MAX_CHUNK_BYTES: usize = 64 << 10;

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

    /// Performs `request` up to the response's head; the body is read on
    /// demand through the [`BodyStream`], within the same time limit.
    pub async fn fetch(&self, request: http::Request, held: HeldBytes) -> FetchOutcome {
        let deadline = tokio::time::Instant::now() + self.timeout;
        match tokio::time::timeout_at(deadline, self.follow(request)).await {
            Ok(Ok((url, response))) => Ok(self.head(url, response, held, deadline)),
            Ok(Err(problem)) => Err(problem),
            Err(_) => Err(self.timed_out()),
        }
    }

    fn timed_out(&self) -> String {
        format!(
            "no complete response within {} (--fetch-timeout)",
            humantime::format_duration(self.timeout)
        )
    }

    async fn follow(
        &self,
        request: http::Request,
    ) -> Result<(reqwest::Url, reqwest::Response), String> {
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
            return Ok((url, response));
        }
        unreachable!("the loop returns by its last hop")
    }

    fn head(
        &self,
        url: reqwest::Url,
        response: reqwest::Response,
        held: HeldBytes,
        deadline: tokio::time::Instant,
    ) -> (http::Response, BodyStream) {
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
        let head = http::Response {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or("").to_owned(),
            url: url.to_string(),
            headers,
        };
        let body = BodyStream {
            response,
            leftover: Vec::new(),
            received: 0,
            max_bytes: self.max_response_bytes,
            held,
            max_held_bytes: self.max_held_bytes,
            deadline,
            timeout: self.timeout,
        };
        (head, body)
    }
}

/// The unread rest of a response's body.
pub struct BodyStream {
    response: reqwest::Response,
    /// What the network gave beyond the last read's cap, for the next read.
    leftover: Vec<u8>,
    received: usize,
    max_bytes: usize,
    held: HeldBytes,
    max_held_bytes: usize,
    deadline: tokio::time::Instant,
    timeout: std::time::Duration,
}

/// One read of a body: the next bytes, none at the end, or why it broke off.
pub type ChunkOutcome = Result<Option<Vec<u8>>, String>;

impl BodyStream {
    /// Reads the next bytes: what is left from the last read, or at least
    /// one chunk from the network, plus what else is ready at once, up to
    /// [`MAX_CHUNK_BYTES`]. The bytes returned are counted in the run's held
    /// bytes until the caller releases them.
    pub async fn next_chunk(&mut self) -> ChunkOutcome {
        let mut bytes = std::mem::take(&mut self.leftover);
        if bytes.is_empty() {
            match tokio::time::timeout_at(self.deadline, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => bytes.extend_from_slice(&chunk),
                Ok(Ok(None)) => return Ok(None),
                Ok(Err(error)) => return Err(describe(&error)),
                Err(_) => {
                    return Err(format!(
                        "the body did not arrive in full within {} (--fetch-timeout)",
                        humantime::format_duration(self.timeout)
                    ));
                }
            }
        }
        while bytes.len() < MAX_CHUNK_BYTES {
            match self.response.chunk().now_or_never() {
                Some(Ok(Some(chunk))) => bytes.extend_from_slice(&chunk),
                // The end or an error shows at the next read.
                _ => break,
            }
        }
        if bytes.len() > MAX_CHUNK_BYTES {
            self.leftover = bytes.split_off(MAX_CHUNK_BYTES);
        }
        self.received += bytes.len();
        if self.received > self.max_bytes {
            return Err(format!(
                "the response body is larger than the limit of {} bytes (--max-response-bytes)",
                self.max_bytes
            ));
        }
        self.held.hold(bytes.len(), self.max_held_bytes)?;
        Ok(Some(bytes))
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
