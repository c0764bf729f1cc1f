//! `bgwasm dashboard`: asks the daemon for a one-time login URL to its web
//! dashboard and prints it.

use super::http::{Target, decode};
use super::{ClientConfig, ClientError};
use reqwest::Method;
use serde::Deserialize;
use std::io::Write;

/// The daemon's answer to `POST .../dashboard/login`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginUrl {
    path: String,
    access: String,
    expires_in_secs: u64,
}

/// Prints a login URL on `out` (alone on its line, for scripts) and what it
/// gives on `note`. Signed by the operator, or with `space` by that space's
/// key (or `--identity`), for a login limited to that space.
pub async fn dashboard_login(
    args: &ClientConfig,
    space: Option<&str>,
    out: &mut dyn Write,
    note: &mut dyn Write,
) -> Result<(), ClientError> {
    let space = space.map(|s| args.space(s)).transpose()?;
    let client = args.client(space.as_ref())?;
    let did = space.as_ref().map(|s| s.did().to_string());
    let segments: Vec<&str> = match &did {
        Some(did) => vec!["api", "spaces", did, "dashboard", "login"],
        None => vec!["api", "dashboard", "login"],
    };
    let answer = client
        .call(Method::POST, Target::path(&segments), Vec::new())
        .await?;
    let login: LoginUrl = decode(&answer, "asking for a dashboard login")?;
    let path: Vec<&str> = login.path.split('/').filter(|s| !s.is_empty()).collect();
    if path.len() != 3 || path[..2] != ["dashboard", "login"] {
        return Err(ClientError::Unexpected(format!(
            "the daemon's login path {:?} is not /dashboard/login/TOKEN",
            login.path
        )));
    }
    writeln!(out, "{}", client.url(Target::path(&path))?)?;
    let access = if login.access == "all" {
        "every space (operator)".to_owned()
    } else {
        format!("space {} only", login.access)
    };
    writeln!(
        note,
        "Open this URL in a browser within {} s; it works once and logs in to {access}.",
        login.expires_in_secs
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_space_is_refused_before_any_request() {
        // Nothing listens here: a request would fail as Unreachable.
        let config = ClientConfig {
            api_url: "http://127.0.0.1:9".into(),
            identity: None,
            space_root: "common user".into(),
        };
        let (mut out, mut note) = (Vec::new(), Vec::new());
        for bad in ["did:key:zNOPE", "did:web:x", ""] {
            let result = dashboard_login(&config, Some(bad), &mut out, &mut note).await;
            assert!(
                matches!(&result, Err(ClientError::Usage(m)) if m.contains("space")),
                "{bad:?}: {result:?}"
            );
        }
        let result = dashboard_login(&config, Some("alice"), &mut out, &mut note).await;
        assert!(
            matches!(result, Err(ClientError::Unreachable { .. })),
            "{result:?}"
        );
        assert!(out.is_empty());
    }
}
