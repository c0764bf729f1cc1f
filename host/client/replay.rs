//! `bgwasm replay`: fetches a run's record from the daemon and runs it again
//! here, in a local sandbox, with no network: the recorded responses, cells,
//! clocks and seed. Reports the same outcome, or where the replay diverged.

use super::http::decode;
use super::{ClientConfig, ClientError, Target, piece_id};
use crate::sandbox::{
    EngineOptions, Lang, Limits, Piece, ReplayRecord, ReplayReport, RunOutcome, SandboxEngine,
    SpaceSandbox,
};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// `GET .../runs/{runId}/record`, as the client reads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordAnswer {
    run: RunAnswer,
    record: Option<ReplayRecord>,
    record_bytes: u64,
    piece: Option<CurrentSource>,
}

#[derive(Debug, Deserialize)]
struct RunAnswer {
    id: i64,
    outcome: RunOutcome,
}

#[derive(Debug, Deserialize)]
struct CurrentSource {
    lang: Lang,
    source: String,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReplayJson<'a> {
    run_id: i64,
    record_bytes: u64,
    truncated: Option<&'a str>,
    same: bool,
    divergence: Option<&'a str>,
    differences: &'a [String],
    recorded: &'a RunOutcome,
    replayed: &'a RunOutcome,
}

/// `bgwasm replay SPACE PIECE RUN_ID [--source FILE] [--json]`. Returns
/// whether the replay came to the run's outcome.
pub async fn replay(
    args: &ClientConfig,
    space: &str,
    piece_id_text: &str,
    run_id: &str,
    source_file: Option<&Path>,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<bool, ClientError> {
    let space = args.space(space)?;
    let id = piece_id(piece_id_text)?;
    let run_id: u64 = run_id.parse().map_err(|_| {
        ClientError::Usage(format!(
            "run id {run_id:?} is not a run id: use a number from `bgwasm runs {piece_id_text}`"
        ))
    })?;
    let fixed = source_file
        .map(|path| {
            std::fs::read_to_string(path)
                .map(|text| (path, text))
                .map_err(|source| ClientError::ReadFile {
                    path: path.to_owned(),
                    source,
                })
        })
        .transpose()?;
    let client = args.client(Some(&space))?;
    let did = space.did().to_string();
    let run = run_id.to_string();
    let segments = [
        "api",
        "spaces",
        &did,
        "pieces",
        id.as_str(),
        "runs",
        &run,
        "record",
    ];
    let answer = client
        .call(Method::GET, Target::path(&segments), Vec::new())
        .await?;
    let answer: RecordAnswer = decode(&answer, "fetching a run's record")?;
    let Some(record) = answer.record else {
        return Err(ClientError::Usage(format!(
            "run {run_id} of piece {id} has no record to replay: the daemon ran it with --record-bytes 0"
        )));
    };
    let truncated = record.truncated.clone();
    let piece = match (&fixed, answer.piece) {
        (Some((path, text)), current) => {
            let lang = Lang::from_file_name(&path.to_string_lossy())
                .or(current.map(|c| c.lang))
                .unwrap_or_default();
            Piece::new(id.to_string(), text.as_str()).with_lang(lang)
        }
        (None, Some(current)) => Piece::new(id.to_string(), current.source).with_lang(current.lang),
        (None, None) => {
            return Err(ClientError::Usage(format!(
                "piece {id} no longer exists on the daemon; pass --source FILE to replay run {run_id} against a source"
            )));
        }
    };
    let engine = SandboxEngine::new(EngineOptions::default())
        .await
        .map_err(|e| ClientError::Unexpected(format!("cannot start a local sandbox: {e}")))?;
    // Records are replayed, never recorded again.
    let mut sandbox = SpaceSandbox::new(engine, did, Limits::default()).with_record_bytes(0);
    let report = sandbox
        .replay(&piece, record, &answer.run.outcome, fixed.is_some())
        .await;
    if json_out {
        let json = ReplayJson {
            run_id: answer.run.id,
            record_bytes: answer.record_bytes,
            truncated: truncated.as_deref(),
            same: report.same,
            divergence: report.divergence.as_deref(),
            differences: &report.differences,
            recorded: &answer.run.outcome,
            replayed: &report.outcome,
        };
        let text =
            serde_json::to_string(&json).map_err(|e| ClientError::Unexpected(e.to_string()))?;
        writeln!(out, "{text}")?;
    } else {
        write_report(
            out,
            &id,
            answer.run.id,
            answer.record_bytes,
            truncated.as_deref(),
            fixed.map(|(p, _)| p),
            &report,
        )?;
    }
    Ok(report.same)
}

fn write_report(
    out: &mut dyn Write,
    id: &crate::store::PieceId,
    run_id: i64,
    record_bytes: u64,
    truncated: Option<&str>,
    source: Option<&Path>,
    report: &ReplayReport,
) -> std::io::Result<()> {
    let size = format!("{:.1} KiB", record_bytes as f64 / 1024.0);
    match truncated {
        None => writeln!(
            out,
            "replayed run {run_id} of piece {id} from its record ({size}, complete)"
        )?,
        Some(why) => writeln!(
            out,
            "replayed run {run_id} of piece {id} from its record ({size}, TRUNCATED: {why})"
        )?,
    }
    if let Some(path) = source {
        writeln!(out, "against the source in {}", path.display())?;
    }
    if report.same {
        writeln!(out, "same outcome as the run")?;
    } else {
        if let Some(divergence) = &report.divergence {
            writeln!(out, "DIVERGED: {divergence}")?;
        }
        for difference in &report.differences {
            writeln!(out, "differs:  {difference}")?;
        }
    }
    report.outcome.write_summary(out, id.as_str())
}
