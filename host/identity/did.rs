//! The `did:key` form of an ed25519 public key, which is how spaces, the
//! operator and the daemon are named everywhere in bgwasm.
//!
//! A DID is `did:key:z` followed by base58btc of the multicodec prefix
//! `0xed 0x01` (ed25519-pub) and the 32-byte public key, exactly as the
//! reference system writes it, so that existing spaces keep their names.
//! Parsing is strict: DIDs arrive from API users, and a space's DID is the
//! only thing an authorization check compares against, so anything that is
//! not exactly one ed25519 `did:key` is refused with the reason.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// The text every ed25519 DID starts with: the `did:key` method and the
/// multibase prefix `z` for base58btc.
pub const DID_KEY_PREFIX: &str = "did:key:z";

/// The multicodec varint for an ed25519 public key (0xed, as a varint).
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];

/// Longest input echoed back in an error. DIDs come from untrusted requests,
/// and an error message must not become a way to reflect megabytes.
const MAX_ECHO_CHARS: usize = 80;

/// An ed25519 `did:key`: the name of a space, of the operator or of a daemon.
///
/// It holds the 32 bytes of a public key that is known to decode to a curve
/// point that is not of small order, so any [`Did`] value can verify
/// signatures. Only the bytes are kept (not the decompressed point, which is
/// six times larger) because DIDs are copied, hashed and compared far more
/// often than they verify anything.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Did([u8; 32]);

/// Why a string is not a usable ed25519 `did:key`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DidError {
    #[error(
        "it must start with \"did:key:z\" (an ed25519 did:key in base58btc, like did:key:z6Mk...)"
    )]
    WrongPrefix,
    #[error("the part after \"did:key:z\" is not base58btc: {0}")]
    BadBase58(String),
    #[error(
        "it is not an ed25519 key: its multicodec prefix is {found}, expected 0xed 0x01 (ed25519-pub)"
    )]
    WrongMulticodec { found: String },
    #[error(
        "the key decodes to {found} bytes, expected 34 (0xed 0x01 then a 32-byte public key); \
         the DID is probably truncated or has extra characters"
    )]
    WrongLength { found: usize },
    #[error("the 32 key bytes are not a valid ed25519 public key (not a point on the curve)")]
    NotOnCurve,
    #[error(
        "the key is a weak (small-order) ed25519 point, which anyone could sign for; \
         it cannot name a space or a signer"
    )]
    WeakKey,
}

/// A string that was refused as a DID, with what it was meant to be and why.
///
/// Displays as `invalid space DID "did:key:zX": <reason>`, ready to show to
/// the API user who sent it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct InvalidDid {
    /// What the DID was for ("space", "issuer", ...), or empty if unknown.
    pub role: &'static str,
    /// The input, cut to a length that is safe to echo.
    pub input: String,
    pub reason: DidError,
}

impl fmt::Display for InvalidDid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.role.is_empty() {
            write!(f, "invalid DID {:?}: {}", self.input, self.reason)
        } else {
            write!(
                f,
                "invalid {} DID {:?}: {}",
                self.role, self.input, self.reason
            )
        }
    }
}

impl Did {
    /// Parses a DID, naming what it is for in the error (e.g. `"space"`).
    pub fn parse_as(s: &str, role: &'static str) -> Result<Did, InvalidDid> {
        Did::decode(s).map_err(|reason| InvalidDid {
            role,
            input: echo(s),
            reason,
        })
    }

    /// Decodes a DID, giving only the reason when it is refused.
    pub fn decode(s: &str) -> Result<Did, DidError> {
        let encoded = s
            .strip_prefix(DID_KEY_PREFIX)
            .ok_or(DidError::WrongPrefix)?;
        let bytes = bs58::decode(encoded)
            .with_alphabet(bs58::Alphabet::BITCOIN)
            .into_vec()
            .map_err(|e| DidError::BadBase58(e.to_string()))?;
        if bytes.len() >= 2 && bytes[..2] != ED25519_MULTICODEC {
            return Err(DidError::WrongMulticodec {
                found: format!("0x{:02x} 0x{:02x}", bytes[0], bytes[1]),
            });
        }
        // The first byte is non-zero (0xed), so base58 has exactly one
        // spelling for these bytes: a parsed DID always prints back as the
        // same string, which matters because DIDs are compared and stored
        // as text elsewhere.
        let key: [u8; 32] = bytes
            .get(2..)
            .and_then(|k| k.try_into().ok())
            .ok_or(DidError::WrongLength { found: bytes.len() })?;
        Did::from_public_key_bytes(&key)
    }

    /// Wraps raw public key bytes, refusing bytes that are not a usable key.
    pub fn from_public_key_bytes(key: &[u8; 32]) -> Result<Did, DidError> {
        let point = VerifyingKey::from_bytes(key).map_err(|_| DidError::NotOnCurve)?;
        // A small-order key verifies signatures that nobody had to make, so
        // such a "space" would belong to everyone.
        if point.is_weak() {
            return Err(DidError::WeakKey);
        }
        Ok(Did(*key))
    }

    /// The ed25519 public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::from_bytes(&self.0).expect("a Did holds a key checked when it was made")
    }

    /// The 32 bytes of the public key.
    pub fn public_key_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Checks an ed25519 signature by this DID's key over `msg`.
    ///
    /// Uses strict verification (canonical `s`, no small-order `R`), so a
    /// signature has a single valid encoding and cannot be malleated into a
    /// second token that looks new.
    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> Result<(), SignatureInvalid> {
        self.verifying_key()
            .verify_strict(msg, &Signature::from_bytes(sig))
            .map_err(|_| SignatureInvalid { signer: *self })
    }
}

/// A signature that does not verify against the DID that supposedly made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the signature was not made by {signer}'s key over this message")]
pub struct SignatureInvalid {
    pub signer: Did,
}

fn echo(s: &str) -> String {
    if s.chars().count() <= MAX_ECHO_CHARS {
        s.to_owned()
    } else {
        let mut cut: String = s.chars().take(MAX_ECHO_CHARS).collect();
        cut.push('…');
        cut
    }
}

impl From<Did> for VerifyingKey {
    fn from(did: Did) -> VerifyingKey {
        did.verifying_key()
    }
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = [0u8; 34];
        bytes[..2].copy_from_slice(&ED25519_MULTICODEC);
        bytes[2..].copy_from_slice(&self.0);
        f.write_str(DID_KEY_PREFIX)?;
        f.write_str(&bs58::encode(bytes).into_string())
    }
}

impl fmt::Debug for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Did({self})")
    }
}

impl FromStr for Did {
    type Err = InvalidDid;

    fn from_str(s: &str) -> Result<Did, InvalidDid> {
        Did::parse_as(s, "")
    }
}

impl Serialize for Did {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Did {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Did, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMON_USER: &str = "did:key:z6Mkj5HyygpAVo2baUcx7kwTRoUbbBmk5egUQPHnV8arQ3SY";

    fn encode_raw(bytes: &[u8]) -> String {
        format!("{DID_KEY_PREFIX}{}", bs58::encode(bytes).into_string())
    }

    #[test]
    fn parses_and_prints_back_unchanged() {
        let did: Did = COMMON_USER.parse().unwrap();
        assert_eq!(did.to_string(), COMMON_USER);
        assert_eq!(format!("{did:?}"), format!("Did({COMMON_USER})"));
    }

    #[test]
    fn serde_uses_the_string_form() {
        let did: Did = COMMON_USER.parse().unwrap();
        let json = serde_json::to_string(&did).unwrap();
        assert_eq!(json, format!("\"{COMMON_USER}\""));
        assert_eq!(serde_json::from_str::<Did>(&json).unwrap(), did);
        let err = serde_json::from_str::<Did>("\"did:key:zX\"").unwrap_err();
        assert!(
            err.to_string().contains("invalid DID \"did:key:zX\""),
            "{err}"
        );
        assert!(serde_json::from_str::<Did>("42").is_err());
    }

    #[test]
    fn rejects_wrong_prefix() {
        for s in [
            "",
            "did:web:example.com",
            "did:key:",
            "DID:KEY:z6Mk",
            "did:key:u6Mk",
            "z6Mkj5Hyy",
        ] {
            assert_eq!(Did::decode(s), Err(DidError::WrongPrefix), "{s}");
        }
    }

    #[test]
    fn rejects_bad_base58() {
        // 0, O, I and l are not in the base58btc alphabet.
        let err = Did::decode("did:key:z6Mk0OIl").unwrap_err();
        assert!(matches!(err, DidError::BadBase58(_)), "{err:?}");
        let err = Did::decode(&format!("{COMMON_USER} ")).unwrap_err();
        assert!(matches!(err, DidError::BadBase58(_)), "{err:?}");
    }

    #[test]
    fn rejects_wrong_multicodec() {
        // 0x12 0x00 is a sha2-256 multihash, a common mix-up; 0xe7 0x01 is
        // secp256k1-pub.
        let mut bytes = vec![0xe7, 0x01];
        bytes.extend([7u8; 33]);
        let err = Did::decode(&encode_raw(&bytes)).unwrap_err();
        assert_eq!(
            err,
            DidError::WrongMulticodec {
                found: "0xe7 0x01".into()
            }
        );
    }

    #[test]
    fn rejects_wrong_length() {
        let did: Did = COMMON_USER.parse().unwrap();
        let mut bytes = vec![0xed, 0x01];
        bytes.extend_from_slice(&did.public_key_bytes()[..31]);
        assert_eq!(
            Did::decode(&encode_raw(&bytes)),
            Err(DidError::WrongLength { found: 33 })
        );
        bytes.extend([1, 2]);
        assert_eq!(
            Did::decode(&encode_raw(&bytes)),
            Err(DidError::WrongLength { found: 35 })
        );
        assert_eq!(
            Did::decode("did:key:zX"),
            Err(DidError::WrongLength { found: 1 })
        );
        assert_eq!(
            Did::decode("did:key:z"),
            Err(DidError::WrongLength { found: 0 })
        );
    }

    #[test]
    fn rejects_points_off_the_curve() {
        // y = 2 has no x on edwards25519, so these bytes do not decompress.
        let mut key = [0u8; 32];
        key[0] = 2;
        let mut bytes = vec![0xed, 0x01];
        bytes.extend(key);
        assert_eq!(Did::decode(&encode_raw(&bytes)), Err(DidError::NotOnCurve));
    }

    #[test]
    fn rejects_weak_keys() {
        // The identity point (y = 1) has order 1.
        let mut key = [0u8; 32];
        key[0] = 1;
        assert_eq!(Did::from_public_key_bytes(&key), Err(DidError::WeakKey));
    }

    #[test]
    fn error_names_the_role_and_input() {
        let err = Did::parse_as("did:key:zX", "space").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("invalid space DID \"did:key:zX\": "),
            "{msg}"
        );
        assert!(msg.contains("expected 34"), "{msg}");

        let long = "x".repeat(10_000);
        let msg = long.parse::<Did>().unwrap_err().to_string();
        assert!(
            msg.len() < 400,
            "error echoes too much: {} bytes",
            msg.len()
        );
    }

    #[test]
    fn verify_accepts_only_the_right_signature() {
        use ed25519_dalek::{Signer, SigningKey};
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let did = Did::from_public_key_bytes(key.verifying_key().as_bytes()).unwrap();
        let sig = key.sign(b"hello").to_bytes();
        did.verify(b"hello", &sig).unwrap();
        assert!(did.verify(b"hellO", &sig).is_err());
        let mut bad = sig;
        bad[10] ^= 1;
        let err = did.verify(b"hello", &bad).unwrap_err();
        assert!(err.to_string().contains(&did.to_string()));
    }
}
