//! Which store a command opens, parsed once from `--store URL`,
//! `--data-dir DIR` or `DATABASE_URL`.
//!
//! - `sqlite:///var/lib/bgwasm` (or `sqlite:relative/dir`, or a bare
//!   `--data-dir`): the embedded SQLite database in that data directory.
//! - `postgres://user[:password]@host[:port]/database[?options]` (or
//!   `postgresql://`): a PostgreSQL database, shared by any number of daemons.
//!
//! A URL's password never reaches a log line or an error message: both show
//! it as `***`.

use super::{LeaseConfig, PostgresStore, SqliteStore, Store, StoreError};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// The forms a store URL takes, for error messages.
const ACCEPTED: &str = "use sqlite:///path/to/data-dir (the embedded store) or \
    postgres://user@host:port/database";

/// How long opening a PostgreSQL connection may take, unless the URL says
/// (`?connect_timeout=SECONDS`).
const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A store to open.
#[derive(Clone)]
pub enum StoreUrl {
    /// The embedded store in this data directory.
    Sqlite { data_dir: PathBuf },
    /// A PostgreSQL database.
    Postgres {
        config: Box<tokio_postgres::Config>,
        /// The URL with its password replaced by `***`.
        shown: String,
    },
}

/// A store URL that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("the store URL {shown} {reason}; {ACCEPTED}")]
pub struct StoreUrlError {
    /// The URL as given, its password replaced by `***`.
    pub shown: String,
    pub reason: String,
}

impl StoreUrl {
    /// The embedded store in `data_dir`.
    pub fn sqlite(data_dir: impl Into<PathBuf>) -> Self {
        Self::Sqlite {
            data_dir: data_dir.into(),
        }
    }

    /// Opens the store (creating and migrating it if needed).
    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        self.open_as(LeaseConfig::default_for_this_process()).await
    }

    /// Opens the store as node `lease.node` with leases of `lease.ttl`. Only
    /// PostgreSQL has leases: a SQLite store is one daemon's alone.
    pub async fn open_as(&self, lease: LeaseConfig) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Self::Sqlite { data_dir } => {
                let dir = data_dir.clone();
                let store = tokio::task::spawn_blocking(move || SqliteStore::open(&dir))
                    .await
                    .map_err(|_| StoreError::TaskFailed {
                        context: "opening the store",
                    })??;
                Arc::new(store)
            }
            Self::Postgres { .. } => Arc::new(self.open_postgres().await?.as_node(lease)),
        })
    }

    /// Opens a PostgreSQL store; `None` for a SQLite URL.
    pub async fn open_postgres(&self) -> Result<PostgresStore, StoreError> {
        match self {
            Self::Postgres { config, shown } => PostgresStore::connect(config, shown).await,
            Self::Sqlite { .. } => Err(StoreError::PostgresSetup {
                reason: format!("{self} is not a PostgreSQL URL"),
            }),
        }
    }
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| StoreUrlError {
            shown: redact(given),
            reason: reason.to_owned(),
        };
        let given_trimmed = given.trim();
        if let Some(path) = given_trimmed.strip_prefix("sqlite:") {
            // sqlite:///abs/dir and sqlite://rel/dir and sqlite:rel/dir.
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(fail("names no data directory"));
            }
            return Ok(Self::sqlite(path));
        }
        if given_trimmed.starts_with("postgres://") || given_trimmed.starts_with("postgresql://") {
            let mut config = tokio_postgres::Config::from_str(given_trimmed)
                .map_err(|error| fail(&format!("does not parse ({error})")))?;
            if config.get_hosts().is_empty() {
                return Err(fail("names no host"));
            }
            if config.get_connect_timeout().is_none() {
                config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
            }
            if config.get_application_name().is_none() {
                config.application_name("bgwasm");
            }
            return Ok(Self::Postgres {
                config: Box::new(config),
                shown: redact(given_trimmed),
            });
        }
        Err(fail("is neither a sqlite: nor a postgres: URL"))
    }
}

/// Shows where the store is, never a password.
impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { data_dir } => write!(f, "sqlite://{}", data_dir.display()),
            Self::Postgres { shown, .. } => f.write_str(shown),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

/// `given` with the password of its user-info (`user:password@`) replaced by
/// `***`; other text as it is.
fn redact(given: &str) -> String {
    let Some(scheme_end) = given.find("://") else {
        return given.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &given[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return given.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return given.to_owned();
    };
    format!(
        "{}{}***{}",
        &given[..authority_start],
        &authority[..=colon],
        &given[authority_start + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_data_directory() {
        for (url, dir) in [
            ("sqlite:///var/lib/bgwasm", "/var/lib/bgwasm"),
            ("sqlite://data", "data"),
            ("sqlite:data/x", "data/x"),
        ] {
            match url.parse::<StoreUrl>().unwrap() {
                StoreUrl::Sqlite { data_dir } => assert_eq!(data_dir, PathBuf::from(dir), "{url}"),
                other => panic!("{url} parsed as {other}"),
            }
        }
    }

    #[test]
    fn postgres_urls_keep_their_settings_and_never_show_the_password() {
        let url: StoreUrl = "postgres://ann:s3cret@db.example:6543/jobs?connect_timeout=3"
            .parse()
            .unwrap();
        let StoreUrl::Postgres { config, shown } = &url else {
            panic!("parsed as {url}");
        };
        assert_eq!(config.get_user(), Some("ann"));
        assert_eq!(config.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(config.get_dbname(), Some("jobs"));
        assert_eq!(config.get_ports(), &[6543]);
        assert_eq!(
            shown,
            "postgres://ann:***@db.example:6543/jobs?connect_timeout=3"
        );
        assert!(!format!("{url} {url:?}").contains("s3cret"));
        let plain: StoreUrl = "postgresql://bgwasm@127.0.0.1/bg".parse().unwrap();
        assert_eq!(plain.to_string(), "postgresql://bgwasm@127.0.0.1/bg");
    }

    #[test]
    fn a_bad_url_is_named_with_the_accepted_forms_and_without_its_password() {
        for (url, reason) in [
            (
                "mysql://root:hunter2@db/x",
                "neither a sqlite: nor a postgres: URL",
            ),
            ("postgres://ann:hunter2@db:notaport/x", "does not parse"),
            ("sqlite://", "names no data directory"),
        ] {
            let error = url.parse::<StoreUrl>().unwrap_err().to_string();
            assert!(error.contains(reason), "{error}");
            assert!(
                error.contains("postgres://user@host:port/database"),
                "{error}"
            );
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
