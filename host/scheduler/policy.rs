//! What a finished run does to its registration: the interval, the backoff
//! after failures, and disabling after too many. Pure, so it is tested
//! without a clock or a database, and applied by the store inside the run's
//! commit transaction.

use crate::sandbox::RunOutcome;
use crate::store::{EpochMillis, RegistrationState, STATUS_SUCCESS};
use std::time::Duration;

/// The reference service's schedule, persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Time from one run's end to the next run (`--interval`, default 60 s).
    pub interval: Duration,
    /// Consecutive failures that disable a piece (`--max-failures`, default 3).
    pub max_failures: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            max_failures: 3,
        }
    }
}

impl RetryPolicy {
    fn interval_ms(&self) -> i64 {
        i64::try_from(self.interval.as_millis()).unwrap_or(i64::MAX)
    }

    /// The delay after `failures` consecutive failures: interval × (n + 1).
    pub fn delay_after(&self, failures: u32) -> i64 {
        self.interval_ms().saturating_mul(i64::from(failures) + 1)
    }
}

/// The state after a run that finished at `now`.
///
/// - success: `Success`, failures reset, next run one interval after `now`;
/// - failure n < max: status is the error text, next run interval × (n + 1)
///   after `now`;
/// - failure n ≥ max: disabled at `now` with `Disabled: <error>`.
///
/// A registration that was already disabled (by a user while the run was in
/// flight, or a manual run of a disabled piece) stays disabled with its
/// status; only the run's figures are recorded. The phase is left to the
/// commit, which knows whether this run's claim owns the registration.
pub fn after_run(
    state: &RegistrationState,
    outcome: &RunOutcome,
    now: EpochMillis,
    policy: &RetryPolicy,
) -> RegistrationState {
    let was_disabled = !state.is_enabled();
    let mut next = state.clone();
    next.last_run = now;
    next.total_runs = next.total_runs.saturating_add(1);
    next.last_duration_ms = Some(outcome.duration_ms);
    next.last_fuel = Some(outcome.fuel_used);

    if outcome.ok {
        next.consecutive_failures = 0;
        next.last_success = now;
        next.next_run = now.saturating_add(policy.delay_after(0));
        if !was_disabled {
            next.status = STATUS_SUCCESS.to_owned();
        }
        return next;
    }

    let (kind, message) = match &outcome.error {
        Some(error) => (error.kind.as_str(), error.message.as_str()),
        None => ("internal", "the run failed without reporting an error"),
    };
    let failures = next.consecutive_failures.saturating_add(1);
    next.consecutive_failures = failures;
    next.total_failures = next.total_failures.saturating_add(1);
    next.last_error = Some(format!("{kind}: {message}"));
    next.next_run = now.saturating_add(policy.delay_after(failures));
    if was_disabled {
        return next;
    }
    if failures >= policy.max_failures {
        next.disabled_at = now;
        next.status = format!("Disabled: {message}");
    } else {
        next.status = message.to_owned();
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{ErrorKind, RunError};

    fn outcome(ok: bool) -> RunOutcome {
        RunOutcome {
            ok,
            value: None,
            error: (!ok).then(|| RunError {
                kind: ErrorKind::JsError,
                message: "piece p threw: boom".into(),
                stack: None,
            }),
            duration_ms: 12,
            fuel_used: 345,
            memory_peak_bytes: 0,
            logs: vec![],
            cell_writes: vec![],
            fetches: vec![],
        }
    }

    const POLICY: RetryPolicy = RetryPolicy {
        interval: Duration::from_secs(60),
        max_failures: 3,
    };

    #[test]
    fn success_schedules_one_interval_after_the_finish() {
        let state = RegistrationState::initializing(0);
        let next = after_run(&state, &outcome(true), 1_000, &POLICY);
        assert_eq!(next.status, "Success");
        assert_eq!(
            (next.next_run, next.last_run, next.last_success),
            (61_000, 1_000, 1_000)
        );
        assert_eq!(
            (next.total_runs, next.last_duration_ms, next.last_fuel),
            (1, Some(12), Some(345))
        );
    }

    #[test]
    fn failures_back_off_then_disable() {
        let mut state = RegistrationState::initializing(0);
        state = after_run(&state, &outcome(false), 0, &POLICY);
        assert_eq!((state.consecutive_failures, state.next_run), (1, 120_000));
        assert_eq!(state.status, "piece p threw: boom");
        assert_eq!(
            state.last_error.as_deref(),
            Some("js_error: piece p threw: boom")
        );
        state = after_run(&state, &outcome(false), 0, &POLICY);
        assert_eq!(
            (
                state.consecutive_failures,
                state.next_run,
                state.disabled_at
            ),
            (2, 180_000, 0)
        );
        state = after_run(&state, &outcome(false), 5, &POLICY);
        assert_eq!((state.consecutive_failures, state.disabled_at), (3, 5));
        assert_eq!(state.status, "Disabled: piece p threw: boom");
        assert_eq!(state.total_failures, 3);
    }

    #[test]
    fn success_resets_failures_but_keeps_the_last_error() {
        let failed = after_run(
            &RegistrationState::initializing(0),
            &outcome(false),
            0,
            &POLICY,
        );
        let next = after_run(&failed, &outcome(true), 10, &POLICY);
        assert_eq!(next.consecutive_failures, 0);
        assert!(next.last_error.is_some());
    }

    #[test]
    fn a_disabled_registration_stays_disabled() {
        let disabled = RegistrationState::initializing(0).disabled_via_ui(3);
        let after_ok = after_run(&disabled, &outcome(true), 10, &POLICY);
        assert_eq!(
            (after_ok.disabled_at, after_ok.status.as_str()),
            (3, "Disabled via UI")
        );
        let after_err = after_run(&disabled, &outcome(false), 10, &POLICY);
        assert_eq!(
            (after_err.disabled_at, after_err.status.as_str()),
            (3, "Disabled via UI")
        );
    }
}
