//! Turns what JavaScript threw into a `RunError` whose kind and message say
//! what happened and which piece did it.

use crate::exports::bgwasm::sandbox::runner::{ErrorKind, RunError};
use crate::prelude::{Entries, PRELUDE_FILENAME};
use javy::quickjs::{Ctx, Object, Value};

/// A thrown value, described by the prelude's `errorReport`.
pub struct Thrown {
    pub name: String,
    pub message: String,
    pub stack: Option<String>,
}

impl Thrown {
    /// Describes `value` with the prelude's `errorReport`, which copes with any
    /// thrown value, `Error` or not.
    pub fn describe<'js>(ctx: &Ctx<'js>, entries: &Entries<'_, 'js>, value: Value<'js>) -> Self {
        let described = entries.error_report().call::<_, Object>((value,));
        match described {
            Ok(report) => Self::from_report(&report),
            Err(_) => {
                // The report itself threw (out of memory, most likely).
                let _ = ctx.catch();
                Self {
                    name: "InternalError".into(),
                    message: "out of memory".into(),
                    stack: None,
                }
            }
        }
    }

    /// Reads an object of the shape `{name, message, stack}`.
    pub fn from_report(report: &Object<'_>) -> Self {
        Self {
            name: report.get::<_, String>("name").unwrap_or_default(),
            message: report.get::<_, String>("message").unwrap_or_default(),
            stack: report
                .get::<_, Option<String>>("stack")
                .ok()
                .flatten()
                .map(|stack| {
                    stack
                        .lines()
                        .filter(|line| !line.contains(PRELUDE_FILENAME))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .filter(|s| !s.trim().is_empty()),
        }
    }

    /// The kind this throw amounts to: the engine's own stack and memory
    /// errors are limits, not bugs in the piece.
    fn kind(&self, default: ErrorKind) -> ErrorKind {
        let message = self.message.to_ascii_lowercase();
        if message.contains("stack overflow") || message.contains("call stack size exceeded") {
            ErrorKind::StackOverflow
        } else if message == "out of memory" {
            ErrorKind::MemoryLimit
        } else {
            default
        }
    }

    fn headline(&self) -> String {
        if self.name.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.name, self.message)
        }
    }

    /// The error for this throw, `context` saying where it happened.
    pub fn into_error(self, piece_id: &str, context: &str, default: ErrorKind) -> RunError {
        let kind = self.kind(default);
        let message = match kind {
            ErrorKind::StackOverflow => format!(
                "piece \"{piece_id}\" {context}: {} (unbounded recursion?)",
                self.headline()
            ),
            ErrorKind::MemoryLimit => format!(
                "piece \"{piece_id}\" {context}: the JavaScript engine ran out of memory; raise --memory-mib or keep less in memory"
            ),
            _ => format!("piece \"{piece_id}\" {context}: {}", self.headline()),
        };
        RunError {
            kind,
            message,
            stack: self.stack,
        }
    }
}

/// An error the guest raises itself, with no JavaScript value behind it.
pub fn error(kind: ErrorKind, message: String) -> RunError {
    RunError {
        kind,
        message,
        stack: None,
    }
}
