//! The metrics' labels. Each label value is a `&'static str` from a closed
//! set listed here, so the number of series is fixed and no space or piece
//! id can become one.

use crate::sandbox::{EgressDenied, ErrorKind, FetchRecord};
use crate::store::Phase;
use prometheus_client::encoding::EncodeLabelSet;

/// `bgwasm_runs_total{outcome}`: `ok` or an [`ErrorKind`]'s name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

/// `bgwasm_registrations{phase}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PhaseLabel {
    pub phase: &'static str,
}

/// `bgwasm_fetches_total{result}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FetchLabel {
    pub result: &'static str,
}

/// Every `outcome`: `ok`, then each error kind.
pub const OUTCOMES: [&str; ErrorKind::ALL.len() + 1] = {
    let mut all = ["ok"; ErrorKind::ALL.len() + 1];
    let mut i = 0;
    while i < ErrorKind::ALL.len() {
        all[i + 1] = ErrorKind::ALL[i].as_str();
        i += 1;
    }
    all
};

/// Every `phase`.
pub const PHASES: [Phase; 3] = [Phase::Scheduled, Phase::Dispatched, Phase::Disabled];

/// How one fetch of a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchResult {
    /// A response arrived, and its body (as far as it was read) too.
    Ok,
    /// The egress policy refused it.
    Denied,
    /// It failed otherwise (unreachable, timed out, broke off), or the run
    /// ended before it finished.
    Error,
}

impl FetchResult {
    pub const ALL: [Self; 3] = [Self::Ok, Self::Denied, Self::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }
}

/// How a run's fetch ended, from its record.
pub fn fetch_result(fetch: &FetchRecord) -> FetchResult {
    match (&fetch.error, fetch.status) {
        (Some(message), _) if EgressDenied::is_denial(message) => FetchResult::Denied,
        (Some(_), _) | (None, None) => FetchResult::Error,
        (None, Some(_)) => FetchResult::Ok,
    }
}
