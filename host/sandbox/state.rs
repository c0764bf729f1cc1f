//! The data of a space's store: WASI plumbing, the memory limiter, and the
//! state of the run in progress, which the host imports read and write.

use super::bindings::bgwasm::sandbox::{cells, events, http, logging, timers};
use super::cells::{CellChange, CellSource};
use super::fetcher::Fetcher;
use super::limits::Limits;
use super::outcome::{FetchRecord, LogLevel, LogLine};
use super::record::{Delivered, Phase, Tape};
use super::transfers::{Finished, Transfers};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

/// A cell key's longest length, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// A cell's largest JSON text, in bytes.
const MAX_CELL_BYTES: usize = 4 << 20;
/// What one run may write to cells in all (keys and values held until the
/// commit): the host's memory is not the guest's to spend.
const MAX_RUN_CELL_BYTES: usize = 32 << 20;
/// Distinct cells one run may write or delete.
const MAX_RUN_CELL_KEYS: usize = 10_000;
/// Log lines kept per run; the rest are counted, not kept.
const MAX_LOG_LINES: usize = 1000;
/// Bytes of log text kept per run.
const MAX_LOG_BYTES: usize = 256 << 10;

pub struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub memory: MemoryLimiter,
    fetcher: Arc<Fetcher>,
    pub run: RunState,
    /// Where the clocks, the randomness and the run's outside inputs are
    /// recorded or replayed from.
    pub tape: Tape,
}

impl StoreState {
    pub fn new(fetcher: Arc<Fetcher>, limits: &Limits) -> Self {
        let tape = Tape::default();
        Self {
            // No files, no environment, no sockets: pieces reach the world only
            // through the bgwasm interfaces. Clocks and randomness go through
            // the tape, so a run can be recorded and replayed.
            wasi: WasiCtx::builder()
                .wall_clock(tape.wall_clock())
                .monotonic_clock(tape.monotonic_clock())
                .secure_random(tape.random())
                .build(),
            table: ResourceTable::new(),
            memory: MemoryLimiter::new(limits.memory_bytes),
            fetcher,
            run: RunState::idle(),
            tape,
        }
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Enforces the sandbox's memory limit over all its linear memories together,
/// and remembers the peak and whether the limit was hit.
pub struct MemoryLimiter {
    limit: usize,
    total: usize,
    pub peak: usize,
    pub denied: bool,
}

impl MemoryLimiter {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            total: 0,
            peak: 0,
            denied: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total - current.min(self.total) + desired;
        if total > self.limit {
            self.denied = true;
            return Ok(false);
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// Everything one run started and recorded. A fresh one is made per run; the
/// old one's fetches are aborted when it is dropped.
pub struct RunState {
    cells: Option<Arc<dyn CellSource>>,
    overlay: BTreeMap<String, Option<String>>,
    /// Bytes of keys and values in `overlay`.
    overlay_bytes: usize,
    touched: Vec<String>,
    pub logs: Vec<LogLine>,
    log_bytes: usize,
    dropped_logs: usize,
    pub fetches: Vec<FetchRecord>,
    max_fetches: u32,
    transfers: Transfers,
    /// Each fetch's record in `fetches`, by fetch id.
    fetch_slots: HashMap<u32, usize>,
    timers: BTreeSet<(Instant, u32)>,
    armed: HashMap<u32, Armed>,
    /// How many of `timers` are unreferenced: they do not keep the run going.
    unref_timers: usize,
    /// Body reads refused at once, delivered by the next wait.
    refused: Vec<events::Completion>,
    next_id: u32,
}

impl RunState {
    pub fn idle() -> Self {
        Self {
            cells: None,
            overlay: BTreeMap::new(),
            overlay_bytes: 0,
            touched: Vec::new(),
            logs: Vec::new(),
            log_bytes: 0,
            dropped_logs: 0,
            fetches: Vec::new(),
            max_fetches: 0,
            transfers: Transfers::default(),
            fetch_slots: HashMap::new(),
            timers: BTreeSet::new(),
            armed: HashMap::new(),
            unref_timers: 0,
            refused: Vec::new(),
            next_id: 1,
        }
    }

    pub fn start(cells: Arc<dyn CellSource>, limits: &Limits) -> Self {
        Self {
            cells: Some(cells),
            max_fetches: limits.max_fetches,
            ..Self::idle()
        }
    }

    /// The keys written or deleted, in the order first touched.
    pub fn cell_writes(&self) -> Vec<String> {
        self.touched.clone()
    }

    /// The run's writes, for the caller to commit.
    pub fn cell_changes(&self) -> Vec<CellChange> {
        self.touched
            .iter()
            .map(|key| CellChange {
                key: key.clone(),
                value: self.overlay.get(key).cloned().flatten(),
            })
            .collect()
    }

    /// Closes the log: a line saying how many were dropped, if any.
    pub fn finish_logs(&mut self) {
        if self.dropped_logs > 0 {
            self.logs.push(LogLine {
                level: LogLevel::Warn,
                message: format!(
                    "{} more log lines were dropped: a run keeps at most {MAX_LOG_LINES} lines and {} KiB",
                    self.dropped_logs,
                    MAX_LOG_BYTES >> 10
                ),
            });
            self.dropped_logs = 0;
        }
    }

    fn fresh_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    fn source(&self) -> Result<&Arc<dyn CellSource>, String> {
        self.cells
            .as_ref()
            .ok_or_else(|| "cells can only be used while a piece runs".to_string())
    }

    /// Records a write or delete of `key` in the overlay, within the run's
    /// budget.
    fn write(&mut self, key: String, value: Option<String>) -> Result<(), String> {
        let size =
            |key: &str, value: &Option<String>| key.len() + value.as_ref().map_or(0, String::len);
        let previous = self.overlay.get(&key).map(|old| size(&key, old));
        if previous.is_none() && self.touched.len() >= MAX_RUN_CELL_KEYS {
            return Err(format!(
                "cells: a run may write or delete at most {MAX_RUN_CELL_KEYS} cells; write fewer, larger cells"
            ));
        }
        let bytes = self.overlay_bytes - previous.unwrap_or(0) + size(&key, &value);
        if bytes > MAX_RUN_CELL_BYTES {
            return Err(format!(
                "cells: a run may write at most {} MiB to cells in all; write less per run",
                MAX_RUN_CELL_BYTES >> 20
            ));
        }
        if previous.is_none() {
            self.touched.push(key.clone());
        }
        self.overlay_bytes = bytes;
        self.overlay.insert(key, value);
        Ok(())
    }
}

impl cells::Host for StoreState {
    fn get(&mut self, key: String) -> Option<String> {
        if let Some(written) = self.run.overlay.get(&key) {
            return written.clone();
        }
        let replayed = self.tape.replaying(|player, phase| match phase {
            Phase::Running => player.cell(&key),
            Phase::Idle => player.cell_if_recorded(&key),
        });
        if let Some(value) = replayed {
            return value;
        }
        let value = match self.run.source().and_then(|cells| cells.get(&key)) {
            Ok(value) => value,
            Err(problem) => {
                tracing::warn!(key = %key, %problem, "reading a cell failed");
                None
            }
        };
        self.tape.recording(|recorder| recorder.cell(&key, &value));
        value
    }

    fn set(&mut self, key: String, json: String) -> Result<(), String> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(format!(
                "cells.set: a key must be 1 to {MAX_KEY_BYTES} bytes long, not {}",
                key.len()
            ));
        }
        if json.len() > MAX_CELL_BYTES {
            return Err(format!(
                "cells.set({key:?}): the value is {} bytes of JSON; a cell holds at most {} MiB",
                json.len(),
                MAX_CELL_BYTES >> 20
            ));
        }
        self.run.write(key, Some(json))
    }

    fn delete(&mut self, key: String) -> Result<(), String> {
        self.run.write(key, None)
    }

    fn keys(&mut self) -> Vec<String> {
        let replayed = self.tape.replaying(|player, phase| match phase {
            Phase::Running => player.keys(),
            Phase::Idle => player.record().keys.clone().unwrap_or_default(),
        });
        let source = match replayed {
            Some(keys) => Ok(keys),
            None => self.run.source().and_then(|cells| cells.keys()),
        };
        let mut keys: BTreeSet<String> = match source {
            Ok(keys) => {
                self.tape.recording(|recorder| recorder.keys(&keys));
                keys.into_iter().collect()
            }
            Err(problem) => {
                tracing::warn!(%problem, "listing cells failed");
                BTreeSet::new()
            }
        };
        for (key, value) in &self.run.overlay {
            if value.is_some() {
                keys.insert(key.clone());
            } else {
                keys.remove(key);
            }
        }
        keys.into_iter().collect()
    }
}

impl logging::Host for StoreState {
    fn log(&mut self, level: logging::Level, message: String) {
        let run = &mut self.run;
        if run.logs.len() >= MAX_LOG_LINES || run.log_bytes + message.len() > MAX_LOG_BYTES {
            run.dropped_logs += 1;
            return;
        }
        run.log_bytes += message.len();
        let level = match level {
            logging::Level::Debug => LogLevel::Debug,
            logging::Level::Info => LogLevel::Info,
            logging::Level::Warn => LogLevel::Warn,
            logging::Level::Error => LogLevel::Error,
        };
        run.logs.push(LogLine { level, message });
    }
}

impl http::Host for StoreState {
    fn start(&mut self, request: http::Request) -> Result<u32, String> {
        let run = &mut self.run;
        if run.fetches.len() as u32 >= run.max_fetches {
            return Err(format!(
                "fetch {} refused: a run may make at most {} fetches (--max-fetches)",
                request.url, run.max_fetches
            ));
        }
        let id = run.fresh_id();
        let replayed = self.tape.replaying(|player, phase| match phase {
            Phase::Running => player.start_fetch(id, &request.method, &request.url),
            Phase::Idle => Err(format!(
                "fetch {} refused: a replay does not fetch while a piece loads",
                request.url
            )),
        });
        if let Some(Err(divergence)) = replayed {
            return Err(format!("replay: {divergence}"));
        }
        self.tape
            .recording(|recorder| recorder.fetch_started(&request.method, &request.url));
        run.fetch_slots.insert(id, run.fetches.len());
        run.fetches.push(FetchRecord {
            method: request.method.clone(),
            url: request.url.clone(),
            status: None,
            duration_ms: 0,
            error: None,
        });
        if replayed.is_some() {
            // Answered from the record at the waits.
            return Ok(id);
        }
        let fetcher = self.fetcher.clone();
        let held = run.transfers.held();
        run.transfers
            .start(id, async move { fetcher.fetch(request, held).await });
        Ok(id)
    }

    fn read_body(&mut self, id: u32) {
        let refused = match self.tape.replaying(|player, _| player.read_body(id)) {
            Some(replayed) => replayed,
            None => self.run.transfers.read_body(id),
        };
        if let Some(refused) = refused {
            self.run.refused.push(refused);
        }
    }

    fn cancel(&mut self, id: u32) {
        if self.tape.replaying(|player, _| player.cancel(id)).is_none() {
            self.run.transfers.cancel(id);
        }
    }
}

/// A timer the guest armed.
struct Armed {
    deadline: Instant,
    period: Duration,
    kind: timers::Kind,
}

impl timers::Host for StoreState {
    fn start(&mut self, delay_ms: u32, kind: timers::Kind) -> u32 {
        let run = &mut self.run;
        let id = run.fresh_id();
        self.tape.recording(|recorder| recorder.timer_started(id));
        self.tape.replaying(|player, phase| {
            if phase == Phase::Running {
                player.timer_started(id);
            }
        });
        let period = Duration::from_millis(delay_ms.into());
        let deadline = Instant::now() + period;
        run.timers.insert((deadline, id));
        if matches!(kind, timers::Kind::Unref) {
            run.unref_timers += 1;
        }
        run.armed.insert(
            id,
            Armed {
                deadline,
                period,
                kind,
            },
        );
        id
    }

    fn cancel(&mut self, id: u32) {
        if let Some(armed) = self.run.armed.remove(&id) {
            self.run.disarm(id, &armed);
        }
    }
}

impl events::Host for StoreState {
    fn pending(&mut self) -> u32 {
        let run = &self.run;
        let timers = run.timers.len() - run.unref_timers;
        let replayed = self.tape.replaying(|player, phase| {
            (phase == Phase::Running).then(|| (player.pending(), player.stalled()))
        });
        match replayed.flatten() {
            // The replay left the record: the guest's loop is wound down.
            Some((_, true)) => 0,
            Some((transfers, false)) => (transfers + timers + run.refused.len()) as u32,
            None => (run.transfers.pending() + timers + run.refused.len()) as u32,
        }
    }

    async fn wait(&mut self) -> Vec<events::Completion> {
        let mut ready = std::mem::take(&mut self.run.refused);
        if !ready.is_empty() {
            return ready;
        }
        let replaying = self
            .tape
            .replaying(|_, phase| phase == Phase::Running)
            .unwrap_or(false);
        if replaying {
            let pending = self.pending() as usize;
            if pending > 0 {
                self.replay_wait(pending, &mut ready);
            }
            return ready;
        }
        let run = &mut self.run;
        if run.transfers.pending() == 0 && run.timers.len() == run.unref_timers {
            return ready;
        }
        let next_timer = run.timers.first().map(|(at, _)| *at);
        tokio::select! {
            finished = run.transfers.next(), if run.transfers.pending() > 0 => {
                ready.push(run.record(finished));
            }
            _ = sleep_until(next_timer), if next_timer.is_some() => {}
        }
        // Hand over everything else that is ready too, so one wait serves a
        // burst of completions.
        while let Some(finished) = run.transfers.next_ready() {
            ready.push(run.record(finished));
        }
        let now = Instant::now();
        let due: Vec<(Instant, u32)> = run.timers.range(..=(now, u32::MAX)).copied().collect();
        for (at, id) in due {
            run.timers.remove(&(at, id));
            ready.push(run.fire(id, at, now));
        }
        let run = &self.run;
        self.tape.recording(|recorder| {
            recorder.batch(&ready, |id| {
                let slot = *run.fetch_slots.get(&id)?;
                Some((slot, run.fetches.get(slot)?.duration_ms))
            })
        });
        ready
    }
}

impl StoreState {
    /// A wait of a replay: the run's next completions, from the record.
    fn replay_wait(&mut self, pending: usize, ready: &mut Vec<events::Completion>) {
        let delivered = self
            .tape
            .replaying(|player, _| player.next_wait(pending))
            .unwrap_or_default();
        let now = Instant::now();
        for item in delivered {
            match item {
                Delivered::Network(finished) => ready.push(self.run.record(finished)),
                Delivered::Timer(id) => match self.run.armed.get(&id) {
                    Some(armed) => {
                        let at = armed.deadline;
                        self.run.timers.remove(&(at, id));
                        ready.push(self.run.fire(id, at, now));
                    }
                    None => {
                        self.tape.replaying(|player, _| {
                            player.diverge(format!(
                                "a timer fired in the run here, but the replay had cleared it (timer id {id})"
                            ))
                        });
                    }
                },
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl RunState {
    /// Notes a finished network step in the run's fetch records and turns it
    /// into the guest's completion.
    fn record(&mut self, finished: Finished) -> events::Completion {
        match finished {
            Finished::Head {
                id,
                elapsed_ms,
                outcome,
            } => {
                if let Some(record) = self.fetch_record(id) {
                    record.duration_ms = elapsed_ms;
                    match &outcome {
                        Ok(head) => record.status = Some(head.status),
                        Err(problem) => record.error = Some(problem.clone()),
                    }
                }
                events::Completion::Fetch(events::FetchDone { id, outcome })
            }
            Finished::Chunk {
                id,
                completion,
                error,
            } => {
                if let (Some(problem), Some(record)) = (error, self.fetch_record(id)) {
                    record.error = Some(format!("the body broke off: {problem}"));
                }
                completion
            }
        }
    }

    /// Timer `id`, due at `at`, fires: an interval is armed again a period
    /// later (never in a burst to catch up), any other timer is disarmed.
    fn fire(&mut self, id: u32, at: Instant, now: Instant) -> events::Completion {
        if let Some(armed) = self.armed.remove(&id) {
            if let timers::Kind::Interval(_) = armed.kind {
                let deadline = (at + armed.period).max(now);
                self.timers.insert((deadline, id));
                self.armed.insert(id, Armed { deadline, ..armed });
            } else {
                self.disarm(id, &armed);
            }
        }
        events::Completion::Timer(id)
    }

    fn fetch_record(&mut self, id: u32) -> Option<&mut FetchRecord> {
        let slot = *self.fetch_slots.get(&id)?;
        self.fetches.get_mut(slot)
    }

    fn disarm(&mut self, id: u32, armed: &Armed) {
        self.timers.remove(&(armed.deadline, id));
        if matches!(armed.kind, timers::Kind::Unref) {
            self.unref_timers -= 1;
        }
    }

    /// The intervals still armed, named, for the error of a run that timed
    /// out with them.
    pub fn live_intervals(&self) -> Vec<String> {
        let mut live: Vec<(u32, String)> = self
            .armed
            .iter()
            .filter_map(|(id, armed)| match &armed.kind {
                timers::Kind::Interval(name) => Some((
                    *id,
                    format!(
                        "setInterval({name}, every {})",
                        humantime::format_duration(armed.period)
                    ),
                )),
                _ => None,
            })
            .collect();
        live.sort();
        live.into_iter().map(|(_, named)| named).collect()
    }
}
