//! `bgwasm run-once`: run one piece once, locally, and show what happened.

use crate::cli::{EXIT_RUN_FAILED, EXIT_USAGE, EgressArgs, LimitArgs};
use crate::sandbox::{
    EngineOptions, MemoryCells, Piece, RunOutcome, SandboxEngine, SandboxError, SpaceSandbox,
};
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  bgwasm run-once counter.js\n  \
    bgwasm run-once inbox.js --event '{\"full\":true}' --cells cells.json --write-cells\n  \
    bgwasm run-once loop.js --fuel 1000000 --json")]
pub struct RunOnceArgs {
    /// The piece: a .js file that exports `bgUpdater(event, ctx)`.
    #[arg(value_name = "PIECE")]
    pub piece: PathBuf,
    /// The space the piece runs in (its name appears as `ctx.space`).
    #[arg(long, value_name = "NAME", default_value = "run-once")]
    pub space: String,
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
    let source = read_piece(&args.piece)?;
    let event: serde_json::Value =
        serde_json::from_str(&args.event).map_err(RunOnceError::Event)?;
    let cells = Arc::new(MemoryCells::new(match &args.cells {
        Some(path) => read_cells(path)?,
        None => BTreeMap::new(),
    }));
    let piece_id = args
        .piece
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "piece".into());

    let engine = SandboxEngine::new(EngineOptions {
        egress: args.egress.policy(),
        ..EngineOptions::default()
    })
    .await?;
    let mut sandbox = SpaceSandbox::new(engine, args.space.clone(), limits);
    let report = sandbox
        .run(&Piece::new(piece_id.clone(), source), &event, cells.clone())
        .await;

    if report.outcome.ok && args.write_cells {
        cells.apply(&report.cell_changes);
        if let Some(path) = &args.cells {
            write_cells(path, &cells.snapshot())?;
        }
    }
    if args.json {
        serde_json::to_writer(&mut *out, &report.outcome)
            .map_err(|e| RunOnceError::Output(e.into()))?;
        writeln!(out).map_err(RunOnceError::Output)?;
    } else {
        write_summary(out, &piece_id, &report.outcome).map_err(RunOnceError::Output)?;
    }
    Ok(report.outcome.ok)
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
