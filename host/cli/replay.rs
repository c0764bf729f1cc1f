//! `bgwasm replay`'s arguments, and its exit codes: 0 when the replay came to
//! the run's outcome, [`EXIT_DIVERGED`] when it did not.

use super::exit::{self, EXIT_DIVERGED};
use super::{ClientArgs, LogFormat, init_logging};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  bgwasm replay alice inbox 42                 replay run 42 of piece inbox\n  \
    bgwasm replay alice inbox 42 --source fixed.js   the same inputs, against a fixed source\n  \
    bgwasm replay alice inbox 42 --json | jq .divergence"
)]
pub struct ReplayArgs {
    /// The space: a name or a did:key.
    pub space: String,
    pub piece_id: String,
    /// The run's id, as `GET .../pieces/{id}` lists it.
    pub run_id: String,
    /// Replay the run's inputs against this source instead of the piece's.
    #[arg(long, value_name = "FILE")]
    pub source: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn main(
    runtime: &tokio::runtime::Runtime,
    client: &ClientArgs,
    log_format: LogFormat,
    args: &ReplayArgs,
) -> ExitCode {
    init_logging(log_format, "warn");
    let mut stdout = std::io::stdout().lock();
    let replayed = runtime.block_on(crate::client::replay(
        &client.config(),
        &args.space,
        &args.piece_id,
        &args.run_id,
        args.source.as_deref(),
        args.json,
        &mut stdout,
    ));
    match replayed {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_DIVERGED),
        Err(error) => {
            eprintln!("bgwasm replay: {error}");
            ExitCode::from(exit::of_client(&error))
        }
    }
}
