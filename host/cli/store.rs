//! Which store a command opens (`--store URL`, `--data-dir DIR`,
//! `DATABASE_URL`), and `bgwasm store migrate`'s flags.

use super::exit::{EXIT_RUN_FAILED, EXIT_USAGE};
use crate::store::{StoreUrl, StoreUrlError};
use clap::{Args, Subcommand};
use std::path::Path;
use std::process::ExitCode;

/// The environment variable a daemon reads its store URL from.
pub const DATABASE_URL: &str = "DATABASE_URL";

/// The store a command opens: `--store URL` first, then `--data-dir DIR`
/// (the embedded store), then, if `read_env`, `$DATABASE_URL`; `None` when
/// none is given. Parsed once, here.
pub fn store_url(
    store: Option<&str>,
    data_dir: Option<&Path>,
    read_env: bool,
) -> Result<Option<StoreUrl>, StoreUrlError> {
    if let Some(url) = store {
        return url.parse().map(Some);
    }
    if let Some(dir) = data_dir {
        return Ok(Some(StoreUrl::sqlite(dir)));
    }
    match std::env::var(DATABASE_URL) {
        Ok(url) if read_env && !url.trim().is_empty() => url.parse().map(Some),
        _ => Ok(None),
    }
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy everything from one store into another, empty one: pieces,
    /// registrations (with their phases and failure counts), run history and
    /// cells. Stop the daemons of the old store first.
    #[command(after_help = "Example:\n  \
        bgwasm store migrate --from sqlite:///var/lib/bgwasm --to postgres://bgwasm@db:5432/bgwasm")]
    Migrate(MigrateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The store to copy from: sqlite:///path/to/data-dir or
    /// postgres://user@host:port/database. It is only read.
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The store to copy into: postgres://user@host:port/database. It must be
    /// empty; its schema is created if needed.
    #[arg(long, value_name = "URL")]
    pub to: String,
}

/// Runs `store migrate`: exit 0 when everything was copied, 2 on a bad URL,
/// 1 when the copy failed (nothing is half-copied).
pub fn migrate(runtime: &tokio::runtime::Runtime, args: &MigrateArgs) -> ExitCode {
    let (from, to) = match (args.from.parse::<StoreUrl>(), args.to.parse::<StoreUrl>()) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(error), _) => return usage(&format!("--from: {error}")),
        (_, Err(error)) => return usage(&format!("--to: {error}")),
    };
    match runtime.block_on(crate::store::migrate::migrate(&from, &to)) {
        Ok(copied) => {
            println!("copied {} from {from} to {to}", copied.summary());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bgwasm store migrate: {error}");
            ExitCode::from(EXIT_RUN_FAILED)
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("bgwasm store migrate: {problem}");
    ExitCode::from(EXIT_USAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_flag_wins_over_the_data_dir() {
        let url = store_url(
            Some("postgres://u@127.0.0.1:5/db"),
            Some(Path::new("x")),
            false,
        )
        .unwrap()
        .unwrap();
        assert!(matches!(url, StoreUrl::Postgres { .. }), "{url}");
        let url = store_url(None, Some(Path::new("x")), false)
            .unwrap()
            .unwrap();
        assert_eq!(url.to_string(), "sqlite://x");
        assert!(store_url(None, None, false).unwrap().is_none());
        assert!(store_url(Some("nope://x"), None, false).is_err());
    }
}
