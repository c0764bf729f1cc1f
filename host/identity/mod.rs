//! Ed25519 identities: the keys that own spaces and sign requests, made the
//! same way as in the reference system so that existing spaces keep their
//! DIDs.
//!
//! - [`Identity::from_passphrase`]: the seed is SHA-256 of the passphrase.
//! - [`Identity::derive`]: the child seed is SHA-256 of the parent's
//!   signature over the child's name (ed25519 signatures are deterministic,
//!   so this is a pure function of parent and name).
//! - [`Did`]: `did:key:z` + base58btc(`0xed 0x01` ++ public key).
//! - Keyfiles: a PKCS#8 key in PEM, written in the reference form (`M` +
//!   base64pad) or as standard PKCS#8 PEM ([`KeyFormat`]); both are read,
//!   see [`Identity::from_pem_file`].
//! - A space given by name is `from_passphrase(root).derive(name)` with the
//!   root passphrase `"common user"` unless configured ([`SpaceRef`]).
//! - The daemon's operator key comes from a keyfile or a passphrase
//!   (`"implicit trust"` by default, [`operator_identity_from_env`]).

mod did;
mod keyfile;

use std::fmt;
use std::path::Path;

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

pub use did::{DID_KEY_PREFIX, Did, DidError, InvalidDid, SignatureInvalid};
pub use keyfile::{BodyError, KeyFormat, KeyfileError, PKCS8_ED25519_PREFIX, PemError};

/// The root passphrase the reference system derives named spaces from.
pub const DEFAULT_SPACE_ROOT_PASSPHRASE: &str = "common user";

/// The reference service's operator passphrase when none is configured.
/// It is public, so a daemon running with it trusts anyone as operator.
pub const DEFAULT_OPERATOR_PASSPHRASE: &str = "implicit trust";

/// An ed25519 signing key: a space's owner, an operator or a daemon.
///
/// `Debug` shows only the DID, so an identity can be logged without leaking
/// its secret.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl Identity {
    /// The identity whose 32-byte ed25519 seed is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Identity {
        Identity {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// The reference system's passphrase identity: seed = SHA-256(passphrase).
    pub fn from_passphrase(passphrase: &str) -> Identity {
        Identity::from_seed(&Sha256::digest(passphrase.as_bytes()).into())
    }

    /// A fresh random identity from the operating system's CSPRNG.
    pub fn generate() -> Identity {
        Identity {
            key: SigningKey::generate(&mut rand::rngs::OsRng),
        }
    }

    /// The child identity called `name`: seed = SHA-256(self.sign(name)).
    pub fn derive(&self, name: &str) -> Identity {
        Identity::from_seed(&Sha256::digest(self.sign(name.as_bytes())).into())
    }

    /// This identity's public name.
    pub fn did(&self) -> Did {
        Did::from_public_key_bytes(self.key.verifying_key().as_bytes())
            .expect("a key made from a seed is a valid, prime-order point")
    }

    /// The ed25519 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// The keyfile text in `format`.
    pub fn to_pem(&self, format: KeyFormat) -> String {
        keyfile::seed_to_pem(self.key.as_bytes(), format)
    }

    /// Reads keyfile text; see [`Identity::from_pem_file`] for what is accepted.
    pub fn from_pem(text: &str) -> Result<Identity, PemError> {
        keyfile::seed_from_pem(text).map(|seed| Identity::from_seed(&seed))
    }

    /// Reads a keyfile: `-----BEGIN PRIVATE KEY-----`, the PKCS#8 bytes
    /// (prefix `302e020100300506032b657004220420` then the seed) as the
    /// reference system writes them (`M` + padded base64) or as OpenSSL does
    /// (padded base64), `-----END PRIVATE KEY-----`. Whitespace, CRLF and
    /// wrapped base64 are fine; errors name the file and the form expected.
    pub fn from_pem_file(path: &Path) -> Result<Identity, KeyfileError> {
        keyfile::read_seed_file(path).map(|seed| Identity::from_seed(&seed))
    }

    /// Writes this identity as a new keyfile in `format`, mode 0600 on unix.
    /// Refuses to replace an existing file.
    pub fn write_pem_file(&self, path: &Path, format: KeyFormat) -> Result<(), KeyfileError> {
        keyfile::write_seed_file(path, self.key.as_bytes(), format)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.did())
    }
}

/// The DID of the space called `name`, derived as the reference system does.
pub fn space_did_for_name(name: &str, root_passphrase: &str) -> Did {
    Identity::from_passphrase(root_passphrase)
        .derive(name)
        .did()
}

/// A space as a user names it on the command line: by DID or by name.
#[derive(Debug, Clone)]
pub enum SpaceRef {
    /// Given as a DID: the space is known, its key is not.
    Did(Did),
    /// Given as a name and derived from the root passphrase, so its key is
    /// known too and requests for it can be signed with it.
    Named {
        name: String,
        identity: Box<Identity>,
    },
}

/// A `--space` value that names no space.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpaceRefError {
    #[error("{0}")]
    InvalidDid(InvalidDid),
    #[error(
        "the space name is empty; give a name (derived from the root passphrase) or a did:key:..."
    )]
    EmptyName,
}

impl SpaceRef {
    /// Reads a space reference. Anything starting with `did:` must be a
    /// valid ed25519 `did:key` (a mistyped DID is an error, not silently a
    /// different space); anything else is a name, derived from
    /// `root_passphrase` (normally [`DEFAULT_SPACE_ROOT_PASSPHRASE`]).
    pub fn parse(s: &str, root_passphrase: &str) -> Result<SpaceRef, SpaceRefError> {
        if s.starts_with("did:") {
            return Did::parse_as(s, "space")
                .map(SpaceRef::Did)
                .map_err(SpaceRefError::InvalidDid);
        }
        if s.is_empty() {
            return Err(SpaceRefError::EmptyName);
        }
        Ok(SpaceRef::Named {
            name: s.to_owned(),
            identity: Box::new(Identity::from_passphrase(root_passphrase).derive(s)),
        })
    }

    /// The space's DID.
    pub fn did(&self) -> Did {
        match self {
            SpaceRef::Did(did) => *did,
            SpaceRef::Named { identity, .. } => identity.did(),
        }
    }

    /// The space's key, when it was given by name.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            SpaceRef::Did(_) => None,
            SpaceRef::Named { identity, .. } => Some(identity),
        }
    }
}

/// The daemon's operator identity, as the reference service chooses it: the
/// keyfile at `identity_path` (env `IDENTITY`) if given, else the passphrase
/// `operator_pass` (env `OPERATOR_PASS`), else [`DEFAULT_OPERATOR_PASSPHRASE`].
/// An empty value counts as not given, like an unset variable.
pub fn operator_identity_from_env(
    identity_path: Option<&Path>,
    operator_pass: Option<&str>,
) -> Result<Identity, KeyfileError> {
    let operator_pass = operator_pass.filter(|p| !p.is_empty());
    if let Some(path) = identity_path.filter(|p| !p.as_os_str().is_empty()) {
        if operator_pass.is_some() {
            tracing::warn!(
                keyfile = %path.display(),
                "both IDENTITY and OPERATOR_PASS are set; using the keyfile and ignoring OPERATOR_PASS"
            );
        }
        return Identity::from_pem_file(path);
    }
    match operator_pass {
        Some(pass) => Ok(Identity::from_passphrase(pass)),
        None => {
            let identity = Identity::from_passphrase(DEFAULT_OPERATOR_PASSPHRASE);
            // The default passphrase is published, so anyone can sign as
            // this operator and act on every space.
            tracing::warn!(
                operator = %identity.did(),
                "operator key is the public default passphrase {DEFAULT_OPERATOR_PASSPHRASE:?}: \
                 anyone can act as operator on every space; set IDENTITY=keyfile or OPERATOR_PASS"
            );
            Ok(identity)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMON_USER: &str = "did:key:z6Mkj5HyygpAVo2baUcx7kwTRoUbbBmk5egUQPHnV8arQ3SY";
    const TOOLSHED_SYSTEM: &str = "did:key:z6Mkfuw7h6jDwqVb6wimYGys14JFcyTem4Kqvdj9DjpFhY88";

    #[test]
    fn reference_vector_from_passphrase() {
        assert_eq!(
            Identity::from_passphrase("common user").did().to_string(),
            COMMON_USER
        );
    }

    #[test]
    fn reference_vector_derive() {
        let child = Identity::from_passphrase("common user").derive("toolshed-system");
        assert_eq!(child.did().to_string(), TOOLSHED_SYSTEM);
        assert_eq!(
            space_did_for_name("toolshed-system", DEFAULT_SPACE_ROOT_PASSPHRASE).to_string(),
            TOOLSHED_SYSTEM
        );
    }

    #[test]
    fn derive_chains_and_separates_names() {
        let root = Identity::from_passphrase("common user");
        let a = root.derive("a");
        assert_ne!(a.did(), root.derive("b").did());
        assert_ne!(a.did(), a.derive("a").did());
        assert_eq!(a.derive("x").did(), root.derive("a").derive("x").did());
    }

    #[test]
    fn sign_verifies_with_did() {
        let id = Identity::generate();
        let sig = id.sign(b"msg");
        id.did().verify(b"msg", &sig).unwrap();
        assert!(Identity::generate().did().verify(b"msg", &sig).is_err());
        assert_ne!(Identity::generate().did(), id.did());
    }

    #[test]
    fn debug_does_not_leak_the_seed() {
        let id = Identity::from_passphrase("common user");
        assert_eq!(format!("{id:?}"), format!("Identity({COMMON_USER})"));
    }

    #[test]
    fn pem_round_trip_keeps_the_did_in_both_forms() {
        let id = Identity::from_passphrase("common user");
        let dir = tempfile::tempdir().unwrap();
        for (format, start) in [
            (KeyFormat::Reference, "-----BEGIN PRIVATE KEY-----\nMMC4C"),
            (KeyFormat::Pkcs8, "-----BEGIN PRIVATE KEY-----\nMC4C"),
        ] {
            let pem = id.to_pem(format);
            assert!(pem.starts_with(start), "{pem}");
            assert_eq!(Identity::from_pem(&pem).unwrap().did(), id.did());

            let path = dir.path().join(format!("{format:?}.pem"));
            let fresh = Identity::generate();
            fresh.write_pem_file(&path, format).unwrap();
            assert_eq!(Identity::from_pem_file(&path).unwrap().did(), fresh.did());
        }
    }

    #[test]
    fn zero_seed_keyfiles_name_the_reference_did() {
        const ZERO_SEED_DID: &str = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
        assert_eq!(
            Identity::from_seed(&[0; 32]).did().to_string(),
            ZERO_SEED_DID
        );
        for body in [
            // The reference form, on one line and wrapped.
            "MMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "MMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAA\nAAAAAAAAAAAAAAAAAAAAAAAA",
            // Standard PKCS#8, as OpenSSL writes it, and wrapped.
            "MC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "MC4CAQAwBQYDK2VwBCIEIAAAAAAA\r\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
            assert_eq!(
                Identity::from_pem(&pem).unwrap().did().to_string(),
                ZERO_SEED_DID,
                "{body}"
            );
        }
    }

    #[test]
    fn space_ref_passes_dids_through_and_derives_names() {
        let by_did = SpaceRef::parse(TOOLSHED_SYSTEM, "ignored").unwrap();
        assert_eq!(by_did.did().to_string(), TOOLSHED_SYSTEM);
        assert!(by_did.identity().is_none());

        let by_name = SpaceRef::parse("toolshed-system", DEFAULT_SPACE_ROOT_PASSPHRASE).unwrap();
        assert_eq!(by_name.did().to_string(), TOOLSHED_SYSTEM);
        assert_eq!(
            by_name.identity().unwrap().did().to_string(),
            TOOLSHED_SYSTEM
        );

        let other_root = SpaceRef::parse("toolshed-system", "another root").unwrap();
        assert_ne!(other_root.did(), by_name.did());
    }

    #[test]
    fn space_ref_refuses_bad_dids_and_empty_names() {
        let err = SpaceRef::parse("did:key:zX", DEFAULT_SPACE_ROOT_PASSPHRASE).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid space DID \"did:key:zX\": "),
            "{err}"
        );
        let err =
            SpaceRef::parse("did:web:example.com", DEFAULT_SPACE_ROOT_PASSPHRASE).unwrap_err();
        assert!(matches!(err, SpaceRefError::InvalidDid(_)), "{err}");
        assert_eq!(
            SpaceRef::parse("", DEFAULT_SPACE_ROOT_PASSPHRASE).unwrap_err(),
            SpaceRefError::EmptyName
        );
    }

    #[test]
    fn operator_identity_sources() {
        let default = operator_identity_from_env(None, None).unwrap();
        assert_eq!(
            default.did(),
            Identity::from_passphrase(DEFAULT_OPERATOR_PASSPHRASE).did()
        );
        assert_eq!(
            operator_identity_from_env(None, Some("")).unwrap().did(),
            default.did()
        );
        let by_pass = operator_identity_from_env(None, Some("s3cret")).unwrap();
        assert_eq!(by_pass.did(), Identity::from_passphrase("s3cret").did());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("operator.pem");
        let key = Identity::generate();
        key.write_pem_file(&path, KeyFormat::Reference).unwrap();
        let by_file = operator_identity_from_env(Some(&path), Some("s3cret")).unwrap();
        assert_eq!(
            by_file.did(),
            key.did(),
            "the keyfile wins over the passphrase"
        );

        let missing = dir.path().join("nope.pem");
        let err = operator_identity_from_env(Some(&missing), None).unwrap_err();
        assert!(err.to_string().contains("nope.pem"), "{err}");
    }
}
