//! Plays a record back to a replay: answers the tape's clocks and the host
//! imports from it, tracks the fetches and timers the replay has in flight
//! as the live run did, and notes the first place the replay left the record.

use super::{RecordedEvent, ReplayRecord};
use crate::sandbox::bindings::bgwasm::sandbox::{events, http};
use crate::sandbox::transfers::{Finished, chunk_finished};
use std::collections::HashMap;

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

    pub(super) fn wall(&mut self) -> u64 {
        let at = self.wall_at;
        self.wall_at += 1;
        self.reading(at, true)
    }

    pub(super) fn monotonic(&mut self) -> u64 {
        let at = self.monotonic_at;
        self.monotonic_at += 1;
        self.reading(at, false)
    }

    /// The `at`th reading of the wall clock (or the monotonic one); past the
    /// recorded ones, the last again, and a divergence.
    fn reading(&mut self, at: usize, wall: bool) -> u64 {
        let (readings, clock) = if wall {
            (&self.record.wall_clock_ns, "the wall clock (Date.now)")
        } else {
            (
                &self.record.monotonic_clock_ns,
                "the monotonic clock (performance.now)",
            )
        };
        if let Some(&ns) = readings.get(at) {
            return ns;
        }
        let (recorded, last) = (readings.len(), readings.last().copied().unwrap_or(0));
        self.missing(format!(
            "the replay read {clock} a {}th time; the run read it {recorded} times",
            at + 1
        ));
        last
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
