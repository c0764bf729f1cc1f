//! Which spaces the API accepts. The identity module will own the real check
//! (a did:key naming an ed25519 key); until it is wired in, this accepts the
//! did:key syntax: `did:key:z` followed by base58btc characters.

use super::error::ApiError;

/// Longer than any did:key of a supported key type.
const MAX_SPACE_LEN: usize = 256;

const DID_KEY_PREFIX: &str = "did:key:z";

/// The hook every handler calls on a space before using it.
pub fn validate_space(space: &str) -> Result<(), ApiError> {
    let invalid = |why: &str| {
        let shown: String = space.chars().take(64).collect();
        ApiError::bad_request(format!(
            "space {shown:?} is not a did:key ({why}); expected did:key:z followed by base58btc characters"
        ))
    };
    if space.len() > MAX_SPACE_LEN {
        return Err(invalid("too long"));
    }
    let Some(key) = space.strip_prefix(DID_KEY_PREFIX) else {
        return Err(invalid("wrong prefix"));
    };
    if key.is_empty() {
        return Err(invalid("no key after the prefix"));
    }
    if !key.bytes().all(is_base58btc) {
        return Err(invalid("a character outside base58btc"));
    }
    Ok(())
}

/// Base58btc: alphanumerics without 0, O, I and l.
fn is_base58btc(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() && !matches!(byte, b'0' | b'O' | b'I' | b'l')
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
