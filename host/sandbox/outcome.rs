//! What a run reports: the structured outcome every way in (run-once, the
//! daemon, the tests) shows and stores.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;

/// Why a run failed. Serialised in snake_case (`js_error`, `fuel_exhausted`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The piece threw or rejected, or work it started failed unhandled.
    JsError,
    /// The piece's source does not parse.
    SyntaxError,
    /// The piece has no `bgUpdater` function.
    NoHandler,
    /// The handler's promise can no longer settle.
    Unsettled,
    /// The run used up its fuel (CPU budget).
    FuelExhausted,
    /// The sandbox reached its memory limit.
    MemoryLimit,
    /// Recursion went past the stack limit.
    StackOverflow,
    /// The run went past its wall-clock limit.
    Timeout,
    /// The handler resolved to something that is not JSON.
    InvalidResult,
    /// The sandbox failed in a way none of the above covers (a bug in bgwasm).
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 10] = [
        Self::JsError,
        Self::SyntaxError,
        Self::NoHandler,
        Self::Unsettled,
        Self::FuelExhausted,
        Self::MemoryLimit,
        Self::StackOverflow,
        Self::Timeout,
        Self::InvalidResult,
        Self::Internal,
    ];

    /// The snake_case name, as in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::JsError => "js_error",
            Self::SyntaxError => "syntax_error",
            Self::NoHandler => "no_handler",
            Self::Unsettled => "unsettled",
            Self::FuelExhausted => "fuel_exhausted",
            Self::MemoryLimit => "memory_limit",
            Self::StackOverflow => "stack_overflow",
            Self::Timeout => "timeout",
            Self::InvalidResult => "invalid_result",
            Self::Internal => "internal",
        }
    }

    /// Whether this failure leaves the instance unusable, so the next run of
    /// the space must get a fresh one.
    pub fn kills_instance(self) -> bool {
        matches!(
            self,
            Self::FuelExhausted
                | Self::MemoryLimit
                | Self::StackOverflow
                | Self::Timeout
                | Self::Internal
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed run's error. The message always names the piece.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
}

/// The level of a console line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// One console line of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

/// One fetch of a run. `status` is absent when the request failed or was
/// denied; `error` then says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRecord {
    pub method: String,
    pub url: String,
    pub status: Option<u16>,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything a run reports. The default is a failed run that did nothing,
/// before its error is filled in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub ok: bool,
    /// The handler's resolved value, when it succeeded and resolved to one.
    pub value: Option<serde_json::Value>,
    pub error: Option<RunError>,
    pub duration_ms: u64,
    pub fuel_used: u64,
    pub memory_peak_bytes: u64,
    pub logs: Vec<LogLine>,
    /// The keys the run wrote or deleted, in the order first touched.
    pub cell_writes: Vec<String>,
    pub fetches: Vec<FetchRecord>,
}

impl RunOutcome {
    /// The outcome of a run that failed before the sandbox could account for
    /// anything.
    pub fn failure(kind: ErrorKind, message: String) -> Self {
        Self {
            error: Some(RunError {
                kind,
                message,
                stack: None,
            }),
            ..Self::default()
        }
    }

    /// The error's kind, when the run failed.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        self.error.as_ref().map(|e| e.kind)
    }

    /// Writes the readable summary: what a piece author wants to see after
    /// a run of `piece_id`.
    pub fn write_summary(&self, out: &mut dyn Write, piece_id: &str) -> std::io::Result<()> {
        match &self.error {
            None => writeln!(out, "ok: piece \"{piece_id}\" succeeded")?,
            Some(error) => writeln!(out, "FAILED ({}): {}", error.kind, error.message)?,
        }
        if let Some(stack) = self.error.as_ref().and_then(|e| e.stack.as_deref()) {
            for line in stack.lines().filter(|l| !l.trim().is_empty()) {
                writeln!(out, "    {}", line.trim_end())?;
            }
        }
        if let Some(value) = &self.value {
            writeln!(out, "value:    {value}")?;
        }
        writeln!(out, "duration: {} ms", self.duration_ms)?;
        writeln!(out, "fuel:     {} units", self.fuel_used)?;
        writeln!(
            out,
            "memory:   {:.1} MiB peak",
            self.memory_peak_bytes as f64 / (1 << 20) as f64
        )?;
        for fetch in &self.fetches {
            let result = match (fetch.status, &fetch.error) {
                (Some(status), _) => status.to_string(),
                (None, Some(error)) => format!("failed: {error}"),
                (None, None) => "not finished".into(),
            };
            writeln!(
                out,
                "fetch:    {} {} -> {} ({} ms)",
                fetch.method, fetch.url, result, fetch.duration_ms
            )?;
        }
        for line in &self.logs {
            writeln!(out, "log:      [{}] {}", line.level.as_str(), line.message)?;
        }
        for key in &self.cell_writes {
            writeln!(out, "cell:     {key}")?;
        }
        Ok(())
    }
}
