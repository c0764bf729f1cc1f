//! Which spaces the API accepts: a did:key naming an ed25519 key.

use super::error::ApiError;
use crate::identity::Did;

/// The check every handler runs on a space before using it.
pub fn validate_space(space: &str) -> Result<(), ApiError> {
    Did::parse_as(space, "space")
        .map(|_| ())
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_did_keys_and_rejects_the_rest() {
        assert!(validate_space("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK").is_ok());
        for bad in [
            "",
            "did:key:",
            "did:key:z",
            "did:web:example.com",
            "did:key:z6Mk0",
            "did:key:z6Mk/x",
            "did:key:zl",
        ] {
            assert!(validate_space(bad).is_err(), "{bad}");
        }
        assert!(validate_space(&format!("did:key:z{}", "a".repeat(300))).is_err());
    }
}
