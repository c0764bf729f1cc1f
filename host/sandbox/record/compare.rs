//! Whether a replay came to the run's outcome: its value, error, logs,
//! fetches and cell writes (not its duration, fuel or memory, which vary).

use super::RecordedWrite;
use crate::sandbox::outcome::{LogLine, RunOutcome};
use serde::{Deserialize, Serialize};
use std::fmt::Display;

/// What a replay came to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayReport {
    /// The replay left the record nowhere and came to the same outcome.
    pub same: bool,
    /// Where the replay first left the record, if it did.
    pub divergence: Option<String>,
    /// How the replay's outcome differs from the run's.
    pub differences: Vec<String>,
    /// The replay's outcome.
    pub outcome: RunOutcome,
    /// The replay's cell writes.
    pub writes: Vec<RecordedWrite>,
}

/// How `replayed` differs from `recorded`, in words; empty when the same.
pub fn compare_outcomes(
    recorded: &RunOutcome,
    recorded_writes: &[RecordedWrite],
    replayed: &RunOutcome,
    replayed_writes: &[RecordedWrite],
) -> Vec<String> {
    let mut differences = Vec::new();
    let status = |outcome: &RunOutcome| match &outcome.error {
        None => "succeeded".to_owned(),
        Some(error) => format!("failed ({}): {}", error.kind, error.message),
    };
    if recorded.ok != replayed.ok || recorded.error != replayed.error {
        differences.push(format!(
            "the run {}, the replay {}",
            status(recorded),
            status(replayed)
        ));
    }
    if recorded.value != replayed.value {
        differences.push(format!(
            "value: the run returned {}, the replay {}",
            shown(recorded.value.as_ref()),
            shown(replayed.value.as_ref())
        ));
    }
    if let Some(line) = first_difference(&recorded.logs, &replayed.logs) {
        let log = |l: Option<&LogLine>| {
            l.map_or("nothing".to_owned(), |l| {
                format!("[{}] {}", l.level.as_str(), l.message)
            })
        };
        differences.push(format!(
            "log line {}: the run logged {}, the replay {}",
            line + 1,
            log(recorded.logs.get(line)),
            log(replayed.logs.get(line))
        ));
    }
    let fetch = |outcome: &RunOutcome| -> Vec<String> {
        outcome
            .fetches
            .iter()
            .map(|f| {
                let result = match (f.status, &f.error) {
                    (_, Some(error)) => format!("failed: {error}"),
                    (Some(status), None) => status.to_string(),
                    (None, None) => "not finished".into(),
                };
                format!("{} {} -> {result}", f.method, f.url)
            })
            .collect()
    };
    let (run_fetches, replay_fetches) = (fetch(recorded), fetch(replayed));
    if let Some(at) = first_difference(&run_fetches, &replay_fetches) {
        differences.push(format!(
            "fetch #{at}: the run had {}, the replay {}",
            shown(run_fetches.get(at)),
            shown(replay_fetches.get(at))
        ));
    }
    if recorded.cell_writes != replayed.cell_writes {
        differences.push(format!(
            "cell writes: the run wrote {:?}, the replay {:?}",
            recorded.cell_writes, replayed.cell_writes
        ));
    } else if let Some(at) = first_difference(recorded_writes, replayed_writes) {
        let key = recorded_writes
            .get(at)
            .or(replayed_writes.get(at))
            .map_or("", |w| w.key.as_str());
        differences.push(format!(
            "cell {key:?}: the replay wrote a different value than the run"
        ));
    }
    differences
}

fn first_difference<T: PartialEq>(a: &[T], b: &[T]) -> Option<usize> {
    (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i))
}

fn shown<T: Display>(value: Option<&T>) -> String {
    value.map_or_else(|| "nothing".into(), ToString::to_string)
}
