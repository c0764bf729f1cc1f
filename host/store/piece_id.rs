//! A piece's id: either given by the user or derived from the source, and
//! checked once so every later use can trust it (it appears in URLs, logs and
//! SQL keys).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The longest id accepted; longer ones are almost certainly a mistake.
pub const MAX_PIECE_ID_LEN: usize = 128;

/// A validated piece id: `[A-Za-z0-9._-]{1,128}` without `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PieceId(String);

/// Why a string is not a piece id. Each message names the id and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PieceIdError {
    #[error("piece id is empty; use 1 to {MAX_PIECE_ID_LEN} characters from A-Z a-z 0-9 . _ -")]
    Empty,
    #[error("piece id {id:?} is {len} characters long; the limit is {MAX_PIECE_ID_LEN}")]
    TooLong { id: String, len: usize },
    #[error("piece id {id:?} contains {found:?}; use only A-Z a-z 0-9 . _ -")]
    BadCharacter { id: String, found: char },
    #[error("piece id {id:?} contains \"..\", which is not allowed")]
    DotDot { id: String },
}

impl PieceId {
    /// Checks a user-given id.
    pub fn parse(id: &str) -> Result<Self, PieceIdError> {
        if id.is_empty() {
            return Err(PieceIdError::Empty);
        }
        let len = id.chars().count();
        if len > MAX_PIECE_ID_LEN {
            // Truncated so a megabyte of garbage does not end up in the error.
            let shown: String = id.chars().take(32).collect();
            return Err(PieceIdError::TooLong {
                id: format!("{shown}..."),
                len,
            });
        }
        if let Some(found) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(PieceIdError::BadCharacter {
                id: id.to_owned(),
                found,
            });
        }
        if id.contains("..") {
            return Err(PieceIdError::DotDot { id: id.to_owned() });
        }
        Ok(Self(id.to_owned()))
    }

    /// The content-addressed id of a source: the first 16 hex digits of its
    /// SHA-256, so adding the same source twice yields the same piece.
    pub fn for_source(source: &str) -> Self {
        Self(source_hash(source)[..16].to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The full hex SHA-256 of a source, stored so a changed source is visible.
pub fn source_hash(source: &str) -> String {
    hex::encode(Sha256::digest(source.as_bytes()))
}

impl fmt::Display for PieceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PieceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PieceId {
    type Error = PieceIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PieceId> for String {
    fn from(id: PieceId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for id in [
            "a",
            "counter-v2",
            "rss_reader.1",
            &"x".repeat(128),
            ".hidden",
        ] {
            assert!(PieceId::parse(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_what_could_escape_or_confuse() {
        assert_eq!(PieceId::parse(""), Err(PieceIdError::Empty));
        assert!(matches!(
            PieceId::parse("a/b"),
            Err(PieceIdError::BadCharacter { found: '/', .. })
        ));
        assert!(matches!(
            PieceId::parse("a b"),
            Err(PieceIdError::BadCharacter { .. })
        ));
        assert!(matches!(
            PieceId::parse("é"),
            Err(PieceIdError::BadCharacter { .. })
        ));
        assert!(matches!(
            PieceId::parse("a..b"),
            Err(PieceIdError::DotDot { .. })
        ));
        assert!(matches!(
            PieceId::parse(&"x".repeat(129)),
            Err(PieceIdError::TooLong { len: 129, .. })
        ));
    }

    #[test]
    fn content_addressed_ids_are_stable_and_short() {
        let a = PieceId::for_source("export const bgUpdater = () => 1;");
        assert_eq!(a, PieceId::for_source("export const bgUpdater = () => 1;"));
        assert_eq!(a.as_str().len(), 16);
        assert_ne!(a, PieceId::for_source("other"));
        assert!(PieceId::parse(a.as_str()).is_ok());
    }
}
