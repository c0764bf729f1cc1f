//! Exact replay: what a run could not know in advance, recorded while it
//! runs, so that the run can be executed again, later and elsewhere, with the
//! same inputs.
//!
//! A [`ReplayRecord`] holds the event, the piece's source hash, the random
//! seed (from which `Math.random` and `crypto.getRandomValues` draw), every
//! clock reading (`Date.now`, `performance.now`), the cells the run read as
//! they were, every fetch's response (head and body) and the order in which
//! fetch and timer completions reached the piece. Its size is capped: a run
//! that would record more keeps what fits and says it was truncated.
//!
//! `tape.rs` is what the sandbox's clocks, random source and imports go
//! through, in one of three modes: live, recording (`recorder.rs`) or
//! replaying (`player.rs`); `compare.rs` says whether a replay came to the
//! same outcome.

mod compare;
mod player;
mod recorder;
mod tape;

pub use compare::{ReplayReport, compare_outcomes};
pub(crate) use player::{Delivered, Player};
pub(crate) use recorder::{Recorder, writes_of};
pub(crate) use tape::{Mode, Phase, Tape};

use serde::{Deserialize, Serialize};

/// The default cap of a run's record, in bytes (`--record-bytes`).
pub const DEFAULT_RECORD_BYTES: usize = 1 << 20;

/// The format of [`ReplayRecord`]; a record of another version is refused.
pub const RECORD_VERSION: u32 = 1;

/// Everything a run read from outside the sandbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayRecord {
    pub version: u32,
    pub piece_id: String,
    /// Hex SHA-256 of the piece's source, as the run ran it.
    pub source_hash: String,
    pub event: serde_json::Value,
    /// The run's random seed (32 bytes, hex).
    pub seed: String,
    /// Wall-clock readings (`Date.now`), nanoseconds since the Unix epoch.
    pub wall_clock_ns: Vec<u64>,
    /// Monotonic-clock readings (`performance.now`), in nanoseconds.
    pub monotonic_clock_ns: Vec<u64>,
    /// The cells the run read, as they were before its own writes, in the
    /// order first read.
    pub cells: Vec<CellRead>,
    /// The cell keys the run listed (`cells.keys()`), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// The fetches, in the order the run started them.
    pub fetches: Vec<RecordedFetch>,
    /// What each wait of the run's event loop delivered, in order.
    pub waits: Vec<Vec<RecordedEvent>>,
    /// The cells the run wrote (ok runs only): key and hex SHA-256 of the
    /// JSON written, none for a delete.
    pub writes: Vec<RecordedWrite>,
    /// Why the record stops early, when it does: the cap was reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
}

/// One cell as the run first read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellRead {
    pub key: String,
    pub value: Option<String>,
}

/// One cell write of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedWrite {
    pub key: String,
    pub sha256: Option<String>,
}

/// One fetch: the request as started, and the response as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedFetch {
    pub method: String,
    pub url: String,
    /// The response's head, or why the request failed; none when the run
    /// ended before it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Result<RecordedHead, String>>,
    /// The body bytes the piece read, base64.
    #[serde(default, with = "base64_bytes", skip_serializing_if = "Vec::is_empty")]
    pub body: Vec<u8>,
    pub duration_ms: u64,
}

/// A response's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedHead {
    pub status: u16,
    pub status_text: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// One completion the event loop handed the piece. Fetches and timers are
/// named by the order the run started them (the first fetch is 0), so a
/// fixed piece that starts one more timer still lines up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RecordedEvent {
    /// The fetch's head arrived (or the request failed).
    Head { fetch: usize },
    /// The next `bytes` of the fetch's recorded body.
    Chunk { fetch: usize, bytes: usize },
    /// The body ended.
    End { fetch: usize },
    /// The body broke off.
    BodyError { fetch: usize, error: String },
    /// A timer fired.
    Timer { timer: usize },
}

impl ReplayRecord {
    /// The record as stored: JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// A stored record; a record of another version is refused.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let record: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if record.version != RECORD_VERSION {
            return Err(format!(
                "the record is of version {}, this bgwasm reads version {RECORD_VERSION}",
                record.version
            ));
        }
        Ok(record)
    }
}

mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
