//! Reading and writing identity keyfiles: an ed25519 seed as PKCS#8 in PEM.
//!
//! The reference system writes exactly the 48-byte PKCS#8 form (the prefix
//! `302e020100300506032b657004220420` then the 32-byte seed) as one line of
//! standard base64 between `-----BEGIN PRIVATE KEY-----` and
//! `-----END PRIVATE KEY-----`. Because PKCS#8 starts with a DER SEQUENCE
//! (0x30), that line always begins with `M` (`MC4CAQAwBQYDK2VwBCIEI...`).
//! This is also what `openssl genpkey -algorithm ed25519` writes, so keys
//! move freely between the three.
//!
//! Reading is lenient about layout (CRLF, indentation, base64 wrapped over
//! several lines, a byte-order mark) and also accepts PKCS#8 v2 with the
//! public key included, after checking that key matches the seed.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use thiserror::Error;

/// DER header of an ed25519 PKCS#8 v1 private key holding a 32-byte seed.
pub const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// A keyfile is a few hundred bytes; anything much bigger is the wrong file,
/// and reading it whole would be a waste or worse.
const MAX_KEYFILE_BYTES: u64 = 64 * 1024;

/// Why some text is not an ed25519 private key in PEM.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PemError {
    #[error(
        "it is an encrypted private key; bgwasm needs it unencrypted (`openssl pkey -in FILE -out PLAIN`)"
    )]
    Encrypted,
    #[error(
        "it is an OpenSSH private key; convert it to PKCS#8 or make a new one with `bgwasm id new --out FILE`"
    )]
    OpenSsh,
    #[error("there is no \"{PEM_BEGIN}\" line")]
    NoBegin,
    #[error("there is no \"{PEM_END}\" line after the BEGIN line")]
    NoEnd,
    #[error("the text between BEGIN and END is not standard base64: {0}")]
    BadBase64(String),
    #[error("the key is not an ed25519 PKCS#8 key: {0}")]
    NotEd25519(String),
}

/// A keyfile that could not be read or written; every variant names the file.
#[derive(Debug, Error)]
pub enum KeyfileError {
    // The cause is in the message rather than `source()`, so that both a
    // bare `{err}` (API answers) and an anyhow chain show it exactly once.
    #[error("cannot read keyfile {}: {error}", .path.display())]
    Read { path: PathBuf, error: io::Error },
    #[error(
        "keyfile {} is larger than {MAX_KEYFILE_BYTES} bytes, so it is not a keyfile; check the path",
        .path.display()
    )]
    TooLarge { path: PathBuf },
    #[error("keyfile {} is not UTF-8 text; a keyfile is PEM (\"{PEM_BEGIN}\" ...)", .path.display())]
    NotText { path: PathBuf },
    #[error(
        "keyfile {} is not an ed25519 private key in PEM: {problem}. \
         Make a new one with `bgwasm id new --out FILE`",
        .path.display()
    )]
    Format { path: PathBuf, problem: PemError },
    #[error(
        "keyfile {} already exists; refusing to overwrite a key. Choose another path, \
         or move the old file away if you really mean to replace it",
        .path.display()
    )]
    Exists { path: PathBuf },
    #[error("cannot write keyfile {}: {error}", .path.display())]
    Write { path: PathBuf, error: io::Error },
}

/// The 48-byte PKCS#8 DER form of a seed.
pub fn seed_to_pkcs8(seed: &[u8; 32]) -> [u8; 48] {
    let mut der = [0u8; 48];
    der[..16].copy_from_slice(&PKCS8_ED25519_PREFIX);
    der[16..].copy_from_slice(seed);
    der
}

/// The PEM text of a seed, in the reference layout (one base64 line).
pub fn seed_to_pem(seed: &[u8; 32]) -> String {
    let body = STANDARD.encode(seed_to_pkcs8(seed));
    debug_assert!(body.starts_with('M'));
    format!("{PEM_BEGIN}\n{body}\n{PEM_END}\n")
}

/// The ed25519 seed in PEM text.
pub fn seed_from_pem(text: &str) -> Result<[u8; 32], PemError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(PemError::Encrypted);
    }
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        return Err(PemError::OpenSsh);
    }
    // Match the markers as whole trimmed lines, so that indentation and
    // CRLF line ends do not matter.
    let mut lines = text.lines().map(str::trim);
    if !lines.by_ref().any(|l| l == PEM_BEGIN) {
        return Err(PemError::NoBegin);
    }
    let mut body = String::new();
    let mut ended = false;
    for line in lines {
        if line == PEM_END {
            ended = true;
            break;
        }
        body.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    if !ended {
        return Err(PemError::NoEnd);
    }
    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|e| PemError::BadBase64(e.to_string()))?;
    seed_from_pkcs8(&der)
}

/// The ed25519 seed in PKCS#8 DER bytes.
pub fn seed_from_pkcs8(der: &[u8]) -> Result<[u8; 32], PemError> {
    if der.len() == 48 && der[..16] == PKCS8_ED25519_PREFIX {
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&der[16..]);
        return Ok(seed);
    }
    // Other encoders may add the public key (PKCS#8 v2); the general decoder
    // handles that and checks the public key against the seed.
    SigningKey::from_pkcs8_der(der)
        .map(|k| k.to_bytes())
        .map_err(|e| {
            PemError::NotEd25519(format!(
                "{e} (expected {} bytes starting {})",
                48,
                hex::encode(PKCS8_ED25519_PREFIX)
            ))
        })
}

/// Reads the seed from a PEM keyfile.
pub fn read_seed_file(path: &Path) -> Result<[u8; 32], KeyfileError> {
    let read_err = |error| KeyfileError::Read {
        path: path.to_owned(),
        error,
    };
    let meta = fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_KEYFILE_BYTES {
        return Err(KeyfileError::TooLarge {
            path: path.to_owned(),
        });
    }
    let bytes = fs::read(path).map_err(read_err)?;
    let text = String::from_utf8(bytes).map_err(|_| KeyfileError::NotText {
        path: path.to_owned(),
    })?;
    seed_from_pem(&text).map_err(|problem| KeyfileError::Format {
        path: path.to_owned(),
        problem,
    })
}

/// Writes a seed as a new PEM keyfile, readable by its owner only, and never
/// over an existing file (losing a key would lose the spaces it names).
pub fn write_seed_file(path: &Path, seed: &[u8; 32]) -> Result<(), KeyfileError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|error| {
        if error.kind() == io::ErrorKind::AlreadyExists {
            KeyfileError::Exists {
                path: path.to_owned(),
            }
        } else {
            KeyfileError::Write {
                path: path.to_owned(),
                error,
            }
        }
    })?;
    let written = file
        .write_all(seed_to_pem(seed).as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(error) = written {
        // A half-written keyfile would later fail to parse, or worse, be
        // mistaken for a key; the file is ours (create_new), so remove it.
        drop(file);
        let _ = fs::remove_file(path);
        return Err(KeyfileError::Write {
            path: path.to_owned(),
            error,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = [
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
        26, 27, 28, 29, 30, 31, 32,
    ];

    #[test]
    fn pem_has_the_reference_layout() {
        let pem = seed_to_pem(&SEED);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], PEM_BEGIN);
        assert!(
            lines[1].starts_with("MC4CAQAwBQYDK2VwBCIEI"),
            "{}",
            lines[1]
        );
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2], PEM_END);
        assert_eq!(
            hex::encode(STANDARD.decode(lines[1]).unwrap()),
            format!("302e020100300506032b657004220420{}", hex::encode(SEED))
        );
    }

    #[test]
    fn pem_round_trips_through_messy_layouts() {
        let pem = seed_to_pem(&SEED);
        assert_eq!(seed_from_pem(&pem), Ok(SEED));
        let body = pem.lines().nth(1).unwrap();
        let crlf = pem.replace('\n', "\r\n");
        assert_eq!(seed_from_pem(&crlf), Ok(SEED));
        let wrapped = format!(
            "\u{feff}\n  {PEM_BEGIN}  \n{}\n {}\n\t{}\n{PEM_END}",
            &body[..20],
            &body[20..50],
            &body[50..]
        );
        assert_eq!(seed_from_pem(&wrapped), Ok(SEED));
    }

    #[test]
    fn accepts_pkcs8_v2_with_matching_public_key() {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let key = SigningKey::from_bytes(&SEED);
        let der = key.to_pkcs8_der().unwrap();
        assert!(
            der.as_bytes().len() > 48,
            "expected the v2 form with the public key"
        );
        assert_eq!(seed_from_pkcs8(der.as_bytes()), Ok(SEED));
    }

    #[test]
    fn refuses_what_is_not_an_ed25519_pem() {
        assert_eq!(seed_from_pem("hello"), Err(PemError::NoBegin));
        assert_eq!(
            seed_from_pem(&format!("{PEM_BEGIN}\nMC4C\n")),
            Err(PemError::NoEnd)
        );
        assert!(matches!(
            seed_from_pem(&format!("{PEM_BEGIN}\nM*!\n{PEM_END}")),
            Err(PemError::BadBase64(_))
        ));
        let short = STANDARD.encode(&seed_to_pkcs8(&SEED)[..40]);
        assert!(matches!(
            seed_from_pem(&format!("{PEM_BEGIN}\n{short}\n{PEM_END}")),
            Err(PemError::NotEd25519(_))
        ));
        assert_eq!(
            seed_from_pem(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nabc\n-----END ENCRYPTED PRIVATE KEY-----"
            ),
            Err(PemError::Encrypted)
        );
        assert_eq!(
            seed_from_pem(
                "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"
            ),
            Err(PemError::OpenSsh)
        );
    }

    #[test]
    fn file_round_trip_is_private_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_seed_file(&path, &SEED).unwrap();
        assert_eq!(read_seed_file(&path).unwrap(), SEED);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = write_seed_file(&path, &[7; 32]).unwrap_err();
        assert!(matches!(err, KeyfileError::Exists { .. }), "{err}");
        assert!(err.to_string().contains("key.pem"), "{err}");
        assert_eq!(
            read_seed_file(&path).unwrap(),
            SEED,
            "the old key must survive"
        );
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = read_seed_file(&missing).unwrap_err();
        assert!(matches!(err, KeyfileError::Read { .. }));
        assert!(err.to_string().contains("missing.pem"), "{err}");

        let garbage = dir.path().join("garbage.pem");
        fs::write(&garbage, "not a key").unwrap();
        let msg = read_seed_file(&garbage).unwrap_err().to_string();
        assert!(
            msg.contains("garbage.pem") && msg.contains("BEGIN PRIVATE KEY"),
            "{msg}"
        );

        let binary = dir.path().join("binary.pem");
        fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            read_seed_file(&binary),
            Err(KeyfileError::NotText { .. })
        ));

        let big = dir.path().join("big.pem");
        fs::write(&big, vec![b'a'; 100_000]).unwrap();
        assert!(matches!(
            read_seed_file(&big),
            Err(KeyfileError::TooLarge { .. })
        ));

        let in_missing_dir = dir.path().join("no/such/dir/key.pem");
        let err = write_seed_file(&in_missing_dir, &SEED).unwrap_err();
        assert!(matches!(err, KeyfileError::Write { .. }), "{err}");
    }
}
