//! `bgwasm runs`: a piece's run history, read from the daemon and shown as a
//! table a person can read (or as JSON).

use super::answers::{PastRun, RunHistory};
use super::http::{ApiClient, Target, decode};
use super::{ClientConfig, ClientError, piece_id};
use crate::identity::Did;
use crate::store::{EpochMillis, PieceId};
use reqwest::Method;
use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

/// The longest error message a table row shows; `--json` has all of it.
const MESSAGE_CHARS: usize = 100;

impl ApiClient {
    /// A piece's newest `limit` runs, newest first
    /// (`GET /api/spaces/{space}/pieces/{id}/runs`).
    pub async fn runs(
        &self,
        space: &Did,
        piece: &PieceId,
        limit: u64,
    ) -> Result<RunHistory, ClientError> {
        let space = space.to_string();
        let limit = limit.to_string();
        let segments = ["api", "spaces", &space, "pieces", piece.as_str(), "runs"];
        let query = [("limit", limit.as_str())];
        let target = Target::path(&segments).with_query(&query);
        let answer = self.call(Method::GET, target, Vec::new()).await?;
        decode(&answer, &format!("listing the runs of piece {piece}"))
    }
}

/// `bgwasm runs SPACE PIECE`: prints the piece's newest `limit` runs.
pub async fn runs(
    args: &ClientConfig,
    space: &str,
    piece_id_text: &str,
    limit: u64,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let space = args.space(space)?;
    let id = piece_id(piece_id_text)?;
    let client = args.client(Some(&space))?;
    let history = client.runs(&space.did(), &id, limit).await?;
    if json_out {
        let text = serde_json::to_string(&history)
            .map_err(|e| ClientError::Unexpected(format!("cannot print the runs as JSON: {e}")))?;
        writeln!(out, "{text}")?;
        return Ok(());
    }
    if history.runs.is_empty() {
        writeln!(
            out,
            "piece {id} has not run yet; run it now with `bgwasm run {} {id}`",
            space.did()
        )?;
        return Ok(());
    }
    write_runs_table(out, &history.runs)?;
    Ok(())
}

/// Writes runs as a table: id, trigger, start (UTC), duration, and `ok` or
/// the error's kind and message.
pub fn write_runs_table(out: &mut dyn Write, runs: &[PastRun]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>8}  {:<9}  {:<20}  {:>9}  RESULT",
        "RUN", "TRIGGER", "STARTED (UTC)", "DURATION"
    )?;
    for run in runs {
        let result = match &run.outcome.error {
            None => "ok".to_owned(),
            Some(error) => format!("{}: {}", error.kind, first_line(&error.message)),
        };
        writeln!(
            out,
            "{:>8}  {:<9}  {:<20}  {:>6} ms  {result}",
            run.id,
            run.trigger.as_str(),
            utc(run.started_at),
            run.outcome.duration_ms,
        )?;
    }
    Ok(())
}

/// `2026-11-25T11:50:02Z`.
fn utc(ms: EpochMillis) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A message's first line, cut to [`MESSAGE_CHARS`].
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    if line.chars().count() <= MESSAGE_CHARS {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(MESSAGE_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_each_run_on_a_line() {
        let history: RunHistory = serde_json::from_value(serde_json::json!({ "runs": [
            {
                "id": 12, "space": "did:key:z6Mk", "pieceId": "feed", "trigger": "manual",
                "startedAt": 1_764_071_402_000_i64, "finishedAt": 1_764_071_402_012_i64,
                "outcome": {
                    "ok": false, "value": null, "duration_ms": 12, "fuel_used": 1,
                    "memory_peak_bytes": 0, "logs": [], "cell_writes": [], "fetches": [],
                    "error": { "kind": "js_error", "message": "boom\n    at bgUpdater" }
                }
            },
            {
                "id": 11, "space": "did:key:z6Mk", "pieceId": "feed", "trigger": "scheduled",
                "startedAt": 1_764_071_342_000_i64, "finishedAt": 1_764_071_342_003_i64,
                "outcome": {
                    "ok": true, "value": 1, "error": null, "duration_ms": 3, "fuel_used": 1,
                    "memory_peak_bytes": 0, "logs": [], "cell_writes": [], "fetches": []
                }
            }
        ]}))
        .unwrap();
        let mut out = Vec::new();
        write_runs_table(&mut out, &history.runs).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].contains("RUN") && lines[0].contains("RESULT"),
            "{text}"
        );
        for shown in [
            "12",
            "manual",
            "2025-11-25T11:50:02Z",
            "12 ms",
            "js_error: boom",
        ] {
            assert!(lines[1].contains(shown), "{shown:?} in {text}");
        }
        assert!(
            !lines[1].contains("bgUpdater"),
            "only the first line: {text}"
        );
        assert!(
            lines[2].contains("scheduled") && lines[2].ends_with("  ok"),
            "{text}"
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(300);
        let cut = first_line(&long);
        assert_eq!(cut.chars().count(), MESSAGE_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(first_line("short"), "short");
    }
}
