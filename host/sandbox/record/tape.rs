//! The tape a run's outside inputs go through: live, recorded or replayed.
//!
//! A space's store lives across runs, so its WASI clocks and random source
//! are installed once and consult the [`Tape`], whose mode each run sets: a
//! recording run reads the real clocks and notes every reading, and draws
//! its randomness from a seed it notes; a replaying run answers both from
//! the record. Only the handler's run is taped ([`Phase::Running`]): loading
//! a piece's module is not part of a run's record.

use super::ReplayRecord;
use super::{CellRead, RECORD_VERSION, RecordedEvent, RecordedFetch, RecordedHead, RecordedWrite};
use crate::sandbox::bindings::bgwasm::sandbox::{events, http};
use crate::sandbox::cells::CellChange;
use crate::sandbox::transfers::{Finished, chunk_finished};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Which part of a run the guest is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between runs, or loading a piece: nothing is taped.
    Idle,
    /// The handler runs: clocks, randomness and imports are taped.
    Running,
}

/// What the tape does with the current run.
#[derive(Default)]
pub enum Mode {
    /// Nothing is recorded (recording is off, or between runs).
    #[default]
    Live,
    Record(Box<Recorder>),
    Replay(Box<Player>),
}

struct TapeState {
    mode: Mode,
    phase: Phase,
    /// The run's seeded randomness, while it runs.
    seeded: Option<ChaCha20Rng>,
    wall: Box<dyn HostWallClock + Send>,
    monotonic: Box<dyn HostMonotonicClock + Send>,
}

/// The shared tape of one store.
#[derive(Clone)]
pub struct Tape(Arc<Mutex<TapeState>>);

impl Default for Tape {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(TapeState {
            mode: Mode::Live,
            phase: Phase::Idle,
            seeded: None,
            wall: wasmtime_wasi::clocks::wall_clock(),
            monotonic: wasmtime_wasi::clocks::monotonic_clock(),
        })))
    }
}

impl Tape {
    fn state(&self) -> MutexGuard<'_, TapeState> {
        // A panic while holding the lock cannot leave the tape half-written
        // in a way that matters more than the panic itself.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a run in `mode`; its seed (if any) decides its randomness.
    pub fn begin(&self, mode: Mode) {
        let mut state = self.state();
        state.seeded = match &mode {
            Mode::Live => None,
            Mode::Record(recorder) => Some(seeded(&recorder.record.seed)),
            Mode::Replay(player) => Some(seeded(&player.record.seed)),
        };
        state.mode = mode;
        state.phase = Phase::Idle;
    }

    pub fn set_phase(&self, phase: Phase) {
        self.state().phase = phase;
    }

    /// Ends the run: its recorder or player, and the tape back to live.
    pub fn finish(&self) -> Mode {
        let mut state = self.state();
        state.phase = Phase::Idle;
        state.seeded = None;
        std::mem::take(&mut state.mode)
    }

    /// Runs `f` with the recorder, while a recording run's handler runs.
    pub fn recording<R>(&self, f: impl FnOnce(&mut Recorder) -> R) -> Option<R> {
        let mut state = self.state();
        let state = &mut *state;
        match (&mut state.mode, state.phase) {
            (Mode::Record(recorder), Phase::Running) => Some(f(recorder)),
            _ => None,
        }
    }

    /// Runs `f` with the player, during any part of a replaying run.
    pub fn replaying<R>(&self, f: impl FnOnce(&mut Player, Phase) -> R) -> Option<R> {
        let mut state = self.state();
        let phase = state.phase;
        match &mut state.mode {
            Mode::Replay(player) => Some(f(player, phase)),
            _ => None,
        }
    }

    /// The WASI wall clock of a store using this tape.
    pub fn wall_clock(&self) -> TapeWallClock {
        TapeWallClock(self.clone())
    }

    pub fn monotonic_clock(&self) -> TapeMonotonicClock {
        TapeMonotonicClock(self.clone())
    }

    /// The WASI random source of a store using this tape.
    pub fn random(&self) -> TapeRandom {
        TapeRandom(self.clone())
    }
}

/// A fresh 32-byte seed, hex, from the thread's CSPRNG (seeded and
/// periodically reseeded from the OS), which spares a system call per run.
pub fn fresh_seed() -> String {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut seed);
    hex::encode(seed)
}

fn seeded(seed: &str) -> ChaCha20Rng {
    let mut bytes = [0u8; 32];
    // A seed that is not 32 bytes of hex was refused when the record was
    // read; a zero seed is only ever the fallback of that impossible case.
    if let Ok(decoded) = hex::decode(seed) {
        let n = decoded.len().min(32);
        bytes[..n].copy_from_slice(&decoded[..n]);
    }
    ChaCha20Rng::from_seed(bytes)
}

pub struct TapeWallClock(Tape);
pub struct TapeMonotonicClock(Tape);
pub struct TapeRandom(Tape);

impl HostWallClock for TapeWallClock {
    fn resolution(&self) -> Duration {
        self.0.state().wall.resolution()
    }

    fn now(&self) -> Duration {
        let mut state = self.0.state();
        let state = &mut *state;
        if state.phase == Phase::Running {
            match &mut state.mode {
                Mode::Replay(player) => return Duration::from_nanos(player.wall()),
                Mode::Record(recorder) => {
                    let now = state.wall.now();
                    recorder.wall(now.as_nanos() as u64);
                    return now;
                }
                Mode::Live => {}
            }
        }
        state.wall.now()
    }
}

impl HostMonotonicClock for TapeMonotonicClock {
    fn resolution(&self) -> u64 {
        self.0.state().monotonic.resolution()
    }

    fn now(&self) -> u64 {
        let mut state = self.0.state();
        let state = &mut *state;
        if state.phase == Phase::Running {
            match &mut state.mode {
                Mode::Replay(player) => return player.monotonic(),
                Mode::Record(recorder) => {
                    let now = state.monotonic.now();
                    recorder.monotonic(now);
                    return now;
                }
                Mode::Live => {}
            }
        }
        state.monotonic.now()
    }
}

impl rand_core::TryRng for TapeRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let mut state = self.0.state();
        let state = &mut *state;
        match (&mut state.seeded, state.phase) {
            (Some(rng), Phase::Running) => rng.fill_bytes(dst),
            _ => rand::RngCore::fill_bytes(&mut rand::thread_rng(), dst),
        }
        Ok(())
    }
}

/// Records one run, within its cap of bytes.
pub struct Recorder {
    record: ReplayRecord,
    cap: usize,
    used: usize,
    /// Each timer's ordinal, by id.
    timers: HashMap<u32, usize>,
    cells_seen: HashSet<String>,
}

impl Recorder {
    pub fn new(piece_id: &str, source_hash: [u8; 32], event: &str, cap: usize) -> Self {
        let event = serde_json::from_str(event).unwrap_or(serde_json::Value::Null);
        let mut recorder = Self {
            record: ReplayRecord {
                version: RECORD_VERSION,
                piece_id: piece_id.to_owned(),
                source_hash: hex::encode(source_hash),
                event: serde_json::Value::Null,
                seed: fresh_seed(),
                ..ReplayRecord::default()
            },
            cap,
            used: 0,
            timers: HashMap::new(),
            cells_seen: HashSet::new(),
        };
        let size = event.to_string().len();
        if recorder.spend(size, || format!("the event ({size} bytes)")) {
            recorder.record.event = event;
        }
        recorder
    }

    /// Counts `bytes` against the cap; once it is reached, nothing more is
    /// recorded and the record says what did not fit.
    fn spend(&mut self, bytes: usize, what: impl FnOnce() -> String) -> bool {
        if self.record.truncated.is_some() {
            return false;
        }
        if self.used + bytes > self.cap {
            self.record.truncated = Some(format!(
                "{} did not fit in the record's cap of {} bytes (--record-bytes), after {} bytes",
                what(),
                self.cap,
                self.used
            ));
            return false;
        }
        self.used += bytes;
        true
    }

    fn wall(&mut self, ns: u64) {
        if self.spend(8, || "a wall-clock reading".into()) {
            self.record.wall_clock_ns.push(ns);
        }
    }

    fn monotonic(&mut self, ns: u64) {
        if self.spend(8, || "a monotonic-clock reading".into()) {
            self.record.monotonic_clock_ns.push(ns);
        }
    }

    /// The run read cell `key` from its source (not its own write).
    pub fn cell(&mut self, key: &str, value: &Option<String>) {
        if self.cells_seen.contains(key) {
            return;
        }
        let size = key.len() + value.as_ref().map_or(0, String::len);
        if self.spend(size, || format!("cell {key:?} ({size} bytes)")) {
            self.cells_seen.insert(key.to_owned());
            self.record.cells.push(CellRead {
                key: key.to_owned(),
                value: value.clone(),
            });
        }
    }

    pub fn keys(&mut self, keys: &[String]) {
        if self.record.keys.is_some() {
            return;
        }
        let size = keys.iter().map(|k| k.len() + 1).sum();
        if self.spend(size, || format!("the list of cell keys ({size} bytes)")) {
            self.record.keys = Some(keys.to_vec());
        }
    }

    pub fn fetch_started(&mut self, method: &str, url: &str) {
        let size = method.len() + url.len();
        if self.spend(size, || format!("fetch {method} {url}")) {
            self.record.fetches.push(RecordedFetch {
                method: method.to_owned(),
                url: url.to_owned(),
                response: None,
                body: Vec::new(),
                duration_ms: 0,
            });
        }
    }

    pub fn timer_started(&mut self, id: u32) {
        let ordinal = self.timers.len();
        self.timers.insert(id, ordinal);
    }

    /// What one wait delivered. `fetch_of` gives a fetch id's ordinal and
    /// `duration_ms` its time so far.
    pub fn batch(
        &mut self,
        delivered: &[events::Completion],
        fetch_of: impl Fn(u32) -> Option<(usize, u64)>,
    ) {
        let mut batch = Vec::with_capacity(delivered.len());
        for completion in delivered {
            let event = match completion {
                events::Completion::Timer(id) => match self.timers.get(id) {
                    Some(&timer) => RecordedEvent::Timer { timer },
                    None => continue,
                },
                events::Completion::Fetch(done) => {
                    let Some((fetch, duration_ms)) = fetch_of(done.id) else {
                        continue;
                    };
                    let response = match &done.outcome {
                        Ok(head) => Ok(RecordedHead {
                            status: head.status,
                            status_text: head.status_text.clone(),
                            url: head.url.clone(),
                            headers: head.headers.clone(),
                        }),
                        Err(problem) => Err(problem.clone()),
                    };
                    let size = match &response {
                        Ok(head) => {
                            head.url.len()
                                + head.status_text.len()
                                + head
                                    .headers
                                    .iter()
                                    .map(|(n, v)| n.len() + v.len())
                                    .sum::<usize>()
                        }
                        Err(problem) => problem.len(),
                    };
                    if !self.spend(size, || format!("the response head of fetch #{fetch}")) {
                        return;
                    }
                    let Some(recorded) = self.record.fetches.get_mut(fetch) else {
                        continue;
                    };
                    recorded.response = Some(response);
                    recorded.duration_ms = duration_ms;
                    RecordedEvent::Head { fetch }
                }
                events::Completion::Body(chunk) => {
                    let Some((fetch, _)) = fetch_of(chunk.id) else {
                        continue;
                    };
                    match &chunk.chunk {
                        Ok(Some(bytes)) => {
                            let what =
                                || format!("{} more body bytes of fetch #{fetch}", bytes.len());
                            if !self.spend(bytes.len(), what) {
                                return;
                            }
                            let Some(recorded) = self.record.fetches.get_mut(fetch) else {
                                continue;
                            };
                            recorded.body.extend_from_slice(bytes);
                            RecordedEvent::Chunk {
                                fetch,
                                bytes: bytes.len(),
                            }
                        }
                        Ok(None) => RecordedEvent::End { fetch },
                        Err(error) => RecordedEvent::BodyError {
                            fetch,
                            error: error.clone(),
                        },
                    }
                }
            };
            batch.push(event);
        }
        if self.spend(8 * batch.len() + 8, || "an event of the event loop".into()) {
            self.record.waits.push(batch);
        }
    }

    /// The finished record, with the writes of the run (if it succeeded).
    pub fn finish(mut self, changes: &[CellChange]) -> ReplayRecord {
        self.record.writes = writes_of(changes);
        self.record
    }
}

/// A run's cell writes as a record keeps them: key and hex SHA-256 of the
/// JSON written.
pub fn writes_of(changes: &[CellChange]) -> Vec<RecordedWrite> {
    changes
        .iter()
        .map(|change| RecordedWrite {
            key: change.key.clone(),
            sha256: change
                .value
                .as_deref()
                .map(|json| hex::encode(Sha256::digest(json.as_bytes()))),
        })
        .collect()
}

/// Where one fetch stands in a replay (as [`Transfers`] tracks it live).
///
/// [`Transfers`]: crate::sandbox::transfers::Transfers
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transfer {
    Requesting,
    Idle,
    Reading,
}

/// What a replay hands the guest at a wait.
pub enum Delivered {
    Network(Finished),
    Timer(u32),
}

/// Plays a record back, and notes the first place the replay left it.
pub struct Player {
    record: ReplayRecord,
    wall_at: usize,
    monotonic_at: usize,
    wait_at: usize,
    /// The replay's fetch ids, by ordinal.
    fetch_ids: Vec<u32>,
    /// How much of each fetch's body was handed over.
    body_at: Vec<usize>,
    timer_ids: Vec<u32>,
    transfers: HashMap<u32, Transfer>,
    divergence: Option<String>,
}

impl Player {
    pub fn new(record: ReplayRecord) -> Self {
        let fetches = record.fetches.len();
        Self {
            record,
            wall_at: 0,
            monotonic_at: 0,
            wait_at: 0,
            fetch_ids: Vec::new(),
            body_at: vec![0; fetches],
            timer_ids: Vec::new(),
            transfers: HashMap::new(),
            divergence: None,
        }
    }

    /// Where the replay first left the record, if it did.
    pub fn divergence(&self) -> Option<&str> {
        self.divergence.as_deref()
    }

    /// The record played.
    pub fn record(&self) -> &ReplayRecord {
        &self.record
    }

    /// Notes a divergence (the first one counts) and returns its message.
    pub fn diverge(&mut self, what: String) -> String {
        self.divergence.get_or_insert(what).clone()
    }

    /// The replay needed something the record does not have: past the end
    /// of a truncated record, or a divergence.
    fn missing(&mut self, what: String) -> String {
        let message = match &self.record.truncated {
            Some(why) => {
                format!("{what}, past the end of the record: the record was truncated ({why})")
            }
            None => what,
        };
        self.diverge(message)
    }

    fn wall(&mut self) -> u64 {
        let at = self.wall_at;
        self.wall_at += 1;
        match self.record.wall_clock_ns.get(at) {
            Some(&ns) => ns,
            None => {
                let recorded = self.record.wall_clock_ns.len();
                self.missing(format!(
                    "the replay read the wall clock (Date.now) a {}th time; the run read it {recorded} times",
                    at + 1
                ));
                self.record.wall_clock_ns.last().copied().unwrap_or(0)
            }
        }
    }

    fn monotonic(&mut self) -> u64 {
        let at = self.monotonic_at;
        self.monotonic_at += 1;
        match self.record.monotonic_clock_ns.get(at) {
            Some(&ns) => ns,
            None => {
                let recorded = self.record.monotonic_clock_ns.len();
                self.missing(format!(
                    "the replay read the monotonic clock (performance.now) a {}th time; the run read it {recorded} times",
                    at + 1
                ));
                self.record.monotonic_clock_ns.last().copied().unwrap_or(0)
            }
        }
    }

    /// Cell `key` as the run read it.
    pub fn cell(&mut self, key: &str) -> Option<String> {
        match self.record.cells.iter().find(|read| read.key == key) {
            Some(read) => read.value.clone(),
            None => {
                self.missing(format!(
                    "the replay read cell {key:?}, a cell read not recorded (the run did not read it)"
                ));
                None
            }
        }
    }

    /// A cell as the run read it, for loading a piece: no divergence.
    pub fn cell_if_recorded(&self, key: &str) -> Option<String> {
        self.record
            .cells
            .iter()
            .find(|read| read.key == key)
            .and_then(|read| read.value.clone())
    }

    pub fn keys(&mut self) -> Vec<String> {
        match self.record.keys.clone() {
            Some(keys) => keys,
            None => {
                self.missing(
                    "the replay listed the cell keys, which the run did not (not recorded)".into(),
                );
                Vec::new()
            }
        }
    }

    /// The replay starts fetch `id`: it must be the run's next fetch.
    pub fn start_fetch(&mut self, id: u32, method: &str, url: &str) -> Result<(), String> {
        let ordinal = self.fetch_ids.len();
        let Some(recorded) = self.record.fetches.get(ordinal) else {
            let made = self.record.fetches.len();
            return Err(self.missing(format!(
                "fetch #{ordinal} ({method} {url}) is a fetch not in the record: the run made {made} fetches"
            )));
        };
        if recorded.method != method || recorded.url != url {
            let (m, u) = (recorded.method.clone(), recorded.url.clone());
            return Err(self.diverge(format!(
                "fetch #{ordinal}: the replay fetched {method} {url}, but the run fetched {m} {u} at this point"
            )));
        }
        self.fetch_ids.push(id);
        self.transfers.insert(id, Transfer::Requesting);
        Ok(())
    }

    /// A body read of `id`: as [`Transfers::read_body`] does live, a read of
    /// a body that is not there ends it with an error at once.
    ///
    /// [`Transfers::read_body`]: crate::sandbox::transfers::Transfers::read_body
    pub fn read_body(&mut self, id: u32) -> Option<events::Completion> {
        match self.transfers.get_mut(&id) {
            Some(transfer @ Transfer::Idle) => {
                *transfer = Transfer::Reading;
                None
            }
            Some(_) => None,
            None => Some(events::Completion::Body(events::BodyChunk {
                id,
                chunk: Err("the body was already read to its end, or cancelled".into()),
            })),
        }
    }

    pub fn cancel(&mut self, id: u32) {
        self.transfers.remove(&id);
    }

    pub fn timer_started(&mut self, id: u32) {
        self.timer_ids.push(id);
    }

    /// Fetches and body reads in flight, as the replay sees them; none
    /// once it diverged, so the guest's event loop ends.
    pub fn pending(&self) -> usize {
        if self.divergence.is_some() {
            return 0;
        }
        self.transfers
            .values()
            .filter(|t| **t != Transfer::Idle)
            .count()
    }

    /// Whether the replay diverged (the guest is being wound down).
    pub fn stalled(&self) -> bool {
        self.divergence.is_some()
    }

    /// The next wait's completions, as the run got them.
    pub fn next_wait(&mut self, waiting_for: usize) -> Vec<Delivered> {
        let Some(batch) = self.record.waits.get(self.wait_at).cloned() else {
            self.missing(format!(
                "the replay waits for {waiting_for} fetch(es) or timer(s), but the run got no more completions"
            ));
            return Vec::new();
        };
        self.wait_at += 1;
        let mut delivered = Vec::with_capacity(batch.len());
        for event in batch {
            match self.deliver(&event) {
                Ok(item) => delivered.push(item),
                Err(problem) => {
                    self.missing(problem);
                    break;
                }
            }
        }
        delivered
    }

    fn deliver(&mut self, event: &RecordedEvent) -> Result<Delivered, String> {
        let fetch = match event {
            RecordedEvent::Timer { timer } => {
                return self
                    .timer_ids
                    .get(*timer)
                    .map(|&id| Delivered::Timer(id))
                    .ok_or_else(|| {
                        format!(
                            "the run's timer #{timer} fired here, but the replay did not set it"
                        )
                    });
            }
            RecordedEvent::Head { fetch }
            | RecordedEvent::Chunk { fetch, .. }
            | RecordedEvent::End { fetch }
            | RecordedEvent::BodyError { fetch, .. } => *fetch,
        };
        let recorded = self.record.fetches.get(fetch).cloned().ok_or_else(|| {
            format!("the record's fetch #{fetch} is missing; the record is damaged")
        })?;
        let Some(&id) = self.fetch_ids.get(fetch) else {
            return Err(format!(
                "the run's fetch #{fetch} ({} {}) completed here, but the replay did not start it",
                recorded.method, recorded.url
            ));
        };
        let state = self.transfers.get(&id).copied();
        let expected = if matches!(event, RecordedEvent::Head { .. }) {
            Transfer::Requesting
        } else {
            Transfer::Reading
        };
        if state != Some(expected) {
            return Err(format!(
                "the run's fetch #{fetch} ({} {}) delivered {} here, which the replay was not waiting for",
                recorded.method,
                recorded.url,
                if expected == Transfer::Requesting {
                    "its response"
                } else {
                    "body bytes"
                }
            ));
        }
        let finished = match event {
            RecordedEvent::Head { .. } => {
                let outcome = match recorded.response {
                    Some(Ok(head)) => {
                        self.transfers.insert(id, Transfer::Idle);
                        Ok(http::Response {
                            status: head.status,
                            status_text: head.status_text,
                            url: head.url,
                            headers: head.headers,
                        })
                    }
                    Some(Err(problem)) => {
                        self.transfers.remove(&id);
                        Err(problem)
                    }
                    None => {
                        return Err(format!(
                            "the response of fetch #{fetch} ({} {}) is not in the record",
                            recorded.method, recorded.url
                        ));
                    }
                };
                Finished::Head {
                    id,
                    elapsed_ms: recorded.duration_ms,
                    outcome,
                }
            }
            RecordedEvent::Chunk { bytes, .. } => {
                let start = self.body_at[fetch];
                let end = start + bytes;
                let Some(chunk) = recorded.body.get(start..end) else {
                    return Err(format!(
                        "bytes {start}..{end} of the body of fetch #{fetch} ({} {}) are not in the record",
                        recorded.method, recorded.url
                    ));
                };
                self.body_at[fetch] = end;
                self.transfers.insert(id, Transfer::Idle);
                chunk_finished(id, Ok(Some(chunk.to_vec())))
            }
            RecordedEvent::End { .. } => {
                self.transfers.remove(&id);
                chunk_finished(id, Ok(None))
            }
            RecordedEvent::BodyError { error, .. } => {
                self.transfers.remove(&id);
                chunk_finished(id, Err(error.clone()))
            }
            RecordedEvent::Timer { .. } => unreachable!("handled above"),
        };
        Ok(Delivered::Network(finished))
    }

    /// At the end of the replay: a fetch the run made that the replay did
    /// not is a divergence too.
    pub fn finish(&mut self) {
        let made = self.fetch_ids.len();
        if made < self.record.fetches.len() && self.divergence.is_none() {
            let missed = &self.record.fetches[made];
            let what = format!(
                "the replay made {made} fetches; the run went on to fetch #{made} ({} {})",
                missed.method, missed.url
            );
            self.diverge(what);
        }
    }
}
