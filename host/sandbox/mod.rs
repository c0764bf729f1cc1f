//! The sandbox: one wasmtime store per space, holding one instance of the
//! QuickJS guest, in which the space's pieces run one at a time under fuel,
//! memory and wall-clock limits.
//!
//! [`SandboxEngine`] is shared by every space: the compiled (and
//! pre-initialised) guest and the HTTP client. [`SpaceSandbox`] is one space's
//! sandbox; [`SpaceSandbox::run`] runs a piece and reports a [`RunOutcome`].

mod bindings;
mod cache;
mod cells;
mod egress;
mod engine;
mod fetcher;
mod limits;
mod outcome;
mod piece;
mod pool;
mod record;
mod slots;
mod space;
mod state;
mod transfers;

pub use cells::{CellChange, CellSource, MemoryCells};
pub use egress::{DenyRule, EgressDenied, EgressPolicy, HostPattern};
pub use engine::{EngineOptions, SandboxEngine};
pub use limits::Limits;
pub use outcome::{ErrorKind, FetchRecord, LogLevel, LogLine, RunError, RunOutcome};
pub use piece::{Lang, Piece, UnknownLang};
pub use pool::{DEFAULT_MAX_LIVE_SANDBOXES, SandboxPool};
pub use record::{
    DEFAULT_RECORD_BYTES, RECORD_VERSION, RecordedEvent, RecordedFetch, RecordedHead,
    RecordedWrite, ReplayRecord, ReplayReport,
};
pub use space::{RunReport, SpaceSandbox};

/// Why the sandbox could not be set up. A failing run is not this: it is a
/// [`RunOutcome`] with `ok: false`.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot prepare the JavaScript sandbox: {0:#}")]
    Setup(anyhow::Error),
    #[error("cannot use the compiled-guest cache at {path}: {source}")]
    Cache {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}
