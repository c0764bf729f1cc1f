//! The plain data the store takes and gives: pieces, runs, filters, counts.

use super::PieceId;
use super::lease::LeaseToken;
use super::registration::{
    ClaimToken, EpochMillis, Phase, Registration, RegistrationKey, RegistrationState,
};
use crate::sandbox::{CellChange, Lang, ReplayRecord, RunOutcome};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A piece's metadata, without its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PieceInfo {
    pub space: String,
    pub id: PieceId,
    /// Hex SHA-256 of the source, so a replaced source is visible.
    pub hash: String,
    /// The language of the source.
    pub lang: Lang,
    pub source_bytes: u64,
    pub created_at: EpochMillis,
    pub updated_at: EpochMillis,
}

/// A piece's source text and its language, as it is added or replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceSource {
    pub text: Arc<str>,
    pub lang: Lang,
}

impl PieceSource {
    pub fn new(text: impl Into<Arc<str>>, lang: Lang) -> Self {
        Self {
            text: text.into(),
            lang,
        }
    }
}

/// Plain text is JavaScript.
impl<T: Into<Arc<str>>> From<T> for PieceSource {
    fn from(text: T) -> Self {
        Self::new(text, Lang::JavaScript)
    }
}

/// A piece with its source, as a run needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPiece {
    pub info: PieceInfo,
    pub source: Arc<str>,
}

/// What adding a piece did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedPiece {
    pub info: PieceInfo,
    /// False when the same source was already stored under that id.
    pub created: bool,
}

/// Why a run happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    /// The scheduler found it due.
    Scheduled,
    /// Someone asked for it (`POST .../run`).
    Manual,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scheduled" => Some(Self::Scheduled),
            "manual" => Some(Self::Manual),
            _ => None,
        }
    }
}

/// One row of a piece's run history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub id: i64,
    pub space: String,
    pub piece_id: PieceId,
    pub trigger: RunTrigger,
    pub started_at: EpochMillis,
    pub finished_at: EpochMillis,
    pub outcome: RunOutcome,
}

/// A run in brief: one bar of a chart of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTime {
    pub id: i64,
    pub started_at: EpochMillis,
    pub finished_at: EpochMillis,
    pub ok: bool,
}

impl RunTime {
    pub fn of(run: &RunRecord) -> Self {
        Self {
            id: run.id,
            started_at: run.started_at,
            finished_at: run.finished_at,
            ok: run.outcome.ok,
        }
    }

    /// Its wall-clock time, in milliseconds.
    pub fn millis(&self) -> u64 {
        u64::try_from(self.finished_at - self.started_at).unwrap_or(0)
    }
}

/// How a run changes its registration's state, applied inside the commit's
/// transaction to whatever state is stored then (a user may have disabled or
/// re-registered the piece while it ran).
pub type RunTransition = Box<dyn Fn(&RegistrationState) -> RegistrationState + Send + Sync>;

/// A finished run, ready to commit.
pub struct FinishedRun {
    pub key: RegistrationKey,
    pub trigger: RunTrigger,
    /// The claim a scheduled run holds; a manual run holds none.
    pub claim: Option<ClaimToken>,
    /// The space lease the run was claimed (or started) under, on a store
    /// shared by several daemons: its commit is refused
    /// ([`super::StoreError::LeaseLost`]) unless the lease still has it.
    pub lease: Option<LeaseToken>,
    pub started_at: EpochMillis,
    pub finished_at: EpochMillis,
    pub outcome: RunOutcome,
    /// Applied only if `outcome.ok`.
    pub cell_changes: Vec<CellChange>,
    /// What the run read from outside, for replay; kept and pruned with the
    /// run's history row. None when recording is off.
    pub record: Option<Box<ReplayRecord>>,
}

impl FinishedRun {
    /// Whether committing the run changes its space's cells: it succeeded
    /// and wrote some (a failed run's writes are dropped whole).
    pub fn writes_cells(&self) -> bool {
        self.outcome.ok && !self.cell_changes.is_empty()
    }
}

/// A run of the history with its record, for replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRun {
    pub run: RunRecord,
    /// None when the run was not recorded (`--record-bytes 0`).
    pub record: Option<ReplayRecord>,
    /// The record's stored size, in bytes (0 without one).
    pub record_bytes: u64,
}

impl RecordedRun {
    /// A run with its record as stored (JSON bytes), or none.
    pub(crate) fn from_stored(
        run: RunRecord,
        stored: Option<Vec<u8>>,
    ) -> Result<Self, super::StoreError> {
        let record_bytes = stored.as_ref().map_or(0, |json| json.len() as u64);
        let record = stored
            .map(|json| ReplayRecord::from_json(&json))
            .transpose()
            .map_err(|reason| super::StoreError::Corrupt {
                what: "run record",
                reason,
            })?;
        Ok(Self {
            run,
            record,
            record_bytes,
        })
    }
}

/// What a commit wrote.
#[derive(Debug, Clone)]
pub struct CommittedRun {
    pub run_id: i64,
    pub cells_applied: bool,
    /// The registration after the run; `None` when it was unregistered
    /// meanwhile (the commit never brings one back).
    pub registration: Option<Registration>,
    /// Whether this run's failure disabled the registration.
    pub disabled_by_this_run: bool,
}

/// A registration the scheduler claimed, to hand to its space's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRun {
    pub key: RegistrationKey,
    pub claim: ClaimToken,
    /// When it was due, to measure lateness.
    pub due_at: EpochMillis,
    /// The content hash of the piece's source at the claim, so the scheduler
    /// can run a source it already holds without reading it again.
    pub source_hash: String,
    /// The space lease it was claimed under (a store shared by several
    /// daemons); its commit must present it.
    pub lease: Option<LeaseToken>,
}

/// Which integrations a daemon serves: all, or only some
/// (`--integration NAME`, repeatable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrationFilter {
    only: Vec<String>,
}

impl IntegrationFilter {
    pub fn all() -> Self {
        Self::default()
    }

    /// Only these integrations; an empty list means all.
    pub fn only(names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let mut only: Vec<String> = names.into_iter().map(Into::into).collect();
        only.sort();
        only.dedup();
        Self { only }
    }

    /// The names, or `None` for all.
    pub fn names(&self) -> Option<&[String]> {
        if self.only.is_empty() {
            None
        } else {
            Some(&self.only)
        }
    }

    /// Whether a registration of `integration` is served.
    pub fn serves(&self, integration: &str) -> bool {
        self.only.is_empty()
            || self
                .only
                .binary_search_by(|name| name.as_str().cmp(integration))
                .is_ok()
    }
}

/// Which registrations to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrationFilter {
    pub space: Option<String>,
    pub integrations: IntegrationFilter,
}

/// One page of registrations, and how many match in all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegistrationPage {
    pub total: u64,
    pub registrations: Vec<Registration>,
}

/// Totals for `/healthz`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreCounts {
    pub spaces: u64,
    pub pieces: u64,
    pub registrations: u64,
    pub enabled: u64,
    pub dispatched: u64,
    pub runs: u64,
    pub cells: u64,
}

/// Registrations by phase, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseCounts {
    pub scheduled: u64,
    pub dispatched: u64,
    pub disabled: u64,
}

impl PhaseCounts {
    /// The count of `phase`.
    pub fn of(&self, phase: Phase) -> u64 {
        match phase {
            Phase::Scheduled => self.scheduled,
            Phase::Dispatched => self.dispatched,
            Phase::Disabled => self.disabled,
        }
    }

    /// Adds `count` registrations of `phase`.
    pub fn add(&mut self, phase: Phase, count: u64) {
        match phase {
            Phase::Scheduled => self.scheduled += count,
            Phase::Dispatched => self.dispatched += count,
            Phase::Disabled => self.disabled += count,
        }
    }

    /// Counts the phases of `registrations`.
    pub fn tally<'a>(registrations: impl IntoIterator<Item = &'a Registration>) -> Self {
        let mut counts = Self::default();
        for registration in registrations {
            counts.add(registration.state.phase, 1);
        }
        counts
    }
}

impl StoreCounts {
    /// The query both backends count with: plain SQL that SQLite and
    /// PostgreSQL read alike, one column per field.
    pub(crate) const QUERY: &'static str = "SELECT
        (SELECT count(DISTINCT space) FROM pieces) AS spaces,
        (SELECT count(*) FROM pieces) AS pieces,
        (SELECT count(*) FROM registrations) AS registrations,
        (SELECT count(*) FROM registrations WHERE disabled_at = 0) AS enabled,
        (SELECT count(*) FROM registrations WHERE phase = 'dispatched') AS dispatched,
        (SELECT count(*) FROM runs) AS runs,
        (SELECT count(*) FROM cells) AS cells";
}
