//! `bgwasm run-once`: run one piece once, locally, and show what happened.

use crate::identity::{DEFAULT_SPACE_ROOT_PASSPHRASE, SpaceRef};
use crate::sandbox::{
    EgressPolicy, EngineOptions, Lang, Limits, MemoryCells, Piece, RunOutcome, SandboxEngine,
    SandboxError, SpaceSandbox,
};
use crate::scheduler::{Clock, RetryPolicy, after_run};
use crate::store::{FinishedRun, PieceId, RegistrationKey, RunTrigger, SpaceLease, StoreUrl};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What to run and how, as the command line decided it.
#[derive(Debug, Clone)]
pub struct RunOnceOptions {
    /// A .js or .ts file, or with `store` the id of a stored piece.
    pub piece: String,
    /// The file's language; by default its extension says (`.ts` and `.mts`
    /// are TypeScript). A stored piece has its own.
    pub lang: Option<Lang>,
    /// The space the piece runs in; with `store`, a name or a did:key.
    pub space: String,
    /// Run a piece stored in this store.
    pub store: Option<StoreUrl>,
    /// With `store`: commit the run as a manual run.
    pub commit: bool,
    /// The event passed to the handler.
    pub event: serde_json::Value,
    /// A JSON object whose entries seed the space's cells.
    pub cells: Option<PathBuf>,
    /// After a successful run, write the cells back to `cells`.
    pub write_cells: bool,
    /// Print the outcome as one JSON object.
    pub json: bool,
    pub limits: Limits,
    pub egress: EgressPolicy,
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

/// Runs the piece and prints the outcome. `Ok(true)` when the handler succeeded.
pub async fn run(args: &RunOnceOptions, out: &mut dyn Write) -> Result<bool, RunOnceError> {
    let engine = SandboxEngine::new(EngineOptions {
        egress: args.egress.clone(),
        ..EngineOptions::default()
    })
    .await?;
    match &args.store {
        Some(store) => run_stored(args, store, engine, &args.event, out).await,
        None => run_file(args, engine, &args.event, out).await,
    }
}

async fn run_file(
    args: &RunOnceOptions,
    engine: Arc<SandboxEngine>,
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
    let mut sandbox = SpaceSandbox::new(engine, args.space.clone(), args.limits);
    let lang = args
        .lang
        .or_else(|| Lang::from_file_name(&args.piece))
        .unwrap_or_default();
    let piece = Piece::new(piece_id.clone(), source).with_lang(lang);
    let report = sandbox.run(&piece, event, cells.clone()).await;
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
    args: &RunOnceOptions,
    store_url: &StoreUrl,
    engine: Arc<SandboxEngine>,
    event: &serde_json::Value,
    out: &mut dyn Write,
) -> Result<bool, RunOnceError> {
    let space = SpaceRef::parse(&args.space, DEFAULT_SPACE_ROOT_PASSPHRASE)
        .map_err(|e| RunOnceError::Stored(format!("--space: {e}")))?
        .did()
        .to_string();
    let piece_id =
        PieceId::parse(&args.piece).map_err(|e| RunOnceError::Stored(format!("PIECE: {e}")))?;
    let store = store_url
        .open()
        .await
        .map_err(|e| RunOnceError::Stored(format!("cannot open the store {store_url}: {e}")))?;
    let stored = store
        .get_piece(&space, &piece_id)
        .await
        .map_err(|e| RunOnceError::Stored(e.to_string()))?
        .ok_or_else(|| {
            RunOnceError::Stored(format!(
                "no piece {piece_id} in space {space} in {store_url}; list them with `bgwasm status --space {}`",
                args.space
            ))
        })?;
    // On a store shared by several nodes, a run to be committed takes its
    // space's lease first, as a node's manual run does, so it never overlaps
    // a node running the space, and its commit is fenced like theirs.
    let lease = match (args.commit, store.leases()) {
        (true, Some(leases)) => match leases
            .acquire_space(&space)
            .await
            .map_err(|e| RunOnceError::Stored(format!("cannot take the space's lease: {e}")))?
        {
            SpaceLease::Held(token) => Some(token),
            SpaceLease::Busy { node, expires_in } => {
                return Err(RunOnceError::Stored(format!(
                    "space {space} is running on node {node} (its lease has {}s left); \
                     `run-once --commit` does not wait: try again once that node is done \
                     with it, or run without --commit",
                    expires_in.as_secs().max(1)
                )));
            }
        },
        _ => None,
    };
    let mut sandbox = SpaceSandbox::new(engine, space.clone(), args.limits);
    let started_at = Clock::system().now();
    let report = sandbox
        .run(
            &Piece::new(piece_id.to_string(), stored.source).with_lang(stored.info.lang),
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
                    lease,
                    key: RegistrationKey::new(space, piece_id),
                    trigger: RunTrigger::Manual,
                    claim: None,
                    started_at,
                    finished_at,
                    outcome: report.outcome.clone(),
                    cell_changes: report.cell_changes,
                    record: report.record,
                },
                Box::new(move |state| after_run(state, &outcome, finished_at, &policy)),
            )
            .await;
        if lease.is_some()
            && let Some(leases) = store.leases()
            && let Err(error) = leases.leave().await
        {
            tracing::warn!(%error, "could not give back the space's lease; it expires by itself");
        }
        let committed =
            committed.map_err(|e| RunOnceError::Stored(format!("cannot commit the run: {e}")))?;
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
    args: &RunOnceOptions,
    out: &mut dyn Write,
    piece_id: &str,
    outcome: &RunOutcome,
) -> Result<(), RunOnceError> {
    if args.json {
        serde_json::to_writer(&mut *out, outcome).map_err(|e| RunOnceError::Output(e.into()))?;
        writeln!(out).map_err(RunOnceError::Output)
    } else {
        outcome
            .write_summary(out, piece_id)
            .map_err(RunOnceError::Output)
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
