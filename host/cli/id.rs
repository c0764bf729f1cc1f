//! `bgwasm id`: shows the DID of a key given by passphrase or keyfile,
//! derives child keys the way the reference system does, and makes new
//! keyfiles. Its output is the DID alone, so scripts can capture it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::identity::{Identity, KeyFormat};

const AFTER_HELP: &str = "\
A key is named by its DID (did:key:z6Mk...). Spaces are DIDs; `--space NAME`
elsewhere in bgwasm means the key `--passphrase \"common user\" --derive NAME`.

Examples:
  # The DID of the space called \"toolshed-system\", as the reference derives it
  bgwasm id --passphrase \"common user\" --derive toolshed-system

  # Derive in turn: the key \"b\" under \"a\" under the passphrase key
  bgwasm id --passphrase \"my secret\" --derive a --derive b

  # Make a new random keyfile (mode 0600, never overwrites) and print its DID;
  # it is in the reference form, which the reference system's tools read
  bgwasm id new --out operator.pem

  # The same as standard PKCS#8 PEM, for OpenSSL and other PKCS#8 tools
  bgwasm id new --out operator.pem --format pkcs8

  # The DID of an existing keyfile, in either form
  bgwasm id --identity operator.pem";

/// Show the DID of a key, derive child keys, or make a new keyfile.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    group(clap::ArgGroup::new("source").required(true).args(["passphrase", "identity"])),
)]
pub struct IdArgs {
    /// Use the key whose seed is SHA-256 of this passphrase (visible in
    /// your shell history and process list: prefer a keyfile for real keys)
    #[arg(long, value_name = "P")]
    pub passphrase: Option<String>,

    /// Use the key in this keyfile (the reference form or standard PKCS#8 PEM)
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    /// Derive the child key NAME; repeat to derive in turn
    #[arg(long = "derive", value_name = "NAME")]
    pub derive: Vec<String>,

    #[command(subcommand)]
    pub command: Option<IdCommand>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum IdCommand {
    /// Write a new random key to a keyfile and print its DID
    New {
        /// Where to write the keyfile; it must not exist yet
        #[arg(long, value_name = "FILE")]
        out: PathBuf,

        /// How to write the key between the PEM lines
        #[arg(long, value_enum, default_value_t = KeyFormat::Reference)]
        format: KeyFormat,
    },
}

/// Runs `bgwasm id`, writing the DID and a newline to `out`.
pub fn run(args: &IdArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let identity = match (&args.command, &args.passphrase, &args.identity) {
        (Some(IdCommand::New { out: path, format }), None, None) if args.derive.is_empty() => {
            let identity = Identity::generate();
            identity.write_pem_file(path, *format)?;
            identity
        }
        (Some(IdCommand::New { .. }), ..) => bail!(
            "`bgwasm id new` makes a random key, so --passphrase, --identity and --derive do \
             not apply; to see an existing key's DID, drop `new`"
        ),
        (None, Some(_), Some(_)) => {
            bail!("give either --passphrase or --identity, not both: each names a whole key")
        }
        (None, Some(passphrase), None) => Identity::from_passphrase(passphrase),
        (None, None, Some(path)) => Identity::from_pem_file(path)?,
        (None, None, None) => bail!(
            "bgwasm id needs a key: give --passphrase P or --identity FILE, or make a new \
             keyfile with `bgwasm id new --out FILE` (see `bgwasm id --help`)"
        ),
    };
    let identity = args
        .derive
        .iter()
        .fold(identity, |key, name| key.derive(name));
    writeln!(out, "{}", identity.did()).context("cannot write the DID to the output")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    #[command(name = "bgwasm")]
    enum Cli {
        Id(IdArgs),
    }

    fn parse(argv: &[&str]) -> Result<IdArgs, clap::Error> {
        let Cli::Id(args) = Cli::try_parse_from(["bgwasm", "id"].iter().chain(argv))?;
        Ok(args)
    }

    fn run_args(argv: &[&str]) -> anyhow::Result<String> {
        let args = parse(argv)?;
        let mut out = Vec::new();
        run(&args, &mut out)?;
        Ok(String::from_utf8(out)?)
    }

    #[test]
    fn passphrase_prints_the_did() {
        assert_eq!(
            run_args(&["--passphrase", "common user"]).unwrap(),
            "did:key:z6Mkj5HyygpAVo2baUcx7kwTRoUbbBmk5egUQPHnV8arQ3SY\n"
        );
    }

    #[test]
    fn derive_applies_in_turn() {
        assert_eq!(
            run_args(&["--passphrase", "common user", "--derive", "toolshed-system"]).unwrap(),
            "did:key:z6Mkfuw7h6jDwqVb6wimYGys14JFcyTem4Kqvdj9DjpFhY88\n"
        );
        let expected = Identity::from_passphrase("p").derive("a").derive("b").did();
        assert_eq!(
            run_args(&["--passphrase", "p", "--derive", "a", "--derive", "b"]).unwrap(),
            format!("{expected}\n")
        );
    }

    #[test]
    fn new_writes_a_keyfile_that_identity_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        for (i, (format_args, body_start)) in [
            (&[][..], "MMC4C"),
            (&["--format", "reference"][..], "MMC4C"),
            (&["--format", "pkcs8"][..], "MC4CA"),
        ]
        .into_iter()
        .enumerate()
        {
            let path = dir.path().join(format!("k{i}.pem"));
            let path_str = path.to_str().unwrap();
            let mut argv = vec!["new", "--out", path_str];
            argv.extend(format_args);
            let did = run_args(&argv).unwrap();
            assert!(did.starts_with("did:key:z6Mk"), "{did}");
            let text = std::fs::read_to_string(&path).unwrap();
            let body = text.lines().nth(1).unwrap();
            assert!(body.starts_with(body_start), "{format_args:?}: {text}");
            assert_eq!(run_args(&["--identity", path_str]).unwrap(), did);

            let child = run_args(&["--identity", path_str, "--derive", "x"]).unwrap();
            let expected = Identity::from_pem_file(&path).unwrap().derive("x").did();
            assert_eq!(child, format!("{expected}\n"));

            let err = run_args(&argv).unwrap_err();
            assert!(err.to_string().contains("already exists"), "{err}");
        }
        let err = parse(&["new", "--out", "f", "--format", "der"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
    }

    #[test]
    fn usage_errors_are_clear() {
        let err = parse(&[]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = parse(&["--passphrase", "a", "--identity", "f"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(parse(&["--passphrase", "a", "new", "--out", "f"]).is_err());
        assert!(parse(&["new"]).is_err(), "new needs --out");

        // The same rules hold when IdArgs is built by hand, not by clap.
        let mut args = IdArgs {
            passphrase: None,
            identity: None,
            derive: vec![],
            command: None,
        };
        let err = run(&args, &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string()
                .contains("--passphrase P or --identity FILE"),
            "{err}"
        );
        args.passphrase = Some("a".into());
        args.identity = Some("f".into());
        assert!(
            run(&args, &mut Vec::new())
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
        args.identity = None;
        args.command = Some(IdCommand::New {
            out: "f".into(),
            format: KeyFormat::Reference,
        });
        assert!(
            run(&args, &mut Vec::new())
                .unwrap_err()
                .to_string()
                .contains("drop `new`")
        );
    }

    #[test]
    fn missing_keyfile_names_the_file() {
        let err = run_args(&["--identity", "/nonexistent/op.pem"]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/op.pem"), "{err}");
    }

    #[test]
    fn help_teaches_with_examples() {
        let err = parse(&["--help"]).unwrap_err();
        let help = err.to_string();
        assert!(help.contains("bgwasm id new --out operator.pem"), "{help}");
        assert!(help.contains("--derive <NAME>"), "{help}");
        assert!(help.contains("--format pkcs8"), "{help}");
    }
}
