//! `bgwasm run-once`: run one piece once, locally, and show what happened.

use crate::cli::{EXIT_RUN_FAILED, EXIT_USAGE, EgressArgs, LimitArgs};
use crate::identity::{DEFAULT_SPACE_ROOT_PASSPHRASE, SpaceRef};
use crate::sandbox::{
    EngineOptions, Limits, MemoryCells, Piece, RunOutcome, SandboxEngine, SandboxError,
    SpaceSandbox,
};
use crate::scheduler::{Clock, RetryPolicy, after_run};
use crate::store::{FinishedRun, PieceId, RegistrationKey, RunTrigger, SqliteStore, Store};
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  bgwasm run-once counter.js\n  \
    bgwasm run-once inbox.js --event '{\"full\":true}' --cells cells.json --write-cells\n  \
    bgwasm run-once loop.js --fuel 1000000 --json\n  \
    bgwasm run-once 56d0caf42c2aa075 --data-dir bgwasm-data --space alice   a stored piece, its stored cells\n  \
    bgwasm run-once 56d0caf42c2aa075 --data-dir bgwasm-data --space alice --commit")]
pub struct RunOnceArgs {
    /// The piece: a .js file that exports `bgUpdater(event, ctx)`; with
    /// --data-dir, the id of a piece stored there.
    #[arg(value_name = "PIECE")]
    pub piece: String,
    /// The space the piece runs in (`ctx.space`). With --data-dir, a space
    /// name (derived as the reference does) or a did:key.
    #[arg(long, value_name = "NAME", default_value = "run-once")]
    pub space: String,
    /// Run a piece stored in this daemon data directory, against the space's
    /// stored cells. Nothing is written unless --commit.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["cells", "write_cells"])]
    pub data_dir: Option<PathBuf>,
    /// With --data-dir: commit the run as a manual run: its history, the
    /// registration's status and, if it succeeded, its cell writes.
    #[arg(long, requires = "data_dir")]
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

/// Why run-once could not run the piece at all. A failing piece is not this.
#[derive(Debug, thiserror::Error)]
pub enum RunOnceError {
    #[error("cannot read the piece {path}: {source}")]
    ReadPiece {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the piece {path} is not UTF-8 text")]
    PieceNotUtf8 { path: PathBuf },
    #[error(
        "--event is not valid JSON ({0}); pass a JSON value such as '{{}}' or '{{\"full\":true}}'"
    )]
    Event(serde_json::Error),
    #[error("cannot read the cells file {path}: {source}")]
    ReadCells {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the cells file {path} is not a JSON object ({problem}); write it as {{\"key\": value, ...}}"
    )]
    CellsFormat { path: PathBuf, problem: String },
    #[error("cannot write the cells back to {path}: {source}")]
    WriteCells {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Limits(String),
    #[error("{0}")]
    Stored(String),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("cannot write the outcome: {0}")]
    Output(std::io::Error),
}

impl RunOnceError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Sandbox(_) | Self::Output(_) | Self::WriteCells { .. } => EXIT_RUN_FAILED,
            _ => EXIT_USAGE,
        }
    }
}

/// Runs the piece and prints the outcome. `Ok(true)` when the handler succeeded.
pub async fn run(args: &RunOnceArgs, out: &mut dyn Write) -> Result<bool, RunOnceError> {
    let limits = args.limits.limits().map_err(RunOnceError::Limits)?;
    let event: serde_json::Value =
        serde_json::from_str(&args.event).map_err(RunOnceError::Event)?;
    let engine = SandboxEngine::new(EngineOptions {
        egress: args.egress.policy(),
        ..EngineOptions::default()
    })
    .await?;
    match &args.data_dir {
        Some(data_dir) => run_stored(args, data_dir, engine, limits, &event, out).await,
        None => run_file(args, engine, limits, &event, out).await,
    }
}

async fn run_file(
    args: &RunOnceArgs,
    engine: Arc<SandboxEngine>,
    limits: Limits,
    event: &serde_json::Value,
    out: &mut dyn Write,
) -> Result<bool, RunOnceError> {
    let path = Path::new(&args.piece);
    let source = read_piece(path)?;
    let cells = Arc::new(MemoryCells::new(match &args.cells {
        Some(path) => read_cells(path)?,
        None => BTreeMap::new(),
    }));
    let piece_id = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "piece".into());
    let mut sandbox = SpaceSandbox::new(engine, args.space.clone(), limits);
    let report = sandbox
        .run(&Piece::new(piece_id.clone(), source), event, cells.clone())
        .await;
    if report.outcome.ok && args.write_cells {
        cells.apply(&report.cell_changes);
        if let Some(path) = &args.cells {
            write_cells(path, &cells.snapshot())?;
        }
    }
    print_outcome(args, out, &piece_id, &report.outcome)?;
    Ok(report.outcome.ok)
}

/// Runs a piece stored in a daemon's data directory against its stored cells.
async fn run_stored(
    args: &RunOnceArgs,
    data_dir: &Path,
    engine: Arc<SandboxEngine>,
    limits: Limits,
    event: &serde_json::Value,
    out: &mut dyn Write,
) -> Result<bool, RunOnceError> {
    let space = SpaceRef::parse(&args.space, DEFAULT_SPACE_ROOT_PASSPHRASE)
        .map_err(|e| RunOnceError::Stored(format!("--space: {e}")))?
        .did()
        .to_string();
    let piece_id =
        PieceId::parse(&args.piece).map_err(|e| RunOnceError::Stored(format!("PIECE: {e}")))?;
    let dir = data_dir.to_owned();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&dir))
        .await
        .map_err(|e| RunOnceError::Stored(e.to_string()))?
        .map_err(|e| {
            RunOnceError::Stored(format!(
                "cannot open the store in {}: {e}",
                data_dir.display()
            ))
        })?;
    let stored = store
        .get_piece(&space, &piece_id)
        .await
        .map_err(|e| RunOnceError::Stored(e.to_string()))?
        .ok_or_else(|| {
            RunOnceError::Stored(format!(
                "no piece {piece_id} in space {space} in {}; list them with `bgwasm status --space {}`",
                data_dir.display(),
                args.space
            ))
        })?;
    let mut sandbox = SpaceSandbox::new(engine, space.clone(), limits);
    let started_at = Clock::system().now();
    let report = sandbox
        .run(
            &Piece::new(piece_id.to_string(), stored.source),
            event,
            store.cell_source(&space),
        )
        .await;
    print_outcome(args, out, piece_id.as_ref(), &report.outcome)?;
    if args.commit {
        let finished_at = Clock::system().now();
        let outcome = report.outcome.clone();
        let policy = RetryPolicy::default();
        let committed = store
            .commit_run(
                FinishedRun {
                    key: RegistrationKey::new(space, piece_id),
                    trigger: RunTrigger::Manual,
                    claim: None,
                    started_at,
                    finished_at,
                    outcome: report.outcome.clone(),
                    cell_changes: report.cell_changes,
                },
                Box::new(move |state| after_run(state, &outcome, finished_at, &policy)),
            )
            .await
            .map_err(|e| RunOnceError::Stored(format!("cannot commit the run: {e}")))?;
        if !args.json {
            writeln!(
                out,
                "committed: run {}{}",
                committed.run_id,
                if committed.cells_applied {
                    ", cells written"
                } else {
                    ", cells unchanged"
                }
            )
            .map_err(RunOnceError::Output)?;
        }
    }
    Ok(report.outcome.ok)
}

fn print_outcome(
    args: &RunOnceArgs,
    out: &mut dyn Write,
    piece_id: &str,
    outcome: &RunOutcome,
) -> Result<(), RunOnceError> {
    if args.json {
        serde_json::to_writer(&mut *out, outcome).map_err(|e| RunOnceError::Output(e.into()))?;
        writeln!(out).map_err(RunOnceError::Output)
    } else {
        write_summary(out, piece_id, outcome).map_err(RunOnceError::Output)
    }
}

fn read_piece(path: &Path) -> Result<String, RunOnceError> {
    let bytes = std::fs::read(path).map_err(|source| RunOnceError::ReadPiece {
        path: path.to_owned(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| RunOnceError::PieceNotUtf8 {
        path: path.to_owned(),
    })
}

fn read_cells(path: &Path) -> Result<BTreeMap<String, String>, RunOnceError> {
    let text = std::fs::read_to_string(path).map_err(|source| RunOnceError::ReadCells {
        path: path.to_owned(),
        source,
    })?;
    let format_error = |problem: String| RunOnceError::CellsFormat {
        path: path.to_owned(),
        problem,
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format_error(e.to_string()))?;
    let serde_json::Value::Object(entries) = value else {
        return Err(format_error("the top level is not an object".into()));
    };
    Ok(entries
        .into_iter()
        .map(|(key, value)| (key, value.to_string()))
        .collect())
}

/// Writes the cells as a pretty JSON object, beside the file first and then
/// renamed over it, so a crash never leaves half a file.
fn write_cells(path: &Path, cells: &BTreeMap<String, String>) -> Result<(), RunOnceError> {
    let write_error = |source| RunOnceError::WriteCells {
        path: path.to_owned(),
        source,
    };
    let mut object = serde_json::Map::new();
    for (key, json) in cells {
        let value =
            serde_json::from_str(json).map_err(|e| write_error(std::io::Error::other(e)))?;
        object.insert(key.clone(), value);
    }
    let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(object))
        .map_err(|e| write_error(e.into()))?;
    text.push('\n');
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text).map_err(write_error)?;
    std::fs::rename(&partial, path).map_err(write_error)
}

/// The readable summary: what a piece author wants to see after a run.
pub fn write_summary(
    out: &mut dyn Write,
    piece_id: &str,
    outcome: &RunOutcome,
) -> std::io::Result<()> {
    match &outcome.error {
        None => writeln!(out, "ok: piece \"{piece_id}\" succeeded")?,
        Some(error) => writeln!(out, "FAILED ({}): {}", error.kind, error.message)?,
    }
    if let Some(stack) = outcome.error.as_ref().and_then(|e| e.stack.as_deref()) {
        for line in stack.lines().filter(|l| !l.trim().is_empty()) {
            writeln!(out, "    {}", line.trim_end())?;
        }
    }
    if let Some(value) = &outcome.value {
        writeln!(out, "value:    {value}")?;
    }
    writeln!(out, "duration: {} ms", outcome.duration_ms)?;
    writeln!(out, "fuel:     {} units", outcome.fuel_used)?;
    writeln!(
        out,
        "memory:   {:.1} MiB peak",
        outcome.memory_peak_bytes as f64 / (1 << 20) as f64
    )?;
    for fetch in &outcome.fetches {
        let result = match (fetch.status, &fetch.error) {
            (Some(status), _) => status.to_string(),
            (None, Some(error)) => format!("failed: {error}"),
            (None, None) => "not finished".into(),
        };
        writeln!(
            out,
            "fetch:    {} {} -> {} ({} ms)",
            fetch.method, fetch.url, result, fetch.duration_ms
        )?;
    }
    for line in &outcome.logs {
        writeln!(out, "log:      [{}] {}", line.level.as_str(), line.message)?;
    }
    for key in &outcome.cell_writes {
        writeln!(out, "cell:     {key}")?;
    }
    Ok(())
}
