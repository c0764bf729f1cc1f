//! Carries out a piece's fetches for its sandbox, under the run's limits.

use super::bindings::bgwasm::sandbox::http;
use super::limits::Limits;

/// A finished fetch: the response, or why there is none, in words for the
/// piece's author.
pub type FetchOutcome = Result<http::Response, String>;

/// Performs fetches with the shared HTTP client and one sandbox's limits.
pub struct Fetcher {
    client: reqwest::Client,
    max_response_bytes: usize,
    timeout: std::time::Duration,
}

impl Fetcher {
    pub fn new(client: reqwest::Client, limits: &Limits) -> Self {
        Self {
            client,
            max_response_bytes: limits.max_response_bytes,
            timeout: limits.fetch_timeout,
        }
    }

    pub async fn fetch(&self, request: http::Request) -> FetchOutcome {
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| format!("invalid URL {:?}: {e}", request.url))?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("invalid method {:?}", request.method))?;
        let mut builder = self.client.request(method, url).timeout(self.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder.send().await.map_err(|e| describe(&e))?;
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
        let final_url = response.url().to_string();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(format!(
                    "the response body is larger than the limit of {} bytes (--max-response-bytes)",
                    self.max_response_bytes
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(http::Response {
            status: status.as_u16(),
            status_text: status.canonical_reason().unwrap_or("").to_owned(),
            url: final_url,
            headers,
            body,
        })
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the request timed out".to_owned()
    } else if error.is_connect() {
        format!(
            "cannot connect: {}",
            std::error::Error::source(error)
                .map(|s| s.to_string())
                .unwrap_or_else(|| error.to_string())
        )
    } else {
        error.to_string()
    }
}
