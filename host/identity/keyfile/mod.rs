//! Identity keyfiles on disk: reading one (in either form, see [`pem`]) and
//! writing a new one, readable by its owner only and never over an existing
//! file. Every error names the file.

mod pem;

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use pem::{BodyError, KeyFormat, PKCS8_ED25519_PREFIX, PemError, seed_from_pem, seed_to_pem};

use pem::PEM_BEGIN;

/// A keyfile is a few hundred bytes; anything much bigger is the wrong file,
/// and reading it whole would be a waste or worse.
const MAX_KEYFILE_BYTES: u64 = 64 * 1024;

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
        "keyfile {} is not a usable Ed25519 keyfile: {problem}. bgwasm reads the reference \
         form (\"M\" + padded base64 of the PKCS#8 key) and standard PKCS#8 PEM; make a new \
         key with `bgwasm id new --out FILE`",
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

/// Reads the seed from a keyfile in either form.
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

/// Writes a seed as a new keyfile in `format`, readable by its owner only,
/// and never over an existing file (losing a key would lose the spaces it
/// names).
pub fn write_seed_file(
    path: &Path,
    seed: &[u8; 32],
    format: KeyFormat,
) -> Result<(), KeyfileError> {
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
        .write_all(seed_to_pem(seed, format).as_bytes())
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
    use std::path::Path;

    const SEED: [u8; 32] = [
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
        26, 27, 28, 29, 30, 31, 32,
    ];

    #[cfg(unix)]
    fn assert_private(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }

    #[cfg(not(unix))]
    fn assert_private(_: &Path) {}

    #[test]
    fn file_round_trip_in_both_forms_is_private_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        for (format, start) in [
            (KeyFormat::Reference, "MMC4CAQAwBQYDK2VwBCIEI"),
            (KeyFormat::Pkcs8, "MC4CAQAwBQYDK2VwBCIEI"),
        ] {
            let path = dir.path().join(format!("{format:?}.pem"));
            write_seed_file(&path, &SEED, format).unwrap();
            let text = fs::read_to_string(&path).unwrap();
            assert_eq!(text, seed_to_pem(&SEED, format));
            assert!(text.lines().nth(1).unwrap().starts_with(start), "{text}");
            assert_eq!(read_seed_file(&path).unwrap(), SEED);
            assert_private(&path);

            let err = write_seed_file(&path, &[7; 32], format).unwrap_err();
            assert!(matches!(err, KeyfileError::Exists { .. }), "{err}");
            assert!(err.to_string().contains(".pem"), "{err}");
            assert_eq!(
                read_seed_file(&path).unwrap(),
                SEED,
                "the old key must survive"
            );
        }
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

        let short = dir.path().join("short.pem");
        fs::write(
            &short,
            "-----BEGIN PRIVATE KEY-----\nMMC4CAQAwBQ\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let msg = read_seed_file(&short).unwrap_err().to_string();
        assert!(
            msg.starts_with("keyfile ")
                && msg.contains("short.pem")
                && msg.contains("looks like the reference form")
                && msg.contains("10 characters long")
                && msg.contains("standard PKCS#8 PEM"),
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
        let err = write_seed_file(&in_missing_dir, &SEED, KeyFormat::Reference).unwrap_err();
        assert!(matches!(err, KeyfileError::Write { .. }), "{err}");
    }
}
