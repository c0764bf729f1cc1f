//! `bgwasm run-once`'s flags, and the options they make.

use super::flags::{EgressArgs, LimitArgs};
use super::store::store_url;
use crate::run_once::{RunOnceError, RunOnceOptions};
use crate::sandbox::Lang;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  bgwasm run-once counter.js\n  \
    bgwasm run-once inbox.js --event '{\"full\":true}' --cells cells.json --write-cells\n  \
    bgwasm run-once loop.js --fuel 1000000 --json\n  \
    bgwasm run-once feed.ts   a TypeScript piece: its types are stripped, not checked\n  \
    bgwasm run-once 56d0caf42c2aa075 --data-dir bgwasm-data --space alice   a stored piece, its stored cells\n  \
    bgwasm run-once 56d0caf42c2aa075 --data-dir bgwasm-data --space alice --commit\n  \
    bgwasm run-once 56d0caf42c2aa075 --store postgres://bgwasm@db:5432/bgwasm --space alice")]
pub struct RunOnceArgs {
    /// The piece: a .js or .ts file that exports `bgUpdater(event, ctx)`;
    /// with --store or --data-dir, the id of a piece stored there.
    #[arg(value_name = "PIECE")]
    pub piece: String,
    /// The file's language, `js` or `ts`; by default its extension says
    /// (`.ts` and `.mts` are TypeScript).
    #[arg(long, value_name = "LANG", conflicts_with_all = ["data_dir", "store"])]
    pub lang: Option<Lang>,
    /// The space the piece runs in (`ctx.space`). With a store, a space
    /// name (derived as the reference does) or a did:key.
    #[arg(long, value_name = "NAME", default_value = "run-once")]
    pub space: String,
    /// Run a piece stored in this daemon data directory, against the space's
    /// stored cells. Nothing is written unless --commit.
    /// Same as --store sqlite://DIR.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["cells", "write_cells", "store"])]
    pub data_dir: Option<PathBuf>,
    /// Run a piece stored in this store (`sqlite:///path/to/data-dir` or
    /// `postgres://user@host:port/database`), against the space's stored
    /// cells. Nothing is written unless --commit.
    #[arg(long, value_name = "URL", conflicts_with_all = ["cells", "write_cells"])]
    pub store: Option<String>,
    /// With a store: commit the run as a manual run: its history, the
    /// registration's status and, if it succeeded, its cell writes.
    #[arg(long)]
    pub commit: bool,
    /// The event passed to the handler, as JSON.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub event: String,
    /// A JSON object whose entries seed the space's cells.
    #[arg(long, value_name = "FILE")]
    pub cells: Option<PathBuf>,
    /// After a successful run, write the cells back to the --cells file.
    #[arg(long, requires = "cells")]
    pub write_cells: bool,
    /// Print the outcome as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub egress: EgressArgs,
}

impl RunOnceArgs {
    /// The options, with the limits checked and the event parsed.
    pub fn options(&self) -> Result<RunOnceOptions, RunOnceError> {
        let store = store_url(self.store.as_deref(), self.data_dir.as_deref(), false)
            .map_err(|e| RunOnceError::Stored(e.to_string()))?;
        if self.commit && store.is_none() {
            return Err(RunOnceError::Stored(
                "--commit needs a store to commit to: add --store URL or --data-dir DIR".into(),
            ));
        }
        Ok(RunOnceOptions {
            piece: self.piece.clone(),
            lang: self.lang,
            space: self.space.clone(),
            store,
            commit: self.commit,
            event: serde_json::from_str(&self.event).map_err(RunOnceError::Event)?,
            cells: self.cells.clone(),
            write_cells: self.write_cells,
            json: self.json,
            limits: self.limits.limits().map_err(RunOnceError::Limits)?,
            egress: self.egress.policy(),
        })
    }
}
