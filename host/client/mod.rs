//! The CLI client: commands that talk to a running daemon at `API_URL`,
//! signing every request for the user. Every space and piece id is checked
//! here, before any request, so a bad one gets a clear local error; URLs are
//! built from the checked values (`http.rs`), and answers are read into
//! typed structs (`answers.rs`).

mod answers;
mod dashboard;
mod http;
mod replay;
mod runs;
mod table;

pub use answers::{PastRun, RunHistory};
pub use dashboard::dashboard_login;
pub use http::{ApiClient, Target};
pub use replay::replay;
pub use runs::{runs, write_runs_table};
pub use table::{StatusRow, write_status_table};

use crate::identity::{DEFAULT_OPERATOR_PASSPHRASE, Did, Identity, SpaceRef};
use crate::sandbox::{Lang, RunOutcome};
use crate::store::PieceId;
use answers::{Ack, PieceAdded, RegisterBody, RegistrationStatus};
use http::decode;
use reqwest::Method;
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

/// A piece id given on the command line, checked before any request.
fn piece_id(text: &str) -> Result<PieceId, ClientError> {
    PieceId::parse(text).map_err(|e| ClientError::Usage(e.to_string()))
}

/// `bgwasm piece add`: uploads `file` to `space` (under `id`, or its
/// content-addressed id) as a piece in `lang` and, given an integration,
/// registers it.
pub async fn add_piece(
    args: &ClientConfig,
    file: &Path,
    space: &str,
    id: Option<&str>,
    lang: Lang,
    register: Option<&str>,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let space = args.space(space)?;
    let id = id.map(piece_id).transpose()?;
    let source = std::fs::read(file).map_err(|source| ClientError::ReadFile {
        path: file.to_owned(),
        source,
    })?;
    let client = args.client(Some(&space))?;
    let did = space.did().to_string();
    let segments = ["api", "spaces", &did, "pieces"];
    let mut query = vec![("lang", lang.as_str())];
    if let Some(id) = &id {
        query.push(("id", id.as_str()));
    }
    let target = Target::path(&segments).with_query(&query);
    let answer = client.call(Method::POST, target, source).await?;
    let added: PieceAdded = decode(&answer, "adding a piece")?;
    writeln!(out, "{}", added.piece_id)?;
    if let Some(integration) = register {
        register_piece(&client, space.did(), &added.piece_id, integration).await?;
        writeln!(
            out,
            "registered {did}/{} ({integration}); it runs now and every interval after",
            added.piece_id
        )?;
    }
    Ok(())
}

async fn register_piece(
    client: &ApiClient,
    space: Did,
    piece_id: &PieceId,
    integration: &str,
) -> Result<(), ClientError> {
    let body = RegisterBody {
        piece_id,
        space,
        integration,
    };
    let body = serde_json::to_vec(&body).map_err(|e| ClientError::Usage(e.to_string()))?;
    let answer = client
        .call(
            Method::POST,
            Target::path(&["api", "integrations", "bg"]),
            body,
        )
        .await?;
    decode::<Ack>(&answer, "registering a piece")?.confirmed("registering a piece")
}

/// `bgwasm register`.
pub async fn register(
    args: &ClientConfig,
    space: &str,
    piece_id_text: &str,
    integration: &str,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let space = args.space(space)?;
    let id = piece_id(piece_id_text)?;
    let client = args.client(Some(&space))?;
    register_piece(&client, space.did(), &id, integration).await?;
    writeln!(out, "registered {}/{id} ({integration})", space.did())?;
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
    piece_id_text: &str,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<bool, ClientError> {
    let space = args.space(space)?;
    let id = piece_id(piece_id_text)?;
    let client = args.client(Some(&space))?;
    let did = space.did().to_string();
    let piece = ["api", "spaces", &did, "pieces", id.as_str()];
    let with = |last: &'static str| [&piece[..], &[last]].concat();
    let (method, segments) = match action {
        PieceAction::Enable => (Method::POST, with("enable")),
        PieceAction::Disable => (Method::POST, with("disable")),
        PieceAction::Unregister => (Method::DELETE, piece.to_vec()),
        PieceAction::Run => (Method::POST, with("run")),
    };
    let answer = client
        .call(method, Target::path(&segments), Vec::new())
        .await?;
    let what = format!("acting on piece {id}");
    if json_out {
        let value: serde_json::Value = decode(&answer, &what)?;
        writeln!(out, "{value}")?;
    }
    match action {
        PieceAction::Run => {
            let outcome: RunOutcome = decode(&answer, &what)?;
            if !json_out {
                outcome.write_summary(out, id.as_str())?;
            }
            Ok(outcome.ok)
        }
        PieceAction::Unregister => {
            decode::<Ack>(&answer, &what)?.confirmed(&what)?;
            if !json_out {
                writeln!(out, "unregistered {did}/{id}")?;
            }
            Ok(true)
        }
        PieceAction::Enable | PieceAction::Disable => {
            let registration: RegistrationStatus = decode(&answer, &what)?;
            if !json_out {
                writeln!(out, "{did}/{id}: {}", registration.status)?;
            }
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
    let did = space.as_ref().map(|s| s.did().to_string());
    let query = did.as_deref().map(|did| [("space", did)]);
    let target = Target::path(&["api", "integrations", "bg"])
        .with_query(query.as_ref().map_or(&[], |q| &q[..]));
    let answer = client.call(Method::GET, target, Vec::new()).await?;
    if json_out {
        let value: serde_json::Value = decode(&answer, "listing registrations")?;
        writeln!(out, "{value}")?;
        return Ok(());
    }
    let rows: Vec<StatusRow> = decode(&answer, "listing registrations")?;
    write_status_table(out, &rows, crate::scheduler::Clock::system().now())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing listens here: a command that got as far as a request would
    /// fail with `Unreachable`, not `Usage`.
    fn nowhere() -> ClientConfig {
        ClientConfig {
            api_url: "http://127.0.0.1:9".into(),
            identity: None,
            space_root: "common user".into(),
        }
    }

    fn usage_error(result: Result<impl std::fmt::Debug, ClientError>) -> String {
        match result {
            Err(ClientError::Usage(message)) => message,
            other => panic!("expected a local usage error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn bad_piece_ids_are_refused_before_any_request() {
        let config = nowhere();
        for bad in ["../../x", "a b", "ok&id=z", "a/b", "..", ""] {
            for action in [
                PieceAction::Enable,
                PieceAction::Disable,
                PieceAction::Unregister,
                PieceAction::Run,
            ] {
                let message =
                    usage_error(act(&config, action, "alice", bad, false, &mut Vec::new()).await);
                assert!(message.contains("piece id"), "{bad:?}: {message}");
            }
            let message =
                usage_error(register(&config, "alice", bad, "rss", &mut Vec::new()).await);
            assert!(message.contains("piece id"), "{bad:?}: {message}");
            let file = Path::new("/nonexistent/piece.js");
            let message = usage_error(
                add_piece(
                    &config,
                    file,
                    "alice",
                    Some(bad),
                    Lang::JavaScript,
                    None,
                    &mut Vec::new(),
                )
                .await,
            );
            assert!(message.contains("piece id"), "{bad:?}: {message}");
        }
    }

    #[tokio::test]
    async fn bad_spaces_are_refused_before_any_request() {
        let config = nowhere();
        for bad in ["did:key:zNOPE", "did:web:x", ""] {
            let message =
                usage_error(act(&config, PieceAction::Run, bad, "p", false, &mut Vec::new()).await);
            assert!(message.contains("space"), "{bad:?}: {message}");
            usage_error(status(&config, Some(bad), false, &mut Vec::new()).await);
        }
    }

    #[tokio::test]
    async fn a_good_request_gets_as_far_as_the_network() {
        let result = act(
            &nowhere(),
            PieceAction::Enable,
            "alice",
            "p1",
            false,
            &mut Vec::new(),
        )
        .await;
        assert!(
            matches!(result, Err(ClientError::Unreachable { .. })),
            "{result:?}"
        );
    }
}
