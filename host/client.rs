//! The CLI client: commands that talk to a running daemon at `API_URL`,
//! signing every request for the user.

use crate::auth::{now_unix, sign_request};
use crate::identity::{DEFAULT_OPERATOR_PASSPHRASE, Did, Identity, SpaceRef};
use crate::sandbox::RunOutcome;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the daemon is and who signs (the command line's client flags).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The daemon's address.
    pub api_url: String,
    /// Sign with this keyfile (a space's key or the operator's).
    pub identity: Option<PathBuf>,
    /// The passphrase a space name derives from.
    pub space_root: String,
}

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error(
        "cannot reach the daemon at {url}: {problem}; is `bgwasm serve` running there? Set API_URL or --api-url"
    )]
    Unreachable { url: String, problem: String },
    #[error("the daemon answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("the daemon's answer is not what bgwasm expected: {0}")]
    Unexpected(String),
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Output(#[from] std::io::Error),
}

/// A signed connection to one daemon.
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    signer: Identity,
    audience: tokio::sync::OnceCell<Did>,
}

impl ApiClient {
    pub fn new(base: &str, signer: Identity) -> Result<Self, ClientError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("bgwasm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Usage(format!("cannot make an HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            signer,
            audience: tokio::sync::OnceCell::new(),
        })
    }

    /// The daemon's DID, which tokens name as their audience; `/healthz`
    /// publishes it.
    async fn audience(&self) -> Result<Did, ClientError> {
        self.audience
            .get_or_try_init(|| async {
                let health = self.send(Method::GET, "/healthz", Vec::new(), None).await?;
                health["did"]
                    .as_str()
                    .and_then(|did| did.parse().ok())
                    .ok_or_else(|| ClientError::Unexpected("/healthz names no daemon DID".into()))
            })
            .await
            .copied()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        authorization: Option<String>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).body(body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            problem: std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string()),
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        let json: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        if !status.is_success() {
            let message = json["error"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| json.to_string());
            return Err(ClientError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        Ok(json)
    }

    /// Sends a signed request and returns the JSON answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Value, ClientError> {
        let audience = self.audience().await?;
        let token = sign_request(
            &self.signer,
            &audience,
            method.as_str(),
            path,
            &body,
            now_unix(),
        );
        self.send(method, path, body, Some(token)).await
    }
}

impl ClientConfig {
    fn space(&self, text: &str) -> Result<SpaceRef, ClientError> {
        SpaceRef::parse(text, &self.space_root).map_err(|e| ClientError::Usage(e.to_string()))
    }

    /// The signer: `--identity`, else the named space's own key, else the
    /// operator.
    fn client(&self, space: Option<&SpaceRef>) -> Result<ApiClient, ClientError> {
        let signer = match (&self.identity, space.and_then(SpaceRef::identity)) {
            (Some(path), _) => {
                Identity::from_pem_file(path).map_err(|e| ClientError::Usage(e.to_string()))?
            }
            (None, Some(space_key)) => space_key.clone(),
            (None, None) => {
                let pass = std::env::var("OPERATOR_PASS")
                    .ok()
                    .filter(|p| !p.is_empty());
                Identity::from_passphrase(pass.as_deref().unwrap_or(DEFAULT_OPERATOR_PASSPHRASE))
            }
        };
        ApiClient::new(&self.api_url, signer)
    }
}

fn piece_path(space: &Did, piece_id: &str) -> String {
    format!("/api/spaces/{space}/pieces/{piece_id}")
}

/// `bgwasm piece add`: uploads `file` to `space` (under `id`, or its
/// content-addressed id) and, given an integration, registers it.
pub async fn add_piece(
    args: &ClientConfig,
    file: &Path,
    space: &str,
    id: Option<&str>,
    register: Option<&str>,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let space = args.space(space)?;
    let source = std::fs::read(file).map_err(|source| ClientError::ReadFile {
        path: file.to_owned(),
        source,
    })?;
    let client = args.client(Some(&space))?;
    let mut path = format!("/api/spaces/{}/pieces", space.did());
    if let Some(id) = id {
        path.push_str(&format!("?id={id}"));
    }
    let added = client.call(Method::POST, &path, source).await?;
    let piece_id = added["pieceId"]
        .as_str()
        .ok_or_else(|| ClientError::Unexpected(format!("no pieceId in {added}")))?
        .to_owned();
    writeln!(out, "{piece_id}")?;
    if let Some(integration) = register {
        register_piece(&client, &space.did(), &piece_id, integration).await?;
        writeln!(
            out,
            "registered {}/{piece_id} ({integration}); it runs now and every interval after",
            space.did()
        )?;
    }
    Ok(())
}

async fn register_piece(
    client: &ApiClient,
    space: &Did,
    piece_id: &str,
    integration: &str,
) -> Result<Value, ClientError> {
    let body =
        json!({ "pieceId": piece_id, "space": space.to_string(), "integration": integration });
    client
        .call(
            Method::POST,
            "/api/integrations/bg",
            body.to_string().into_bytes(),
        )
        .await
}

/// `bgwasm register`.
pub async fn register(
    args: &ClientConfig,
    space: &str,
    piece_id: &str,
    integration: &str,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let space = args.space(space)?;
    let client = args.client(Some(&space))?;
    register_piece(&client, &space.did(), piece_id, integration).await?;
    writeln!(out, "registered {}/{piece_id} ({integration})", space.did())?;
    Ok(())
}

/// What `enable`, `disable`, `unregister` and `run` do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceAction {
    Enable,
    Disable,
    Unregister,
    Run,
}

/// `bgwasm enable|disable|unregister|run`. Returns whether the action
/// succeeded (for `run`: whether the piece did).
pub async fn act(
    args: &ClientConfig,
    action: PieceAction,
    space: &str,
    piece_id: &str,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<bool, ClientError> {
    let space = args.space(space)?;
    let client = args.client(Some(&space))?;
    let path = piece_path(&space.did(), piece_id);
    let (method, path) = match action {
        PieceAction::Enable => (Method::POST, format!("{path}/enable")),
        PieceAction::Disable => (Method::POST, format!("{path}/disable")),
        PieceAction::Unregister => (Method::DELETE, path),
        PieceAction::Run => (Method::POST, format!("{path}/run")),
    };
    let answer = client.call(method, &path, Vec::new()).await?;
    if json_out {
        writeln!(out, "{answer}")?;
        return Ok(action != PieceAction::Run || answer["ok"] == json!(true));
    }
    match action {
        PieceAction::Run => {
            let outcome: RunOutcome = serde_json::from_value(answer)
                .map_err(|e| ClientError::Unexpected(e.to_string()))?;
            outcome.write_summary(out, piece_id)?;
            Ok(outcome.ok)
        }
        PieceAction::Unregister => {
            writeln!(out, "unregistered {}/{piece_id}", space.did())?;
            Ok(true)
        }
        PieceAction::Enable | PieceAction::Disable => {
            writeln!(
                out,
                "{}/{piece_id}: {}",
                space.did(),
                answer["status"].as_str().unwrap_or("?")
            )?;
            Ok(true)
        }
    }
}

/// `bgwasm status`: every registration (the operator's view), or one space's.
pub async fn status(
    args: &ClientConfig,
    space: Option<&str>,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let space = space.map(|s| args.space(s)).transpose()?;
    let client = args.client(space.as_ref())?;
    let path = match &space {
        Some(space) => format!("/api/integrations/bg?space={}", space.did()),
        None => "/api/integrations/bg".to_owned(),
    };
    let list = client.call(Method::GET, &path, Vec::new()).await?;
    if json_out {
        writeln!(out, "{list}")?;
        return Ok(());
    }
    let rows = list.as_array().cloned().unwrap_or_default();
    write_status_table(out, &rows, crate::scheduler::Clock::system().now())?;
    Ok(())
}

/// The registrations as a table a person can read.
pub fn write_status_table(out: &mut dyn Write, rows: &[Value], now_ms: i64) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(
            out,
            "no registrations; add one with `bgwasm piece add FILE --space S --register`"
        );
    }
    let short = |did: &str| {
        if did.len() > 20 {
            format!("{}…{}", &did[..14], &did[did.len() - 4..])
        } else {
            did.to_owned()
        }
    };
    let when = |ms: i64| -> String {
        if ms <= 0 {
            return "-".into();
        }
        let delta = (ms - now_ms) / 1000;
        if delta >= 0 {
            format!("in {delta}s")
        } else {
            format!("{}s ago", -delta)
        }
    };
    writeln!(
        out,
        "{:<20} {:<18} {:<12} {:>5} {:>5} {:>10} {:>10}  STATUS",
        "SPACE", "PIECE", "INTEGRATION", "RUNS", "FAILS", "LAST RUN", "NEXT RUN"
    )?;
    for row in rows {
        let text = |field: &str| row[field].as_str().unwrap_or("").to_owned();
        let number = |field: &str| row[field].as_i64().unwrap_or(0);
        let disabled = number("disabledAt") > 0;
        writeln!(
            out,
            "{:<20} {:<18} {:<12} {:>5} {:>5} {:>10} {:>10}  {}",
            short(&text("space")),
            text("pieceId"),
            text("integration"),
            number("totalRuns"),
            number("consecutiveFailures"),
            when(number("lastRun")),
            if disabled {
                "-".into()
            } else {
                when(number("nextRun"))
            },
            text("status"),
        )?;
    }
    Ok(())
}
