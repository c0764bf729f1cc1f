//! `bgwasm status`: the registrations as a table a person can read.

use crate::store::EpochMillis;
use serde::Deserialize;
use std::io::Write;

/// One registration as `GET /api/integrations/bg` lists it: the fields the
/// table shows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRow {
    pub space: String,
    pub piece_id: String,
    pub integration: String,
    pub total_runs: u64,
    pub consecutive_failures: u32,
    pub last_run: EpochMillis,
    pub next_run: EpochMillis,
    pub disabled_at: EpochMillis,
    pub status: String,
    /// The node running it (a daemon sharing a PostgreSQL store with
    /// others); absent from an embedded store's, or an older daemon's, rows.
    #[serde(default)]
    pub claimed_by: Option<String>,
}

/// Writes `rows` as a table; times are shown relative to `now_ms`.
pub fn write_status_table(
    out: &mut dyn Write,
    rows: &[StatusRow],
    now_ms: EpochMillis,
) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(
            out,
            "no registrations; add one with `bgwasm piece add FILE --space S --register`"
        );
    }
    let short = |did: &str| {
        let chars: Vec<char> = did.chars().collect();
        if chars.len() > 20 {
            let head: String = chars[..14].iter().collect();
            let tail: String = chars[chars.len() - 4..].iter().collect();
            format!("{head}…{tail}")
        } else {
            did.to_owned()
        }
    };
    let when = |ms: EpochMillis| -> String {
        if ms <= 0 {
            return "-".into();
        }
        let delta = (ms - now_ms) / 1000;
        if delta >= 0 {
            format!("in {delta}s")
        } else {
            format!("{}s ago", -delta)
        }
    };
    // Which node runs each dispatched piece, when several share the store.
    let nodes = rows.iter().any(|row| row.claimed_by.is_some());
    let node_width = rows
        .iter()
        .filter_map(|row| row.claimed_by.as_deref())
        .map(str::len)
        .max()
        .unwrap_or(0)
        .max("NODE".len());
    let node = |name: Option<&str>| {
        if nodes {
            format!("{:<node_width$}  ", name.unwrap_or("-"))
        } else {
            String::new()
        }
    };
    writeln!(
        out,
        "{:<20} {:<18} {:<12} {:>5} {:>5} {:>10} {:>10}  {}STATUS",
        "SPACE",
        "PIECE",
        "INTEGRATION",
        "RUNS",
        "FAILS",
        "LAST RUN",
        "NEXT RUN",
        node(Some("NODE")),
    )?;
    for row in rows {
        let disabled = row.disabled_at > 0;
        writeln!(
            out,
            "{:<20} {:<18} {:<12} {:>5} {:>5} {:>10} {:>10}  {}{}",
            short(&row.space),
            row.piece_id,
            row.integration,
            row.total_runs,
            row.consecutive_failures,
            when(row.last_run),
            if disabled {
                "-".into()
            } else {
                when(row.next_run)
            },
            node(row.claimed_by.as_deref()),
            row.status,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_daemons_rows_and_shows_them_relative_to_now() {
        let listed = serde_json::json!([{
            "space": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
            "pieceId": "feed",
            "integration": "rss",
            "createdAt": 1, "updatedAt": 1, "phase": "scheduled",
            "totalRuns": 3, "consecutiveFailures": 1,
            "lastRun": 95_000, "nextRun": 160_000, "disabledAt": 0,
            "status": "Success",
        }]);
        let rows: Vec<StatusRow> = serde_json::from_value(listed).unwrap();
        let mut out = Vec::new();
        write_status_table(&mut out, &rows, 100_000).unwrap();
        let text = String::from_utf8(out).unwrap();
        let line = text.lines().nth(1).unwrap();
        assert!(line.starts_with("did:key:z6Mkha…2doK "), "{line}");
        for shown in [
            " feed ", " rss ", " 3 ", " 1 ", "5s ago", "in 60s", "Success",
        ] {
            assert!(line.contains(shown), "{shown:?} in {line}");
        }
        assert!(
            !text.contains("NODE"),
            "no node column without nodes: {text}"
        );
        let mut out = Vec::new();
        write_status_table(&mut out, &[], 0).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("no registrations"));
    }

    #[test]
    fn shows_the_node_running_each_dispatched_piece() {
        let listed = serde_json::json!([
            {
                "space": "s", "pieceId": "busy", "integration": "rss", "phase": "dispatched",
                "totalRuns": 0, "consecutiveFailures": 0, "lastRun": 0, "nextRun": 100_000,
                "disabledAt": 0, "status": "Initializing", "claimedBy": "worker-2",
            },
            {
                "space": "s", "pieceId": "idle", "integration": "rss", "phase": "scheduled",
                "totalRuns": 0, "consecutiveFailures": 0, "lastRun": 0, "nextRun": 100_000,
                "disabledAt": 0, "status": "Initializing", "claimedBy": null,
            },
        ]);
        let rows: Vec<StatusRow> = serde_json::from_value(listed).unwrap();
        let mut out = Vec::new();
        write_status_table(&mut out, &rows, 100_000).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains(" NODE "), "{text}");
        assert!(lines[1].contains(" worker-2  Initializing"), "{text}");
        assert!(lines[2].contains(" -         Initializing"), "{text}");
    }

    #[test]
    fn a_row_missing_a_field_is_refused_not_zeroed() {
        let partial = serde_json::json!([{ "space": "s", "pieceId": "p" }]);
        assert!(serde_json::from_value::<Vec<StatusRow>>(partial).is_err());
    }
}
