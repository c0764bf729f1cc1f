//! Records one run: every outside input the tape sees, within the run's cap
//! of bytes. Past the cap nothing more is recorded, and the record says what
//! did not fit.

use super::tape::fresh_seed;
use super::{
    CellRead, RECORD_VERSION, RecordedEvent, RecordedFetch, RecordedHead, RecordedWrite,
    ReplayRecord,
};
use crate::sandbox::bindings::bgwasm::sandbox::events;
use crate::sandbox::cells::CellChange;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

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

    /// The run's random seed (hex).
    pub fn seed(&self) -> &str {
        &self.record.seed
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

    pub(super) fn wall(&mut self, ns: u64) {
        if self.spend(8, || "a wall-clock reading".into()) {
            self.record.wall_clock_ns.push(ns);
        }
    }

    pub(super) fn monotonic(&mut self, ns: u64) {
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
