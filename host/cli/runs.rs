//! `bgwasm runs`'s arguments: which piece's run history, how much of it, and
//! how it is printed.

use crate::store::RUN_HISTORY_PER_PIECE;
use clap::Args;

#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  \
    bgwasm runs alice feed                     alice's piece `feed`: its newest 20 runs\n  \
    bgwasm runs alice feed --limit 5           only the newest 5\n  \
    bgwasm runs alice feed --json | jq '.runs[0].outcome.error'   the latest run's error, in full\n\n\
    Each line is one run: its id, what started it (scheduled or manual), when it started\n\
    (UTC), how long it took, and `ok` or the error's kind and message. The daemon keeps\n\
    the newest 50 runs of each piece; `--json` has each run's whole outcome (value,\n\
    error with stack, logs, fetches, cells written).")]
pub struct RunsArgs {
    /// The space: a name (derived as the reference does) or a did:key.
    pub space: String,
    /// The piece's id, as `bgwasm status` lists it.
    pub piece_id: String,
    /// How many of the newest runs to show (1 to 50).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20,
        value_parser = clap::value_parser!(u64).range(1..=RUN_HISTORY_PER_PIECE as u64),
    )]
    pub limit: u64,
    /// Print the runs as JSON, each with its whole outcome.
    #[arg(long)]
    pub json: bool,
}
