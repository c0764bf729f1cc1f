//! One space's sandbox: a wasmtime store holding one guest instance, in which
//! the space's pieces run one at a time.
//!
//! A piece's source is evaluated once per instance and kept under its content
//! hash; a trap (fuel, memory, stack, timeout) discards the instance and the
//! next run gets a fresh one. A TypeScript piece is stripped (through the
//! engine's cache) only when its instance has not loaded it yet, and its
//! errors' positions are mapped back to its `.ts` source.

use super::bindings::Sandbox;
use super::bindings::exports::bgwasm::sandbox::runner;
use super::cells::{CellChange, CellSource};
use super::engine::SandboxEngine;
use super::fetcher::Fetcher;
use super::limits::Limits;
use super::outcome::{ErrorKind, RunError, RunOutcome};
use super::piece::{Lang, Piece};
use super::record::{
    DEFAULT_RECORD_BYTES, Mode, Phase, Player, Recorder, ReplayRecord, ReplayReport,
    compare_outcomes, writes_of,
};
use super::slots::SlotPermit;
use super::state::{RunState, StoreState};
use crate::typescript::{PositionMap, Stripped, TsSyntaxError, remap_stack};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::{Store, Trap};

/// Fuel between two yields to the async runtime, so a busy piece shares its
/// thread and its wall-clock limit can fire (about 10 ms of JavaScript).
const FUEL_PER_YIELD: u64 = 10_000_000;

/// What a run reports, the cell writes to commit if it succeeded, and its
/// record for replay (none when recording is off).
#[derive(Debug, Clone)]
pub struct RunReport {
    pub outcome: RunOutcome,
    pub cell_changes: Vec<CellChange>,
    pub record: Option<Box<ReplayRecord>>,
}

/// One space's sandbox.
pub struct SpaceSandbox {
    engine: Arc<SandboxEngine>,
    space: String,
    limits: Limits,
    /// The cap of each run's record, in bytes; 0 records nothing.
    record_bytes: usize,
    instance: Option<LiveInstance>,
}

struct LiveInstance {
    store: Store<StoreState>,
    bindings: Sandbox,
    /// What each piece loaded in this instance was loaded from.
    loaded: HashMap<String, Loaded>,
    /// The instance's slot in the engine's pool, given back after the store
    /// is dropped (fields drop in order).
    _slot: SlotPermit,
}

/// A piece's source as loaded: its language and content hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loaded {
    lang: Lang,
    hash: [u8; 32],
}

/// How a run ended, before it is written up as a [`RunOutcome`].
enum Ended {
    Returned(Option<String>),
    Failed(runner::RunError),
    Trapped(wasmtime::Error),
    TimedOut,
}

impl SpaceSandbox {
    pub fn new(engine: Arc<SandboxEngine>, space: impl Into<String>, limits: Limits) -> Self {
        Self {
            engine,
            space: space.into(),
            limits,
            record_bytes: DEFAULT_RECORD_BYTES,
            instance: None,
        }
    }

    /// Caps each run's record at `bytes` (0: runs are not recorded).
    pub fn with_record_bytes(mut self, bytes: usize) -> Self {
        self.record_bytes = bytes;
        self
    }

    pub fn space(&self) -> &str {
        &self.space
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether an instance is alive (a run would reuse it).
    pub fn is_live(&self) -> bool {
        self.instance.is_some()
    }

    /// Makes the instance now, rather than at the first run.
    pub async fn instantiate(&mut self) -> anyhow::Result<()> {
        if self.instance.is_none() {
            self.instance = Some(LiveInstance::new(&self.engine, &self.limits).await?);
        }
        Ok(())
    }

    /// Runs `piece` with `event`, reading cells from `cells`, and records it.
    /// Never fails: every way a run can go wrong is in the outcome.
    pub async fn run(
        &mut self,
        piece: &Piece,
        event: &serde_json::Value,
        cells: Arc<dyn CellSource>,
    ) -> RunReport {
        let event = event.to_string();
        let hash = Sha256::digest(piece.source.as_bytes()).into();
        let mode = match self.record_bytes {
            0 => Mode::Live,
            cap => Mode::Record(Box::new(Recorder::new(&piece.id, hash, &event, cap))),
        };
        let (mut report, mode) = self.run_taped(piece, event, cells, mode).await;
        if let Mode::Record(recorder) = mode {
            report.record = Some(Box::new(recorder.finish(&report.cell_changes)));
        }
        report
    }

    /// Runs `piece` again from `record` alone: no network, the recorded
    /// cells, clocks and seed. Says whether it came to `recorded` (the run's
    /// outcome), or where it diverged. A piece whose source is not the one
    /// the run ran diverges there, unless `other_source` says it is meant
    /// (`--source`).
    pub async fn replay(
        &mut self,
        piece: &Piece,
        record: ReplayRecord,
        recorded: &RunOutcome,
        other_source: bool,
    ) -> ReplayReport {
        let hash = hex::encode(Sha256::digest(piece.source.as_bytes()));
        let changed_source = (hash != record.source_hash && !other_source).then(|| {
            format!(
                "the piece's source changed: the run ran source sha256 {}, this is {hash}; \
                 pass --source FILE to replay the run's inputs against another source",
                record.source_hash
            )
        });
        let recorded_writes = record.writes.clone();
        let event = record.event.to_string();
        let cells = Arc::new(super::MemoryCells::default());
        let player = Mode::Replay(Box::new(Player::new(record)));
        let (report, mode) = self.run_taped(piece, event, cells, player).await;
        let divergence = match mode {
            Mode::Replay(mut player) => {
                player.finish();
                player.divergence().map(str::to_owned)
            }
            _ => None,
        };
        let writes = writes_of(&report.cell_changes);
        let differences = compare_outcomes(recorded, &recorded_writes, &report.outcome, &writes);
        let divergence = changed_source.or(divergence);
        ReplayReport {
            same: divergence.is_none() && differences.is_empty(),
            divergence,
            differences,
            outcome: report.outcome,
            writes,
        }
    }

    /// Runs `piece` with its outside inputs going through the tape in
    /// `mode`; hands the mode back with what it recorded or played.
    async fn run_taped(
        &mut self,
        piece: &Piece,
        event: String,
        cells: Arc<dyn CellSource>,
        mode: Mode,
    ) -> (RunReport, Mode) {
        let started = Instant::now();
        let limits = self.limits;
        let loaded = Loaded {
            lang: piece.lang,
            hash: Sha256::digest(piece.source.as_bytes()).into(),
        };
        let already_loaded = self
            .instance
            .as_ref()
            .is_some_and(|live| live.loaded.get(&piece.id) == Some(&loaded));
        // What the guest is to evaluate, when it has not already.
        let mut stripped = None;
        let to_load = match piece.lang {
            _ if already_loaded => None,
            Lang::JavaScript => Some(piece.source.clone()),
            Lang::TypeScript => match self.strip(piece) {
                Ok(done) => Some(stripped.insert(done).js.clone()),
                Err(error) => return (ts_syntax_failure(piece, &error, started), mode),
            },
        };

        let engine = &self.engine;
        let space = self.space.as_str();
        let slot = &mut self.instance;
        let ended = tokio::time::timeout(limits.timeout, async {
            if slot.is_none() {
                match LiveInstance::new(engine, &limits).await {
                    Ok(instance) => *slot = Some(instance),
                    Err(error) => return Ended::Trapped(wasmtime::Error::from_anyhow(error)),
                }
            }
            let live = slot.as_mut().expect("made above");
            live.store.data_mut().tape.begin(mode);
            live.store.data_mut().run = RunState::start(cells, &limits);
            live.store.data_mut().memory.denied = false;
            if let Err(error) = live.store.set_fuel(limits.fuel) {
                return Ended::Trapped(error);
            }
            live.call(piece, loaded, to_load.as_deref(), space, &event)
                .await
        })
        .await
        .unwrap_or(Ended::TimedOut);

        let mut report = RunReport {
            outcome: RunOutcome::default(),
            cell_changes: Vec::new(),
            record: None,
        };
        let mut memory_denied = false;
        let mut live_intervals = Vec::new();
        let mut mode = Mode::Live;
        if let Some(live) = self.instance.as_mut() {
            mode = live.store.data().tape.finish();
            report.outcome.fuel_used = limits
                .fuel
                .saturating_sub(live.store.get_fuel().unwrap_or(0));
            let state = live.store.data_mut();
            // Replacing the run state drops its fetches in flight, aborting them.
            let mut run = std::mem::replace(&mut state.run, RunState::idle());
            run.finish_logs();
            live_intervals = run.live_intervals();
            report.outcome.memory_peak_bytes = state.memory.peak as u64;
            memory_denied = state.memory.denied;
            report.outcome.cell_writes = run.cell_writes();
            report.cell_changes = run.cell_changes();
            report.outcome.logs = std::mem::take(&mut run.logs);
            report.outcome.fetches = std::mem::take(&mut run.fetches);
        }

        match ended {
            Ended::Returned(json) => match json.as_deref().map(serde_json::from_str).transpose() {
                Ok(value) => {
                    report.outcome.ok = true;
                    report.outcome.value = value;
                }
                Err(error) => {
                    report.outcome.error = Some(RunError {
                        kind: ErrorKind::InvalidResult,
                        message: format!(
                            "piece \"{}\" resolved to JSON that does not parse: {error}",
                            piece.id
                        ),
                        stack: None,
                    });
                }
            },
            Ended::Failed(error) => report.outcome.error = Some(guest_error(error, memory_denied)),
            Ended::Trapped(error) => {
                report.outcome.error = Some(trap_error(&piece.id, &error, memory_denied, &limits))
            }
            Ended::TimedOut => {
                let message = if live_intervals.is_empty() {
                    format!(
                        "piece \"{}\" was stopped after its time limit of {}, which counts waiting on fetches and timers; \
                         make the handler finish sooner, or raise --timeout",
                        piece.id,
                        humantime::format_duration(limits.timeout)
                    )
                } else {
                    format!(
                        "piece \"{}\" was stopped after its time limit of {}: an interval that is never cleared keeps a run \
                         going, and these were still set: {}; call clearInterval when the work is done",
                        piece.id,
                        humantime::format_duration(limits.timeout),
                        live_intervals.join("; ")
                    )
                };
                report.outcome.error = Some(RunError {
                    kind: ErrorKind::Timeout,
                    message,
                    stack: None,
                });
            }
        }
        if !report.outcome.ok {
            report.cell_changes.clear();
        }
        if piece.lang == Lang::TypeScript && mentions_positions(&report.outcome, &piece.id) {
            let map = match stripped {
                Some(done) => Some(done.map),
                // Loaded by an earlier run: the cache has it, unless it was
                // dropped since.
                None => self.strip(piece).ok().map(|done| done.map),
            };
            if let Some(map) = map {
                remap_outcome(&mut report.outcome, &piece.id, &map);
            }
        }
        let discard = memory_denied
            || report
                .outcome
                .error_kind()
                .is_some_and(ErrorKind::kills_instance);
        if discard {
            self.instance = None;
        }
        report.outcome.duration_ms = started.elapsed().as_millis() as u64;
        (report, mode)
    }
}

impl SpaceSandbox {
    /// The piece's source stripped of its types, through the engine's cache.
    fn strip(&self, piece: &Piece) -> Result<Stripped, TsSyntaxError> {
        self.engine
            .strip_cache()
            .strip(&piece.source, &piece.file_name())
    }
}

/// The report of a TypeScript piece whose source does not parse.
fn ts_syntax_failure(piece: &Piece, error: &TsSyntaxError, started: Instant) -> RunReport {
    let position = error.position;
    let mut message = format!(
        "piece \"{}\" does not parse as TypeScript: line {}, column {}: {}",
        piece.id, position.line, position.column, error.message
    );
    if let Some(help) = &error.help {
        message.push_str(&format!(" ({help})"));
    }
    if error.more > 0 {
        message.push_str(&format!(" (and {} more)", error.more));
    }
    let mut outcome = RunOutcome::failure(ErrorKind::SyntaxError, message);
    if let Some(error) = outcome.error.as_mut() {
        error.stack = Some(format!(
            "    at {}:{}:{}",
            piece.id, position.line, position.column
        ));
    }
    outcome.duration_ms = started.elapsed().as_millis() as u64;
    RunReport {
        outcome,
        cell_changes: Vec::new(),
        record: None,
    }
}

/// Whether the outcome may hold positions in the piece: its error, or a log
/// line that names the piece (a stack the piece logged itself).
fn mentions_positions(outcome: &RunOutcome, piece_id: &str) -> bool {
    let named = format!("{piece_id}:");
    outcome.error.is_some() || outcome.logs.iter().any(|log| log.message.contains(&named))
}

/// Points the positions in a TypeScript piece's error and logs at its `.ts`
/// source.
fn remap_outcome(outcome: &mut RunOutcome, piece_id: &str, map: &PositionMap) {
    if let Some(error) = outcome.error.as_mut() {
        error.message = remap_stack(&error.message, piece_id, map);
        if let Some(stack) = error.stack.as_mut() {
            *stack = remap_stack(stack, piece_id, map);
        }
    }
    for log in &mut outcome.logs {
        log.message = remap_stack(&log.message, piece_id, map);
    }
}

impl LiveInstance {
    async fn new(engine: &SandboxEngine, limits: &Limits) -> anyhow::Result<Self> {
        let slot = engine.slots().acquire().await;
        let fetcher = Arc::new(Fetcher::new(
            engine.http().clone(),
            engine.egress().clone(),
            limits,
        ));
        let mut store = Store::new(engine.engine(), StoreState::new(fetcher, limits));
        store.limiter(|state| &mut state.memory);
        store.set_fuel(limits.fuel)?;
        store.fuel_async_yield_interval(Some(FUEL_PER_YIELD))?;
        let bindings = engine.pre().instantiate_async(&mut store).await?;
        Ok(Self {
            store,
            bindings,
            loaded: HashMap::new(),
            _slot: slot,
        })
    }

    /// Runs the piece, loading it from `source` first unless it was loaded
    /// from the same source already.
    async fn call(
        &mut self,
        piece: &Piece,
        loaded: Loaded,
        source: Option<&str>,
        space: &str,
        event: &str,
    ) -> Ended {
        let runner = self.bindings.bgwasm_sandbox_runner();
        if self.loaded.get(&piece.id) != Some(&loaded) {
            self.loaded.remove(&piece.id);
            let Some(source) = source else {
                return Ended::Trapped(wasmtime::Error::msg(format!(
                    "piece \"{}\" was to be loaded but its source was not prepared",
                    piece.id
                )));
            };
            match runner.call_load(&mut self.store, &piece.id, source).await {
                Ok(Ok(())) => {
                    self.loaded.insert(piece.id.clone(), loaded);
                }
                Ok(Err(error)) => return Ended::Failed(error),
                Err(trap) => return Ended::Trapped(trap),
            }
        }
        // Only the handler's run is taped, not the loading of its module.
        self.store.data().tape.set_phase(Phase::Running);
        let ran = runner
            .call_run(&mut self.store, &piece.id, space, event)
            .await;
        self.store.data().tape.set_phase(Phase::Idle);
        match ran {
            Ok(Ok(value)) => Ended::Returned(value),
            Ok(Err(error)) => Ended::Failed(error),
            Err(trap) => Ended::Trapped(trap),
        }
    }
}

fn guest_error(error: runner::RunError, memory_denied: bool) -> RunError {
    use runner::ErrorKind as Guest;
    let kind = match error.kind {
        _ if memory_denied => ErrorKind::MemoryLimit,
        Guest::JsError => ErrorKind::JsError,
        Guest::SyntaxError => ErrorKind::SyntaxError,
        Guest::NoHandler => ErrorKind::NoHandler,
        Guest::Unsettled => ErrorKind::Unsettled,
        Guest::InvalidResult => ErrorKind::InvalidResult,
        Guest::StackOverflow => ErrorKind::StackOverflow,
        Guest::MemoryLimit => ErrorKind::MemoryLimit,
    };
    RunError {
        kind,
        message: error.message,
        stack: error.stack,
    }
}

/// QuickJS keeps its C stack in linear memory, below everything else, and on
/// WASI it does not check its depth. Unbounded recursion therefore runs the
/// stack pointer below address zero, where it wraps: a fault at the very top of
/// the 32-bit address space is that, and nothing else.
fn shadow_stack_wrapped(error: &wasmtime::Error) -> bool {
    const MARKER: &str = "memory fault at wasm address 0x";
    error.chain().any(|cause| {
        let text = cause.to_string();
        text.find(MARKER)
            .and_then(|at| {
                let hex: String = text[at + MARKER.len()..]
                    .chars()
                    .take_while(char::is_ascii_hexdigit)
                    .collect();
                u64::from_str_radix(&hex, 16).ok()
            })
            .is_some_and(|address| address >= 0xffff_0000)
    })
}

fn trap_error(
    piece_id: &str,
    error: &wasmtime::Error,
    memory_denied: bool,
    limits: &Limits,
) -> RunError {
    let trap = error.downcast_ref::<Trap>();
    let (kind, message) = match trap {
        Some(Trap::OutOfFuel) => (
            ErrorKind::FuelExhausted,
            format!(
                "piece \"{piece_id}\" used up its fuel ({} units) and was stopped: look for an endless loop, or raise --fuel",
                limits.fuel
            ),
        ),
        Some(Trap::StackOverflow) | Some(Trap::MemoryOutOfBounds)
            if trap == Some(&Trap::StackOverflow) || shadow_stack_wrapped(error) =>
        {
            (
                ErrorKind::StackOverflow,
                format!(
                    "piece \"{piece_id}\" overflowed the stack and was stopped: look for unbounded recursion"
                ),
            )
        }
        _ if memory_denied => (
            ErrorKind::MemoryLimit,
            format!(
                "piece \"{piece_id}\" reached the sandbox's memory limit of {} MiB and was stopped: keep less in memory, or raise --memory-mib",
                limits.memory_bytes >> 20
            ),
        ),
        _ => (
            ErrorKind::Internal,
            format!(
                "piece \"{piece_id}\" crashed the sandbox ({error:#}); this is a bug in bgwasm, please report it"
            ),
        ),
    };
    RunError {
        kind,
        message,
        stack: None,
    }
}
